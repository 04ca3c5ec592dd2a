"""A cake point back to its detector pixel: against pyFAI's own 2θ/χ maps and its integrate2d cake."""

from __future__ import annotations

import numpy as np
import pytest
from pyFAI.detectors import detector_factory

from xcal.core.calibration.cake_pick import detector_pixel, pick_on_cake
from xcal.core.calibration.session import CalibrationSession
from xcal.core.errors import PickError
from xcal.core.geometry.refinement import new_geometry, ring_tth
from xcal.core.integration.integrator import Integrator
from xcal.gui.example import EXAMPLE, example_geometry, make_example


@pytest.mark.parametrize("orientation", [3, 1])  # pyFAI's default and a flipped detector frame
def test_pixel_from_pyfai_two_theta_and_chi(orientation):
    truth = example_geometry()
    detector = detector_factory(EXAMPLE.detector, config={"orientation": orientation})
    geometry = new_geometry(detector, dist=truth.dist, poni1=truth.poni1, poni2=truth.poni2, rot1=truth.rot1,
                            rot2=truth.rot2, rot3=0.3, wavelength=truth.wavelength)
    shape = detector.shape
    rows = np.array([0.0, 10.3, 500.0, 700.7, shape[0] - 1.0])
    cols = np.array([0.0, 900.2, 400.0, 20.5, shape[1] - 1.0])
    tth, chi = np.degrees(geometry.tth(rows, cols)), np.degrees(geometry.chi(rows, cols))
    for row, col, t, c in zip(rows, cols, tth, chi):
        got = detector_pixel(geometry, shape, t, c)
        assert got == pytest.approx((row, col), abs=1e-4)
    # pyFAI's pixel-centre arrays: the same pixels
    centres = np.degrees(geometry.center_array(shape, unit="2th_rad")), np.degrees(geometry.center_array(shape, unit="chi_rad"))
    for row, col in ((123, 456), (1000, 900)):
        assert detector_pixel(geometry, shape, centres[0][row, col], centres[1][row, col]) == pytest.approx((row, col), abs=1e-4)


def test_off_the_detector_is_refused():
    geometry = example_geometry()
    with pytest.raises(PickError, match="off the detector"):
        detector_pixel(geometry, geometry.detector.shape, 60.0, 0.0)


def test_brightest_cake_bin_maps_back_to_the_bright_spot():
    """The cake's χ is the χ ``detector_pixel`` inverts: a spot found on the cake lands on the spot."""
    geometry = example_geometry()
    shape = geometry.detector.shape
    data = np.ones(shape, np.float32)
    spot = (300, 700)  # inside a module, away from the gaps
    data[spot[0] - 2:spot[0] + 3, spot[1] - 2:spot[1] + 3] = 1000.0
    cake = Integrator().cake(data, geometry, None, 1000, 360)
    a, r = np.unravel_index(np.nanargmax(cake.intensity), cake.intensity.shape)
    row, col = detector_pixel(geometry, shape, cake.radial[r], cake.azimuth[a])
    assert abs(row - spot[0]) < 3 and abs(col - spot[1]) < 3


def test_pick_on_cake_traces_the_ring_there(tmp_path):
    truth = example_geometry()
    session = CalibrationSession()
    session.load_image(make_example(tmp_path))
    session.set_detector(EXAMPLE.detector)
    session.set_calibrant(EXAMPLE.calibrant)
    session.set_energy(EXAMPLE.energy_kev)
    line = np.degrees(ring_tth(session.dspacing, np.array([2]), truth.wavelength)[0])
    group = pick_on_cake(session, truth, line, 30.0, ring=2)
    assert group.ring == 2 and len(group.points) > 50
    residual = np.degrees(truth.tth(group.points[:, 0], group.points[:, 1])) - line
    assert np.sqrt(np.mean(residual**2)) < 0.01
