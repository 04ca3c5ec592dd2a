"""Command line: ``xcal`` opens the application; ``xcal calibrate|cake|pattern|integrate`` run headless.

Exit status: 0 done; 1 the files or the data are at fault (an input that cannot be read, an output
that cannot be written or exists without ``--overwrite``, a calibration that fails or is judged
bad), one line ``xcal: error: …`` naming the file or option; 2 the command line itself is wrong
(an option's value out of range or malformed, an unknown output format, options that exclude each
other), argparse's usage and ``xcal <command>: error: argument --option: …``; 3 calibrate's
verdict "check"; 130 interrupted. Never a traceback (``--verbose`` shows one for a bug, and the
libraries' log lines and warnings, which are otherwise kept off the terminal). Outputs are checked
before any work, and written only after success, atomically: a failed run leaves them untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

from .. import __version__
from ..core.errors import XcalError
from . import calibrate, view
from .options import (
    HC_KEV_A,
    WAVELENGTH_RANGE_A,
    add_common_args,
    add_image_args,
    cake_output,
    fixed_params,
    npt_option,
    output_name,
    parse_click,
    pattern_output,
    ranged,
    report_output,
)

COMMANDS = ("calibrate", "cake", "pattern", "integrate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xcal", description="Calibrate 2D X-ray diffraction detectors (built on pyFAI).")
    parser.add_argument("--version", action="version", version=f"xcal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    low_a, high_a = WAVELENGTH_RANGE_A

    c = sub.add_parser("calibrate", help="calibrate the geometry from a calibrant image")
    add_image_args(c)
    c.add_argument("--calibrant", required=True, help="calibrant name (see calibrants/) or path to a d-spacing file")
    wl = c.add_mutually_exclusive_group(required=True)
    wl.add_argument("--wavelength", type=ranged("a wavelength", low_a, high_a, "Å"), help="wavelength in Å")
    wl.add_argument("--energy", type=ranged("an energy", round(HC_KEV_A / high_a, 3), round(HC_KEV_A / low_a), "keV"),
                    help="photon energy in keV")
    det = c.add_mutually_exclusive_group()
    det.add_argument("--detector", help="pyFAI detector name, e.g. Pilatus1M (default: the file header's pixel size, "
                                        "or the only detector of the image's shape; an ambiguous shape is refused)")
    det.add_argument("--pixel", type=ranged("a pixel size", 0, 10_000, "µm", above=True), nargs="+", metavar="UM",
                     help="pixel size in µm (one value, or vertical horizontal)")
    c.add_argument("--distance", type=ranged("a distance", 1, 100_000, "mm"),
                   help="start value of the sample-detector distance in mm (not with --poni, which gives the start)")
    c.add_argument("--click", type=parse_click, action="append", default=[], metavar="X,Y[,RING]",
                   help="a click on a ring (pixel x, y; ring number from 1, default: the next ring); repeatable. "
                        "Without clicks the rings are found and numbered automatically")
    c.add_argument("--poni", help="start from this geometry instead of clicks (refines it)")
    c.add_argument("--fix", type=fixed_params, default=("rot3", "wavelength"),
                   help="comma-separated parameters kept fixed (default rot3,wavelength; '' frees all)")
    c.add_argument("--rings", type=ranged("a number of rings", 1, 1000, integer=True),
                   help="use at most this many rings in the automatic refinement")
    c.add_argument("--delta-tth", type=ranged("an angle", 0, 10, "degrees", above=True), default=0.1,
                   help="peak search window ±Δ2θ in degrees (default 0.1)")
    c.add_argument("--min-snr", type=ranged("a ratio", 0, 1e6, above=True), default=3.0,
                   help="intensity minimum factor: peak over background noise (default 3)")
    c.add_argument("--max-intensity", type=ranged("an intensity", 0, math.inf, above=True), default=None,
                   help="pixels above this are saturated and ignored")
    c.add_argument("--method", choices=("massif", "blob"), default="massif", help="seed search for clicked rings")
    c.add_argument("--peak-search", choices=("centroid", "massif", "blob"), default="centroid",
                   help="automatic refinement: sub-pixel sector centroids (default), or pyFAI Massif/Blob peaks as Dioptas")
    c.add_argument("--mask", help="mask file (1 = masked): .edf, .tif, .npy")
    c.add_argument("--no-auto", action="store_true", help="fit the clicked points only (no automatic peak search)")
    c.add_argument("--picks-out", type=output_name, help="save the clicked ring points (pyFAI .npt)")
    c.add_argument("-o", "--output", type=output_name, required=True, help="output .poni file")
    c.add_argument("--dioptas", metavar="PATH", help="also write the calibration as Dioptas reads it right (its images are "
                                                    "flipped up-down; pyFAI reads this file right too)")
    c.add_argument("--report", type=report_output,
                   help="also write a calibration report (.html or .pdf): geometry, diagnostics, cake, pattern")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.add_argument("--force", action="store_true", help="write the .poni even when the checks judge the calibration bad "
                                                        "(exit status stays 1)")
    c.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")
    add_common_args(c)

    for name, helptext, npt, output in (
            ("cake", "write the cake image (.tif, .npy, .png by extension) for a .poni", 1000,
             "output file: .tif (float32), .npy or .png (with the calibrant's lines)"),
            ("pattern", "write the 1D pattern (.xy, .dat, .chi, .fxye, .nxs/.h5 by extension) for a .poni", 2000,
             "output file: .xy, .dat (with errors), .chi (Fit2D), .fxye (GSAS, 2θ only), .nxs/.h5 (NeXus NXazint1d)")):
        p = sub.add_parser(name, help=helptext)
        add_image_args(p)
        p.add_argument("--poni", required=True, help="geometry file")
        p.add_argument("--mask", help="mask file (1 = masked)")
        p.add_argument("--calibrant", help="draw/print this calibrant's line positions")
        p.add_argument("--npt", type=npt_option(name), default=npt, help=f"number of radial points (default {npt})")
        if name == "pattern":
            p.add_argument("--unit", default="2th_deg", choices=("2th_deg", "q_nm^-1", "q_A^-1", "d_A"))
        p.add_argument("-o", "--output", type=pattern_output if name == "pattern" else cake_output, required=True,
                       help=output)
        add_common_args(p)
    from .integrate import add_integrate_parser

    add_integrate_parser(sub)
    integrate = sub.choices["integrate"]
    if not any("--verbose" in action.option_strings for action in integrate._actions):
        add_common_args(integrate, overwrite=False)  # it has its own --overwrite
    return parser


def check_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Options that exclude or need each other (argparse's exit 2, naming them): none is silently ignored."""
    if args.command == "calibrate":
        if args.pixel is not None and len(args.pixel) > 2:
            _subparser(parser, "calibrate").error(f"argument --pixel: one value, or two (vertical horizontal), "
                                                  f"not {len(args.pixel)}")
        if args.poni:
            for given, option in ((args.click, "--click"), (args.distance is not None, "--distance"),
                                  (args.picks_out, "--picks-out"), (args.no_auto, "--no-auto")):
                if given:
                    _subparser(parser, "calibrate").error(
                        f"argument {option}: not with --poni, which refines the geometry of the file (no clicks, "
                        f"no start distance, no picks)")
        elif args.no_auto and not args.click:
            _subparser(parser, "calibrate").error("argument --no-auto: fits the clicked points only, and there is "
                                                  "no --click")
    elif args.command == "pattern" and not os.path.isdir(args.output):
        from ..core.integration.outputs import check_format_unit, pattern_format

        try:
            check_format_unit(pattern_format(args.output), args.unit, Path(args.output).name)
        except XcalError as exc:
            _subparser(parser, "pattern").error(f"argument -o/--output: {exc}")


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of ``command`` (its usage and ``xcal <command>: error:`` prefix)."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS + ("-h", "--help", "--version"):
        from ..gui.app import run_gui

        return run_gui(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    check_options(parser, args)
    verbose = args.verbose
    with library_output(verbose):
        try:
            return _run(args)
        except XcalError as exc:
            return _fail(str(exc))
        except KeyboardInterrupt:
            print("xcal: interrupted", file=sys.stderr)
            return 130
        except OSError as exc:  # a file that changed after the checks (removed, a disk filled meanwhile)
            return _fail(f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug: one line; the traceback with --verbose
            if verbose:
                traceback.print_exc()
            return _fail(f"internal error ({type(exc).__name__}: {exc}); run again with --verbose for the traceback")


def _run(args: argparse.Namespace) -> int:
    if args.command == "integrate":
        from .integrate import cmd_integrate

        return cmd_integrate(args)
    return calibrate.cmd_calibrate(args) if args.command == "calibrate" else view.cmd_view(args)


def _fail(message: str) -> int:
    """The one line of a failure (messages spanning lines are joined), exit status 1."""
    print(f"xcal: error: {' '.join(message.split())}", file=sys.stderr)
    return 1


@contextlib.contextmanager
def library_output(verbose: bool) -> Iterator[None]:
    """Keep the libraries' log lines (fabio, pyFAI, h5py) and Python warnings (numpy...) off the
    terminal, so a failure is one line; ``verbose`` shows them, with the logger's name.

    A handler on the root logger stops Python's last-resort printing without silencing the loggers
    themselves (xcal's image reader collects fabio's errors for its messages).
    """
    root = logging.getLogger()
    handler: logging.Handler = logging.StreamHandler(sys.stderr) if verbose else logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
    root.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default" if verbose else "ignore")
            yield
    finally:
        root.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
