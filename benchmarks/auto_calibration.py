"""No-click calibration benchmark: the image, calibrant, wavelength and detector, nothing else.

For every synthetic case and every real image with a reference (each shows at least two rings),
``CalibrationSession.auto_calibrate`` runs with no clicks and no start distance. Success means
the geometry the automatic refinement starts from has its beam centre within 1 px of the truth
and every found ring got its right number; the final accuracy is judged with the same targets as
the clicked benchmark (``benchmarks/calibration.py``). Prints a table and writes JSON.

    python benchmarks/auto_calibration.py [--quick] [--case NAME ...] [--no-real]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.calibration import (  # noqa: E402
    CENTRE_TOL_PX,
    DIST_TOL_PCT,
    LIMIT_FACTOR,
    REAL_DATA,
    centre_error,
    photon_limited_tolerances,
    real_session,
    synthetic_session,
)
from benchmarks.real_cases import REAL_CASES  # noqa: E402
from benchmarks.synthetic_cases import CASES, QUICK, make  # noqa: E402
from xcal.core.geometry.refinement import ring_tth

RESULTS = Path(__file__).parent / "results" / "auto_calibration.json"
START_TOL_PX = 1.0
TIME_TARGET_S = 2.0  # per 4 Mpx-class image, reported
QUICK_REAL = ["dioptas_CeO2_Pilatus1M", "aps1idc_CeO2_Pilatus2M"]


@dataclass
class AutoOutcome:
    case: str
    kind: str
    mpx: float
    rings_found: int = 0
    numbers_right: bool | None = None
    start_err_px: float = float("nan")
    centre_err_px: float = float("nan")
    dist_err_pct: float = float("nan")
    seconds: float = float("nan")
    centre_tol_px: float = CENTRE_TOL_PX
    dist_tol_pct: float = DIST_TOL_PCT
    limited: bool = False  # final tolerances widened to the case's photon-statistics limit
    error: str | None = None
    verdict: str = "-"  # what xcal told the user of its own result: good / check / bad
    verdict_reasons: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        # an approximate reference (tolerance above 1 px) cannot judge a start closer than itself
        start_tol = max(START_TOL_PX, self.centre_tol_px if self.kind == "real" else 0.0)
        return self.error is None and bool(self.numbers_right) and self.start_err_px <= start_tol

    @property
    def accurate(self) -> bool:
        return self.success and self.centre_err_px <= self.centre_tol_px and self.dist_err_pct <= self.dist_tol_pct


def numbers_right(auto, dspacing: np.ndarray, truth) -> bool:
    """Each numbered ring's points lie, under the true geometry, nearer its line than any other."""
    lines = ring_tth(dspacing, np.arange(len(dspacing)), truth.wavelength)
    for ring, number in zip(auto.search.rings, auto.indexing.lines):
        if number < 0:
            continue
        tth = np.median(truth.tth(ring.points[:, 0], ring.points[:, 1]))
        if int(np.nanargmin(np.abs(lines - tth))) != number:
            return False
    return True


def run_case(name: str, kind: str, session, truth, mpx: float, tolerances: tuple[float, float] | None = None) -> AutoOutcome:
    out = AutoOutcome(name, kind, mpx)
    if tolerances:
        out.centre_tol_px, out.dist_tol_pct = tolerances
    session.distance = None  # no start values but the wavelength and the detector
    t0 = time.perf_counter()
    try:
        auto = session.auto_calibrate()
    except Exception as exc:  # noqa: BLE001 - a benchmark reports failures
        out.seconds, out.error = time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"
        return out
    out.seconds = time.perf_counter() - t0
    shape = session.data.shape
    out.rings_found = len(auto.search.rings)
    out.numbers_right = numbers_right(auto, session.dspacing, truth)
    out.start_err_px = centre_error(auto.start, truth, shape)
    out.centre_err_px = centre_error(auto.result.geometry, truth, shape)
    out.dist_err_pct = 100.0 * abs(auto.result.geometry.dist - truth.dist) / truth.dist
    out.verdict, out.verdict_reasons = session.trust.level, list(session.trust.reasons)
    return out


def _num(value: float, fmt: str) -> str:
    return "-" if value is None or not np.isfinite(value) else format(value, fmt)


def format_table(outcomes: list[AutoOutcome], markdown: bool = False) -> str:
    header = ("case", "Mpx", "rings", "numbers", "start px", "centre px", "dist %", "s", "no-click", "final", "verdict")
    rows = [header] + [(
        o.case, f"{o.mpx:.1f}", str(o.rings_found), "-" if o.numbers_right is None else ("right" if o.numbers_right else "WRONG"),
        _num(o.start_err_px, ".3f"), _num(o.centre_err_px, ".4f"), _num(o.dist_err_pct, ".4f"), _num(o.seconds, ".2f"),
        "OK" if o.success else "FAIL", ("OK*" if o.limited else "OK") if o.accurate else "FAIL", o.verdict,
    ) for o in outcomes]
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in rows]
        lines.insert(1, "|" + "---|" * len(header))
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--case", action="append", default=[])
    parser.add_argument("--no-real", action="store_true")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    outcomes: list[AutoOutcome] = []
    for case in CASES:
        if (args.quick and case.name not in QUICK) or (args.case and case.name not in args.case):
            continue
        image, truth, _ = make(case)
        outcomes.append(run_case(case.name, "synthetic", synthetic_session(case, image), truth, case.mpx))
        if outcomes[-1].success and not outcomes[-1].accurate:
            photon_limited_tolerances(case, outcomes[-1])
        print(f"  {case.name}: {'OK' if outcomes[-1].accurate else 'FAIL'} {outcomes[-1].error or ''}", flush=True)
    if not args.no_real and REAL_DATA.is_dir():
        for case in REAL_CASES:
            if (args.quick and case.name not in QUICK_REAL) or (args.case and case.name not in args.case):
                continue
            session, reference = real_session(case)
            mpx = session.data.size / 1e6
            outcomes.append(run_case(case.name, "real", session, reference, mpx, (case.centre_tol_px, case.dist_tol_pct)))
            print(f"  {case.name}: {'OK' if outcomes[-1].accurate else 'FAIL'} {outcomes[-1].error or ''}", flush=True)
    print()
    print(format_table(outcomes, args.markdown))
    n = len(outcomes)
    print(f"\nno-click success (start centre ≤ {START_TOL_PX} px, right ring numbers): {sum(o.success for o in outcomes)}/{n}; "
          f"final accuracy within targets: {sum(o.accurate for o in outcomes)}/{n}; "
          f"time target < {TIME_TARGET_S:.0f} s per 4 Mpx image (reported)")
    for o in outcomes:
        if o.limited:
            print(f"  * {o.case} is photon-limited: judged against {LIMIT_FACTOR:.0f}× its Cramér–Rao bound "
                  f"(centre ≤ {o.centre_tol_px:.3f} px, distance ≤ {o.dist_tol_pct:.4f} %)")
    alarms = [o for o in outcomes if o.accurate and o.verdict != "good"]
    print(f"false alarms (accurate, verdict not good): {len(alarms)}")
    for o in alarms:
        print(f"  {o.case}: {o.verdict.upper()}: " + " | ".join(o.verdict_reasons))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([asdict(o) | {"success": o.success, "accurate": o.accurate} for o in outcomes], indent=2))
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
