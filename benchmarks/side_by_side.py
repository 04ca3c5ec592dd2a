"""xcal and pyFAI's calibration side by side, on an idle machine and with one core kept busy.

For each synthetic case, the same image is calibrated

- by xcal as a user drives it (one click on a ring, ``pick`` then ``calibrate`` from a start
  distance 10 % off; see ``benchmarks/calibration.py``), idle and then with one core busy;
- by pyFAI's own pipeline, what calib2 runs after its rings are picked: ``SingleGeometry`` with
  Massif control points on every ring (``extract_cp``), then ``refine2`` with rot3 and the
  wavelength fixed. pyFAI is given a start much better than xcal's (the true geometry with the
  distance 2 % off and the beam 3 px off), so its time is a lower bound of what calib2 needs.

The busy core is a CPU-bound process this script starts and stops itself. Times are the median of
``--repeat`` runs after one untimed warm-up; images are made once per case.

    .venv/bin/python benchmarks/side_by_side.py [--case NAME ...] [--repeat 3]

The table goes to stdout, the numbers to ``benchmarks/results/side_by_side.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(REPO))

from benchmarks.calibration import centre_error, run_synthetic  # noqa: E402
from benchmarks.synthetic_cases import CASES, QUICK, SyntheticCase, make  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "side_by_side.json"


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """One core kept busy by a CPU-bound process for the duration of the block."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.2)  # let it take its core
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def median_time(run: Callable[[], float], repeat: int) -> float:
    run()  # warm-up: first-call setup is not a calibration's cost
    return statistics.median(run() for _ in range(repeat))


def pyfai_pipeline(case: SyntheticCase, image: np.ndarray, truth) -> tuple[float, float]:
    """pyFAI's control-point extraction and refinement from a good start: (seconds, centre error px)."""
    from pyFAI.calibrant import get_calibrant
    from pyFAI.geometry import Geometry
    from pyFAI.goniometer import SingleGeometry

    pixel = truth.detector.pixel1
    start = Geometry(dist=truth.dist * 1.02, poni1=truth.poni1 + 3 * pixel, poni2=truth.poni2 - 3 * pixel,
                     rot1=0.0, rot2=0.0, rot3=0.0, detector=truth.detector, wavelength=truth.wavelength)
    calibrant = get_calibrant(case.calibrant)
    calibrant.wavelength = truth.wavelength
    np.random.seed(0)  # Massif samples with numpy's global state
    t0 = time.perf_counter()
    single = SingleGeometry(case.name, image=image, calibrant=calibrant, detector=truth.detector, geometry=start)
    single.extract_cp(max_rings=case.max_rings, pts_per_deg=1.0)
    refinement = single.geometry_refinement
    refinement.refine2(fix=["rot3", "wavelength"])
    seconds = time.perf_counter() - t0
    return seconds, centre_error(refinement, truth, image.shape)


def measure(case: SyntheticCase, repeat: int) -> dict:
    made = make(case)
    image, truth, _ = made

    def xcal_once() -> float:
        run, _ = run_synthetic(case, made=made)
        if run.error is not None:
            raise RuntimeError(f"{case.name}: xcal failed: {run.error}")
        return run.seconds

    run, _ = run_synthetic(case, made=made)
    xcal_err = centre_error(run.result.geometry, truth, image.shape) if run.result is not None else float("nan")
    xcal_idle = median_time(xcal_once, repeat)
    with busy_core():
        xcal_busy = median_time(xcal_once, repeat)
    pyfai_times, pyfai_err = [], float("nan")
    for _ in range(max(1, repeat)):
        try:
            seconds, pyfai_err = pyfai_pipeline(case, image, truth)
        except Exception as exc:  # noqa: BLE001 - a benchmark reports failures
            print(f"  {case.name}: pyFAI failed ({type(exc).__name__}: {exc})", file=sys.stderr)
            seconds = float("nan")
        pyfai_times.append(seconds)
    pyfai_idle = statistics.median(pyfai_times)
    return {"case": case.name, "mpx": round(case.mpx, 2), "xcal_idle_s": xcal_idle, "xcal_busy_s": xcal_busy,
            "pyfai_idle_s": pyfai_idle, "speedup_idle": pyfai_idle / xcal_idle, "xcal_centre_err_px": xcal_err,
            "pyfai_centre_err_px": pyfai_err}


def format_table(rows: list[dict]) -> str:
    head = ("case", "Mpx", "xcal idle s", "xcal 1 core busy s", "pyFAI idle s", "pyFAI/xcal", "xcal centre px",
            "pyFAI centre px")
    lines = [head] + [(r["case"], f"{r['mpx']:.2f}", f"{r['xcal_idle_s']:.2f}", f"{r['xcal_busy_s']:.2f}",
                       f"{r['pyfai_idle_s']:.2f}", f"{r['speedup_idle']:.1f}x", f"{r['xcal_centre_err_px']:.4f}",
                       f"{r['pyfai_centre_err_px']:.4f}") for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
           for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", default=[], help="run only this case (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (median)")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    args = parser.parse_args(argv)
    names = args.case or QUICK
    cases = [c for c in CASES if c.name in names]
    rows = []
    for case in cases:
        rows.append(measure(case, args.repeat))
        print(f"  {case.name}: xcal {rows[-1]['xcal_idle_s']:.2f} s idle, {rows[-1]['xcal_busy_s']:.2f} s busy; "
              f"pyFAI {rows[-1]['pyfai_idle_s']:.2f} s", file=sys.stderr)
    print(format_table(rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows}, indent=2, default=float))
    print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
