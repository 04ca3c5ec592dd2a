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
