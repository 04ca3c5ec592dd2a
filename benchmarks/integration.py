"""Integration benchmark: xcal's integrator and batch against plain pyFAI calls, same data, same run.

Per image size (Pilatus 1M, Eiger 4M, Eiger 9M: 1, 4.5 and 10 Mpx, synthetic CeO2 rings, the
detector's gaps masked), for the 1D pattern (2000 points, 2θ) and the cake (1000 × 360):

* xcal first call: a fresh integrator, look-up table built at once (batch worker); and the first
  *result* of a GUI integrator (table built in the background, the histogram engine serves);
* xcal steady state: median of repeated calls;
* pyFAI with bbox pixel splitting (the same result) by each engine: histogram, CSR and LUT,
  first call on a fresh integrator and steady state.

Batch: 200 frames of 1 Mpx (int32 TIFF, as a Pilatus writes them) → .xy files, with one worker
and with two (pool already started; the start-up is reported apart), and a plain pyFAI loop
(fabio.open + integrate1d with the fastest method + its own file writer) in one process.

    .venv/bin/python benchmarks/integration.py            # everything
    .venv/bin/python benchmarks/integration.py --quick    # 1 Mpx only, 60 frames
    .venv/bin/python benchmarks/integration.py --sizes ''  # the batch alone

Targets: steady state no slower than pyFAI's fastest method for the same result; batch with two
workers >= 0.8 × 2 × one worker. The table goes to stdout, the numbers to
``benchmarks/results/integration.json``; the exit code is 0 whatever the numbers (reports, not gates).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import fabio  # noqa: E402
from pyFAI.detectors import detector_factory  # noqa: E402
from pyFAI.geometry import Geometry  # noqa: E402
from pyFAI.integrator.azimuthal import AzimuthalIntegrator  # noqa: E402

from xcal.core.beamtime.batch import MIN_POOL_ITEMS, BatchRunner, expand_sources
from xcal.core.beamtime.batch_job import Recipe
from xcal.core.calibration.synthetic import ring_image
from xcal.core.integration.integrator import IntegrationSettings, Integrator
from xcal.core.io.calibrants import load_calibrant

RESULTS = REPO / "benchmarks" / "results" / "integration.json"
SIZES = {"1": "Pilatus1M", "4": "Eiger4M", "9": "Eiger9M"}  # Mpx (1.0, 4.5, 10.2)
PYFAI_METHODS = {"histogram": ("bbox", "histogram", "cython"), "csr": ("bbox", "csr", "cython"),
                 "lut": ("bbox", "lut", "cython")}
NPT, CAKE = 2000, (1000, 360)
BATCH_TARGET = 0.8  # × 2 cores' worth


def case(detector_name: str) -> tuple[Geometry, np.ndarray, np.ndarray, np.ndarray]:
    """Geometry (beam near the centre, small tilt), image, static mask (gaps), this image's bad pixels."""
    detector = detector_factory(detector_name)
    n1, n2 = detector.shape
    g = Geometry(detector=detector, wavelength=0.4e-10, dist=0.25, poni1=0.48 * n1 * detector.pixel1,
                 poni2=0.52 * n2 * detector.pixel2, rot1=0.01, rot2=-0.005)
    data = ring_image(g, load_calibrant("CeO2"), detector.shape, fwhm_deg=0.04, noise=True, seed=1)
    mask = np.asarray(detector.mask, bool) if detector.mask is not None else np.zeros(detector.shape, bool)
    data[mask] = -1  # gaps as a Pilatus/Eiger writes them
    return g, data, mask, data < 0


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def steady(fn: Callable[[], object], repeat: int) -> float:
    fn()
    return statistics.median(timed(fn) for _ in range(repeat))


