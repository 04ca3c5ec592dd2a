"""Reading benchmark: how long loading an image and checking a legacy .poni's orientation take.

These were timing assertions in the tests (a test checks what xcal computes, never how fast: a
busy machine failed them); their targets are reported here instead.

* a Pilatus 2M CBF (real, ``dls2021_CeO2_Pilatus2M_100keV_737mm.cbf``; skipped without the real data);
* a 4 Mpx float32 EDF (2048 × 2048, written here);
* ``score_orientation`` on a 1 Mpx Pilatus image (synthetic CeO2 rings): what reading a .poni
  without orientation costs, once per reading (fresh geometry, its 2θ array computed).

Each is the median of ``--repeat`` runs after one untimed warm-up (imports, file cache).

    .venv/bin/python benchmarks/reading.py

The table goes to stdout, the numbers to ``benchmarks/results/reading.json``; the exit code is 0
whatever the numbers (reports, not gates).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import fabio
import numpy as np
from pyFAI.calibrant import get_calibrant
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry

from xcal.core.calibration.synthetic import ring_image
from xcal.core.io.images import load_image
from xcal.core.io.poni import score_orientation

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("XCAL_REAL_DATA", REPO.parent / "shared" / "data" / "real"))
RESULTS = REPO / "benchmarks" / "results" / "reading.json"
PILATUS2M = "dls2021_CeO2_Pilatus2M_100keV_737mm.cbf"
TARGETS_S = {"load Pilatus 2M CBF": 0.5, "load 4 Mpx float32 EDF": 0.5, "score_orientation 1 Mpx": 0.5}


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    run()  # warm-up: imports, first-call setup, the file in the page cache
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def orientation_case() -> Callable[[], float]:
    """score_orientation on a fresh geometry each time, as reading a .poni builds one."""
    shape = (1043, 981)
    values = dict(dist=0.2, poni1=0.06, poni2=0.09, rot1=0.02, rot2=-0.01, wavelength=4e-11)
    image = ring_image(Geometry(**values, detector=detector_factory("Pilatus1M")), get_calibrant("CeO2"), shape,
                       fwhm_deg=0.03, noise=True)
    return lambda: score_orientation(Geometry(**values, detector=detector_factory("Pilatus1M")), image, None)


def run(repeat: int) -> dict[str, float]:
    seconds = {}
    real = REAL_DATA / PILATUS2M
    if real.is_file():
        seconds["load Pilatus 2M CBF"] = median_seconds(lambda: load_image(real), repeat)
    else:
        print(f"skipped the Pilatus 2M CBF: {real} not present", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        edf = Path(folder) / "big.edf"
        fabio.edfimage.EdfImage(data=np.random.default_rng(0).random((2048, 2048), dtype=np.float32)).write(str(edf))
        seconds["load 4 Mpx float32 EDF"] = median_seconds(lambda: load_image(edf), repeat)
    seconds["score_orientation 1 Mpx"] = median_seconds(orientation_case(), repeat)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (default 5)")
    args = parser.parse_args()
    seconds = run(args.repeat)
    print(f"{'case':28s} {'median s':>9s} {'target s':>9s}")
    for name, value in seconds.items():
        print(f"{name:28s} {value:9.3f} {TARGETS_S[name]:9.3f}  {'met' if value < TARGETS_S[name] else 'NOT MET'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"seconds": seconds, "targets_s": TARGETS_S, "repeat": args.repeat,
                                   "machine": platform.platform(), "cpus": os.cpu_count()}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
