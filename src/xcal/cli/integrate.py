"""``xcal integrate``: patterns (and cakes) of many images with one calibration, on this machine's
cores or a Dask cluster, optionally watching a folder for new files.

Exit status 0 when every frame was integrated or skipped, 1 when any failed (after the others are
done) or on a bad option; the summary names each skipped or failed file with its reason.
"""

from __future__ import annotations

import argparse
import functools
import json
import signal
import sys
import threading
from pathlib import Path

from .. import __version__
from ..core.errors import XcalError
from ..core.integration.formats import CAKE_FORMATS, PATTERN_FORMATS
from .options import ranged
from .progress import TextProgress

UNIT_CHOICES = ("2th_deg", "q_nm^-1", "q_A^-1", "d_A")


def _formats(allowed: tuple[str, ...]):
    def parse(text: str) -> tuple[str, ...]:
        chosen = tuple(f.strip().lower().lstrip(".") for f in text.split(",") if f.strip())
        unknown = [f for f in chosen if f not in allowed]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(f"{text!r}: choose among {', '.join(allowed)} (comma-separated)")
        return chosen
    return parse


def add_integrate_parser(sub) -> None:
    p = sub.add_parser("integrate", help="integrate many images (files, folders, HDF5 stacks) with a .poni",
                       description="Integrate every frame of FILES (files, folders, globs, file.h5::/dataset) "
                                   "with one calibration; results go to DIR as FILE.xy (and other formats).")
    p.add_argument("files", nargs="+", metavar="FILES", help="image files, folders, globs or HDF5 stacks")
    p.add_argument("--poni", required=True, help="geometry file")
    p.add_argument("--mask", help="mask file (1 = masked), for the raw image")
    p.add_argument("--unit", default="2th_deg", choices=UNIT_CHOICES, help="pattern unit (default 2th_deg)")
    p.add_argument("--npt", type=ranged("a number of points", 2, 1_000_000, integer=True), default=2000, help="number of points of the pattern (default 2000)")
    p.add_argument("--azimuth-range", type=ranged("an angle", -360, 360, "degrees"), nargs=2, metavar=("FROM", "TO"),
                   help="integrate only this sector of χ, degrees (may cross ±180)")
    p.add_argument("--polarization", type=ranged("a polarization factor", -1, 1), help="polarization factor, -1..1 (0.99 at most synchrotrons)")
    p.add_argument("--no-solid-angle", action="store_true", help="no solid-angle correction")
    p.add_argument("--dark", help="dark image, subtracted")
    p.add_argument("--flat", help="flat-field image, divided")
    p.add_argument("--background", help="background image (empty cell...), subtracted after scaling")
    p.add_argument("--background-scale", type=ranged("a scale", -1e6, 1e6), default=1.0, help="scale of the background (default 1)")
    p.add_argument("--format", type=_formats(PATTERN_FORMATS), default=("xy",),
                   help=f"pattern formats, comma-separated: {', '.join(PATTERN_FORMATS)} (default xy)")
    p.add_argument("--cake", action="store_true", help="also write the cake (2θ or q × χ)")
    p.add_argument("--cake-format", type=_formats(CAKE_FORMATS), default=("tif",),
                   help=f"cake formats: {', '.join(CAKE_FORMATS)} (default tif)")
    p.add_argument("--cake-unit", default="2th_deg", choices=UNIT_CHOICES[:3], help="radial unit of the cake")
    p.add_argument("--cake-npt", type=ranged("a number of points", 2, 100_000, integer=True), nargs=2, default=(1000, 360), metavar=("RADIAL", "AZIMUTHAL"),
                   help="cake size (default 1000 360)")
    p.add_argument("--glob", default="*", help="in folders, only files matching this pattern (e.g. '*.cbf')")
    p.add_argument("--overwrite", action="store_true", help="replace results that exist (default: skip them)")
    p.add_argument("--workers", type=ranged("a number of workers", 1, 1024, integer=True), default=2, help="worker processes on this machine (default 2)")
    p.add_argument("--dask", metavar="ADDR", help="run on the Dask scheduler at ADDR (needs xcal[dask])")
    p.add_argument("--watch", action="store_true", help="keep watching the folder(s) and integrate new files")
    p.add_argument("--poll", type=ranged("a time", 0, 3600, "s", above=True), default=1.0, help="watch: seconds between looks at the folder")
    p.add_argument("--idle", type=ranged("a time", 0, 1e9, "s", above=True), help="watch: stop after this many seconds without a new file")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")