def bench_size(label: str, detector_name: str, repeat: int) -> dict:
    g, data, mask, invalid = case(detector_name)
    settings = IntegrationSettings(npt=NPT, cake_npt=CAKE[0], cake_npt_azimuth=CAKE[1])
    row: dict = {"size": label, "detector": detector_name, "mpx": data.size / 1e6}
    for kind in ("1d", "cake"):
        def xcal_call(integ: Integrator) -> Callable[[], object]:
            if kind == "1d":
                return lambda: integ.integrate(data, g, settings, mask, invalid=invalid)
            return lambda: integ.integrate_cake(data, g, settings, mask, invalid=invalid)

        batch_like = Integrator(sparse=True, background=False)
        first = timed(xcal_call(batch_like))
        gui = Integrator(sparse=True)
        first_gui = timed(xcal_call(gui))  # served by the histogram while the table builds
        gui.wait()
        gui.close()
        entry = {"xcal_first_s": first, "xcal_first_result_gui_s": first_gui,
                 "xcal_steady_s": steady(xcal_call(batch_like), repeat), "pyfai": {}}
        full_mask = mask | invalid
        for name, method in PYFAI_METHODS.items():
            ai = AzimuthalIntegrator(detector=g.detector, dist=g.dist, poni1=g.poni1, poni2=g.poni2, rot1=g.rot1,
                                     rot2=g.rot2, rot3=g.rot3, wavelength=g.wavelength)
            if kind == "1d":
                call = lambda ai=ai, method=method: ai.integrate1d(data, NPT, unit="2th_deg", mask=full_mask, method=method)
            else:
                call = lambda ai=ai, method=method: ai.integrate2d(data, *CAKE, unit="2th_deg", mask=full_mask, method=method)
            entry["pyfai"][name] = {"first_s": timed(call), "steady_s": steady(call, repeat)}
        fastest = min(entry["pyfai"], key=lambda n: entry["pyfai"][n]["steady_s"])
        entry["pyfai_fastest"] = fastest
        entry["speedup_vs_fastest"] = entry["pyfai"][fastest]["steady_s"] / entry["xcal_steady_s"]
        entry["target_met"] = entry["xcal_steady_s"] <= entry["pyfai"][fastest]["steady_s"]
        row[kind] = entry
    return row


# -- batch ----------------------------------------------------------------------------------------


def write_frames(folder: Path, n: int) -> tuple[Geometry, list[Path]]:
    g, data, _, _ = case("Pilatus1M")
    rng = np.random.default_rng(0)
    paths = []
    for k in range(n):
        frame = np.where(data < 0, data, data * rng.uniform(0.8, 1.2)).astype(np.int32)
        path = folder / f"frame_{k:05d}.tif"
        fabio.tifimage.TifImage(frame).write(str(path))
        paths.append(path)
    return g, paths


def pyfai_loop(g: Geometry, paths: list[Path], out: Path, method: tuple[str, str, str]) -> float:
    """The plain pyFAI way: open, integrate (pyFAI writes the file), next; one process."""
    ai = AzimuthalIntegrator(detector=g.detector, dist=g.dist, poni1=g.poni1, poni2=g.poni2, rot1=g.rot1,
                             rot2=g.rot2, rot3=g.rot3, wavelength=g.wavelength)
    t0 = time.perf_counter()
    for path in paths:
        data = fabio.open(str(path)).data
        ai.integrate1d(data, NPT, unit="2th_deg", method=method, dummy=-1, delta_dummy=0.5,
                       filename=str(out / (path.stem + ".xy")))
    return time.perf_counter() - t0


def _cpu_work(_: int) -> float:
    a = np.random.default_rng(0).random(300_000)
    return float(sum(np.sort(a)[0] for _ in range(100)))


def cpu_scaling() -> float:
    """What two processes gain over one on this machine at this moment: the ceiling for the batch
    (other users' load included)."""
    t0 = time.perf_counter()
    for k in range(4):
        _cpu_work(k)
    serial = time.perf_counter() - t0
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_cpu_work, range(2)))
        t0 = time.perf_counter()
        list(pool.map(_cpu_work, range(4)))
        parallel = time.perf_counter() - t0
    return serial / parallel


def bench_batch(n: int, fastest_1d: str) -> dict:
    root = Path(tempfile.mkdtemp(prefix="xcal-bench-"))
    try:
        (root / "frames").mkdir()
        g, paths = write_frames(root / "frames", n)
        items, _ = expand_sources([root / "frames"])
        settings = IntegrationSettings(npt=NPT)
        result = {"frames": n, "mpx": g.detector.shape[0] * g.detector.shape[1] / 1e6}
        for workers in (1, 2):
            recipe = Recipe(g, settings, root / f"out{workers}", ("xy",), overwrite=True)
            with BatchRunner(recipe, workers) as runner:
                # warm up: starts the pool (>= MIN_POOL_ITEMS frames) and builds each worker's table
                startup = runner.run(items[:MIN_POOL_ITEMS + 2]).seconds
                report = runner.run(items)
            assert len(report.done) == n, report.summary()
            result[f"xcal_{workers}_workers"] = {"seconds": report.seconds, "fps": n / report.seconds,
                                                 "warm_up_s": startup}
        out = root / "pyfai"
        out.mkdir()
        seconds = pyfai_loop(g, paths, out, PYFAI_METHODS[fastest_1d])
        result["pyfai_loop"] = {"method": fastest_1d, "seconds": seconds, "fps": n / seconds}
        one, two = result["xcal_1_workers"]["fps"], result["xcal_2_workers"]["fps"]
        result["scaling"] = two / one
        result["cpu_scaling_now"] = cpu_scaling()
        result["target_met"] = two >= BATCH_TARGET * 2 * one
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- report ---------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.1f}"


