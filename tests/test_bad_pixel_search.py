"""Mask mode's hot-pixel search chooses its reference by the verdict on the geometry.

The example image with one hot pixel planted; the geometries are real: the session's own
calibration (good), the example's true geometry with the distance 20 % off pushed into the
session (not checked), and a calibration whose ring number the user forced back (bad).
"""

from __future__ import annotations

from pathlib import Path

import fabio
import numpy as np
import pytest

from xcal.core.calibration.bad_pixel_search import mask_reference, search_bad_pixels
from xcal.core.calibration.session import CalibrationSession
from xcal.core.geometry.refinement import geometry_values, new_geometry, ring_tth
from xcal.core.masks.hot_pixels import find_bad_pixels
from xcal.gui.example import EXAMPLE, example_geometry, make_example

HOT = (300, 700)  # inside a module, between rings


def planted_example(folder: Path) -> Path:
    """The example image with one hot pixel at ``HOT`` (a Pilatus pixel counting far too much)."""
    path = make_example(folder)
    image = fabio.open(str(path))
    data = image.data.copy()
    data[HOT] = 20_000
    planted = folder / "CeO2_hot_pixel.tif"
    fabio.tifimage.TifImage(data=data).write(str(planted))
    return planted


def distance_off(fraction: float = 0.2):
    truth = example_geometry()
    return new_geometry(truth.detector, **(geometry_values(truth) | {"dist": truth.dist * (1 + fraction)}))


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    return planted_example(tmp_path_factory.mktemp("hot"))


@pytest.fixture
def session(image_file) -> CalibrationSession:
    session = CalibrationSession()
    session.load_image(image_file)
    session.set_detector(EXAMPLE.detector)
    session.set_calibrant(EXAMPLE.calibrant)
    session.set_energy(EXAMPLE.energy_kev)
    return session


def _click_ring(session: CalibrationSession, ring: int, typed: int) -> None:
    """Pick ``ring`` (0-based) of the true geometry, right of the beam, with the number ``typed``."""
    truth = example_geometry()
    target = ring_tth(session.dspacing, np.array([ring]), truth.wavelength)[0]
    row = 560
    cols = np.arange(520, 981, dtype=float)
    col = cols[np.argmin(np.abs(truth.tth(np.full(len(cols), float(row)), cols) - target))]
    session.pick(float(row), float(col), typed)


def test_without_geometry_the_median_filter_finds_the_planted_pixel(session):
    found = search_bad_pixels(session, 8.0)
    assert found.note == "" and found.found.method == "median filter"
    assert found.found.hot[HOT] and found.found.hot.sum() == 1


def test_a_geometry_not_checked_falls_back_to_the_median_filter(session):
    session.add_geometry("edited", distance_off())
    # on that geometry the pixels at one 2θ are no reference: thousands of ring pixels would look hot
    two_theta = session.geometry.center_array(session.data.shape, unit="2th_rad")
    assert find_bad_pixels(session.data, session.invalid, two_theta, 8.0).hot.sum() > 10_000
    found = search_bad_pixels(session, 8.0)
    assert found.found.method == "median filter" and found.found.hot[HOT] and found.found.hot.sum() == 1
    assert "(edited) has not been checked" in found.note and "median filter" in found.note


def test_a_good_calibration_is_used_and_a_bad_one_is_not(session):
    _click_ring(session, 0, 0)
    session.calibrate()
    assert session.verdict.level == "good", session.verdict.text
    geometry, note = mask_reference(session)
    assert geometry is session.geometry and note == ""
    found = search_bad_pixels(session, 8.0)
    assert found.found.method == "azimuthal statistics" and found.note == ""
    assert found.found.hot[HOT] and found.found.hot.sum() < 20

    # the second ring typed as the first, the correction refused: the verdict is bad
    session.picks.clear()
    _click_ring(session, 1, 0)
    session.calibrate()
    session.revert_ring_numbers()
    assert session.verdict.level == "bad"
    found = search_bad_pixels(session, 8.0)
    assert found.found.method == "median filter" and found.found.hot[HOT] and found.found.hot.sum() == 1
    assert found.note.startswith("The calibration was judged bad (") and session.verdict.reasons[0] in found.note