def _recipe(args, items):
    from ..core.beamtime.batch import batch_geometry
    from ..core.beamtime.batch_job import Recipe
    from ..core.geometry.detectors import detector_mask
    from ..core.integration.corrections import Corrections
    from ..core.integration.integrator import IntegrationSettings
    from ..core.integration.outputs import check_format_unit, geometry_header, mask_header
    from ..core.masks.model import read_mask

    settings = IntegrationSettings(
        unit=args.unit, npt=args.npt, azimuth_range=tuple(args.azimuth_range) if args.azimuth_range else None,
        polarization=args.polarization, solid_angle=not args.no_solid_angle, cake_unit=args.cake_unit,
        cake_npt=args.cake_npt[0], cake_npt_azimuth=args.cake_npt[1])
    for fmt in args.format:
        check_format_unit(fmt, settings.unit, f"--format {fmt}")
    geometry, notes = batch_geometry(args.poni, items)
    mask = read_mask(args.mask) if args.mask else None
    detector = geometry.detector
    gaps = detector_mask(detector, tuple(detector.shape)) if detector.shape is not None else None
    corrections = Corrections.load(args.dark, args.flat, args.background, args.background_scale,
                                   None if mask is None else mask.shape)
    header = [f"Geometry: {Path(args.poni).name}", *geometry_header(geometry), *settings.header(),
              mask_header(detector, gaps, mask, Path(args.mask).name if args.mask else ""),
              *corrections.header(), f"Integrated with xcal {__version__}"]
    recipe = Recipe(geometry, settings, Path(args.output), tuple(args.format),
                    tuple(args.cake_format) if args.cake else (), mask, corrections, header, args.overwrite)
    return recipe, notes


def cmd_integrate(args) -> int:
    from ..core.beamtime.batch import BatchRunner, expand_sources, start_worker_server
    from ..core.progress import Task

    if args.workers > 1 and not args.dask:
        start_worker_server()  # its imports overlap with reading the files and the .poni
    items, failed = expand_sources(args.files, args.glob)
    recipe, notes = _recipe(args, items)
    for note in notes:
        print(f"Note: {note}", file=sys.stderr)
    progress = TextProgress(args.progress or sys.stderr.isatty())
    task = Task(progress)
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:  # Ctrl-C: stop between frames, then report
        previous = signal.signal(signal.SIGINT, lambda *_: task.cancel())
    try:
        with BatchRunner(recipe, args.workers) as runner:
            run = runner.run
            if args.dask:
                from ..core.beamtime.dask_batch import run_on_dask

                run = functools.partial(_on_dask, run_on_dask, recipe, args.dask)
            if args.watch:
                report = _watch(args, run, task, progress)
            else:
                report = run(items, task)
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
        progress.close()
    if not args.watch:  # watch mode reports the folder's files itself
        report.results += failed
    if args.json:
        print(json.dumps({**report.as_dict(), "notes": notes}, indent=2))
    else:
        print(report.summary())
        print(f"Results in {args.output}")
    return 1 if report.failed else 0


def _on_dask(run_on_dask, recipe, address, items, task):
    return run_on_dask(items, recipe, address, task)


def _watch(args, run, task, progress):
    from ..core.beamtime.watch import watch_folder

    folders = [f for f in args.files if Path(f).is_dir()]
    if len(folders) != 1 or len(args.files) != 1:
        raise XcalError("--watch needs exactly one folder to watch (give it as the only FILES argument).")

    def show(report) -> None:
        progress.close()
        if report.done or report.failed:
            print(report.summary(), flush=True)

    return watch_folder(folders[0], run, args.glob, task, args.poll, args.idle, None if args.json else show)