def table(rows: list[dict], batch: dict | None) -> str:
    lines = ["Integration, ms (first call / steady state); pyFAI with bbox splitting = the same result",
             f"{'size':<7} {'kind':<5} {'xcal 1st':>8} {'GUI 1st':>8} {'xcal':>8} | "
             + " | ".join(f"{'pyFAI ' + n + ' 1st':>17} {n:>9}" for n in PYFAI_METHODS) + " | ×fastest  target"]
    for row in rows:
        for kind in ("1d", "cake"):
            e = row[kind]
            py = " | ".join(f"{ms(e['pyfai'][n]['first_s']):>17} {ms(e['pyfai'][n]['steady_s']):>9}" for n in PYFAI_METHODS)
            lines.append(f"{row['size']:<7} {kind:<5} {ms(e['xcal_first_s'])} {ms(e['xcal_first_result_gui_s'])} "
                         f"{ms(e['xcal_steady_s'])} | {py} | {e['speedup_vs_fastest']:7.2f}  "
                         f"{'met' if e['target_met'] else 'MISSED'}")
    if batch:
        one, two, py = batch["xcal_1_workers"], batch["xcal_2_workers"], batch["pyfai_loop"]
        lines += ["", f"Batch: {batch['frames']} frames of 1 Mpx (int32 TIFF → .xy, 2000 points)",
                  f"  xcal, 1 worker : {one['fps']:6.1f} frames/s ({one['seconds']:.2f} s)",
                  f"  xcal, 2 workers: {two['fps']:6.1f} frames/s ({two['seconds']:.2f} s; pool start-up and first "
                  f"frames {two['warm_up_s']:.2f} s apart)",
                  f"  plain pyFAI loop ({py['method']}): {py['fps']:6.1f} frames/s ({py['seconds']:.2f} s)",
                  f"  scaling 2 workers / 1 worker: {batch['scaling']:.2f} (target >= {2 * BATCH_TARGET:.1f}: "
                  f"{'met' if batch['target_met'] else 'MISSED'}; a CPU-only job scaled by "
                  f"{batch['cpu_scaling_now']:.2f} on this machine at the time)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 Mpx only, 60 batch frames")
    parser.add_argument("--sizes", default=",".join(SIZES), help="image sizes to time, comma-separated "
                        f"(default {','.join(SIZES)}; '' for the batch alone)")
    parser.add_argument("--frames", type=int, help="batch frames (default 200, quick 60)")
    parser.add_argument("--repeat", type=int, default=7, help="calls per steady-state median")
    parser.add_argument("--no-batch", action="store_true")
    args = parser.parse_args(argv)
    chosen = ["1"] if args.quick else [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SIZES]
    if unknown:
        parser.error(f"--sizes: unknown {', '.join(unknown)}; choose among {', '.join(SIZES)}")
    rows = []
    for size in chosen:
        print(f"... {size} Mpx ({SIZES[size]})", file=sys.stderr, flush=True)
        rows.append(bench_size(f"{size} Mpx", SIZES[size], args.repeat))
    batch = None
    if not args.no_batch:
        frames = args.frames or (60 if args.quick else 200)
        print(f"... batch of {frames} frames", file=sys.stderr, flush=True)
        batch = bench_batch(frames, rows[0]["1d"]["pyfai_fastest"] if rows else "csr")
    print(table(rows, batch))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    info = {"machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "load_average": os.getloadavg()}
    RESULTS.write_text(json.dumps({"info": info, "sizes": rows, "batch": batch}, indent=2))
    print(f"\nNumbers in {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
