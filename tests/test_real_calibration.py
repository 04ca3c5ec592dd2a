"""One click → refined geometry on real beamline images, against each image's reference .poni.

The click is placed on a ring computed from the reference geometry (the first ring that crosses
enough valid pixels and stands out from its surroundings), a pixel or two off, and the session
calibrates from the reference wavelength and a start distance 10 % off. The beam centre is
compared in array pixels (``beam_centre`` handles the detector orientation) and must agree within
the case's ``centre_tol_px``; the distance within ``dist_tol_pct``.
"""

from __future__ import annotations

import pytest

from benchmarks.calibration import real_outcome, run_real
from benchmarks.real_cases import REAL_CASES

KNOWN_FAILURES: dict[str, str] = {}  # case name -> reason, for an xfail(strict=True) until the lead fixes it

CASES = [pytest.param(case, id=case.name,
                      marks=[pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[case.name])] if case.name in KNOWN_FAILURES else [])
         for case in REAL_CASES]


@pytest.mark.parametrize("case", CASES)
def test_real_image_matches_reference(case, real_data):
    run, reference = run_real(case, real_data)
    out = real_outcome(case, run, reference)
    assert out.error is None, f"{case.name}: {out.error}"
    summary = (f"{case.name}: centre {out.centre_err_px:.3f} px (tol {case.centre_tol_px}), distance {out.dist_err_pct:.4f} % "
               f"(tol {case.dist_tol_pct}), RMS {out.rms_deg:.4f}°, {out.points} points on {out.rings} rings, "
               f"clicked ring {out.ring} ({out.picked} points); warnings: {out.warnings}")
    assert out.centre_err_px <= case.centre_tol_px, summary
    assert out.dist_err_pct <= case.dist_tol_pct, summary
    assert out.rings >= 2, summary


def test_single_arc_strip_agrees_with_its_goniometer_reference(real_data):
    """ssrl72: one partial LaB6 arc on a strip detector on a 2θ arm (tilted 12°).

    One arc cannot determine a whole geometry (the reference comes from a goniometer fit over
    many arm positions), so this checks what it can: with the reference geometry, the peak search
    finds the arc where the reference puts it, and a refinement of the distance alone stays with it.
    """
    import numpy as np

    from xcal.core.calibration.pipeline import RefineOptions
    from xcal.core.calibration.session import CalibrationSession
    from xcal.core.geometry.refinement import ring_tth
    from xcal.peaks.ring_extraction import extract_rings

    session = CalibrationSession()
    session.load_image(real_data / "ssrl72_LaB6_Pilatus300kw_scan2_0009.tif")
    session.set_detector("Pilatus300kw")
    session.set_calibrant("LaB6")
    session.load_poni(real_data / "ssrl72_LaB6_Pilatus300kw_scan2_0009.poni")
    reference = session.geometry
    session.wavelength = reference.wavelength
    points = extract_rings(session.data, session.invalid, reference, session.dspacing)
    assert set(np.unique(points.rings)) == {0} and len(points) >= 100  # LaB6 100, the only line on the strip
    offset = np.degrees(reference.tth(points.rows, points.cols) - ring_tth(session.dspacing, points.rings, reference.wavelength))
    assert abs(np.median(offset)) < 0.01 and np.sqrt(np.mean(offset**2)) < 0.015  # degrees 2θ
    result = session.refine(RefineOptions(fix=("poni1", "poni2", "rot1", "rot2", "rot3", "wavelength")))
    assert abs(result.geometry.dist / reference.dist - 1) < 0.005
    assert result.fit.rms_deg < 0.01
