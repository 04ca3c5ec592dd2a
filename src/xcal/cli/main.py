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
import json
import logging
import math
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from . import __version__
from .core.errors import XcalError

COMMANDS = ("calibrate", "cake", "pattern", "integrate")
EXIT_STATUS = {"good": 0, "check": 3, "bad": 1}  # check: the .poni is written, with warnings; bad: not written
HC_KEV_A = 12.398419843320026  # h·c in keV·Å
WAVELENGTH_RANGE_A = (1e-3, 100.0)  # electrons at 300 kV (0.02 Å) to soft X-rays, in Å


class TextProgress:
    """A one-line progress bar on stderr (only when stderr is a terminal, or when forced)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = ""

    def __call__(self, fraction: float, message: str) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(round(fraction * width))
        line = f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction * 100:5.1f}% {message[:40]:<40}"
        if line != self._last:
            sys.stderr.write(line)
            sys.stderr.flush()
            self._last = line

    def close(self) -> None:
        if self.enabled and self._last:
            sys.stderr.write("\n")


def _parse_click(text: str) -> tuple[float, float, int | None]:
    parts = text.split(",")
    try:
        if len(parts) == 2:
            x, y, ring = float(parts[0]), float(parts[1]), None
        elif len(parts) == 3:
            x, y, ring = float(parts[0]), float(parts[1]), int(parts[2])
        else:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"--click {text!r}: expected X,Y or X,Y,RING (pixels, ring number from 1)") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise argparse.ArgumentTypeError(f"--click {text!r}: X and Y must be finite pixel coordinates")
    if ring is not None and ring < 1:
        raise argparse.ArgumentTypeError(f"--click {text!r}: ring numbers start at 1")
    return x, y, ring


def ranged(what: str, low: float, high: float, unit: str = "", integer: bool = False,
            above: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number from ``low`` (or above it) to ``high``; ``what`` names it in the message."""
    if math.isinf(high):
        bounds = f"above {low:g}" if above else f"of at least {low:g}"
    else:
        bounds = f"above {low:g} and at most {high:g}" if above else f"from {low:g} to {high:g}"
    bounds += f" {unit}" if unit else ""

    def parse(text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            value = math.nan
        finite = integer or math.isfinite(value)  # (an int of 400 digits overflows isfinite)
        if not (finite and (value > low if above else value >= low) and value <= high):
            raise argparse.ArgumentTypeError(f"must be {what} {bounds} (got {text})")
        return value

    return parse


def _checked_by(check: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse type from a check of the engine (XcalError → argparse's message naming the option)."""

    def parse(text: str) -> str:
        try:
            check(text)
        except XcalError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return parse


def _output_name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("the file name is empty")
    return text


def _pattern_output(text: str) -> str:
    from .core.outputs import pattern_format

    return _format_output(text, pattern_format)


def _cake_output(text: str) -> str:
    from .core.outputs import cake_format

    return _format_output(text, cake_format)


def _format_output(text: str, check: Callable[[str], str]) -> str:
    """A file name whose extension names a format; a folder is left to :func:`check_outputs` ("is a folder")."""
    return text if os.path.isdir(text) else _checked_by(check)(_output_name(text))


def _report_output(text: str) -> str:
    from .core.report import report_format

    return _checked_by(report_format)(_output_name(text))


def _fixed_params(text: str) -> tuple[str, ...]:
    """``--fix``: comma-separated refined parameters ('' frees all)."""
    from .core.refinement import PARAMS

    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in names if p not in PARAMS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown parameter(s) {', '.join(unknown)}; choose among {', '.join(PARAMS)}")
    return names


def _npt(kind: str) -> Callable[[str], int]:
    """``--npt`` of a pattern or a cake: the bounds of :class:`IntegrationSettings`."""

    def parse(text: str) -> int:
        from .core.integration import IntegrationSettings

        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer (got {text})") from None
        try:
            IntegrationSettings(**{"npt" if kind == "pattern" else "cake_npt": value})
        except XcalError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    return parse


def _add_image_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="image file (HDF5: file.h5::/path/to/dataset)")
    p.add_argument("--frame", type=ranged("a frame index", 0, math.inf, integer=True), default=0,
                   help="frame index in a multi-frame file (default 0)")


def _add_common_args(p: argparse.ArgumentParser, overwrite: bool = True) -> None:
    if overwrite:
        p.add_argument("--overwrite", action="store_true", help="replace output files that exist (default: refuse)")
    p.add_argument("--verbose", action="store_true",
                   help="show the libraries' log lines and warnings, and a traceback for an internal error")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xcal", description="Calibrate 2D X-ray diffraction detectors (built on pyFAI).")
    parser.add_argument("--version", action="version", version=f"xcal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    low_a, high_a = WAVELENGTH_RANGE_A

    c = sub.add_parser("calibrate", help="calibrate the geometry from a calibrant image")
    _add_image_args(c)
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
    c.add_argument("--click", type=_parse_click, action="append", default=[], metavar="X,Y[,RING]",
                   help="a click on a ring (pixel x, y; ring number from 1, default: the next ring); repeatable. "
                        "Without clicks the rings are found and numbered automatically")
    c.add_argument("--poni", help="start from this geometry instead of clicks (refines it)")
    c.add_argument("--fix", type=_fixed_params, default=("rot3", "wavelength"),
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
    c.add_argument("--picks-out", type=_output_name, help="save the clicked ring points (pyFAI .npt)")
    c.add_argument("-o", "--output", type=_output_name, required=True, help="output .poni file")
    c.add_argument("--dioptas", metavar="PATH", help="also write the calibration as Dioptas reads it right (its images are "
                                                    "flipped up-down; pyFAI reads this file right too)")
    c.add_argument("--report", type=_report_output,
                   help="also write a calibration report (.html or .pdf): geometry, diagnostics, cake, pattern")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.add_argument("--force", action="store_true", help="write the .poni even when the checks judge the calibration bad "
                                                        "(exit status stays 1)")
    c.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")
    _add_common_args(c)

    for name, helptext, npt, output in (
            ("cake", "write the cake image (.tif, .npy, .png by extension) for a .poni", 1000,
             "output file: .tif (float32), .npy or .png (with the calibrant's lines)"),
            ("pattern", "write the 1D pattern (.xy, .dat, .chi, .fxye, .nxs/.h5 by extension) for a .poni", 2000,
             "output file: .xy, .dat (with errors), .chi (Fit2D), .fxye (GSAS, 2θ only), .nxs/.h5 (NeXus NXazint1d)")):
        p = sub.add_parser(name, help=helptext)
        _add_image_args(p)
        p.add_argument("--poni", required=True, help="geometry file")
        p.add_argument("--mask", help="mask file (1 = masked)")
        p.add_argument("--calibrant", help="draw/print this calibrant's line positions")
        p.add_argument("--npt", type=_npt(name), default=npt, help=f"number of radial points (default {npt})")
        if name == "pattern":
            p.add_argument("--unit", default="2th_deg", choices=("2th_deg", "q_nm^-1", "q_A^-1", "d_A"))
        p.add_argument("-o", "--output", type=_pattern_output if name == "pattern" else _cake_output, required=True,
                       help=output)
        _add_common_args(p)
    from .cli_integrate import add_integrate_parser

    add_integrate_parser(sub)
    integrate = sub.choices["integrate"]
    if not any("--verbose" in action.option_strings for action in integrate._actions):
        _add_common_args(integrate, overwrite=False)  # it has its own --overwrite
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
        from .core.outputs import check_format_unit, pattern_format

        try:
            check_format_unit(pattern_format(args.output), args.unit, Path(args.output).name)
        except XcalError as exc:
            _subparser(parser, "pattern").error(f"argument -o/--output: {exc}")


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of ``command`` (its usage and ``xcal <command>: error:`` prefix)."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


def check_outputs(args: argparse.Namespace, outputs: list[tuple[str, str | None]], inputs: list[str | None]) -> None:
    """Before any work: each output can be written, is neither an input nor another output, and
    exists only with ``--overwrite`` (a long calibration must not end in a refusal)."""
    from .core.outputs import check_output_path

    def key(path: str) -> str:
        return os.path.realpath(path)

    sources = {key(p): p for p in (str(i).split("::")[0] for i in inputs if i) if os.path.isfile(p)}
    seen: dict[str, str] = {}
    for option, path in outputs:
        if not path:
            continue
        try:
            check_output_path(path)
        except XcalError as exc:
            raise XcalError(f"{option} {exc}") from None
        if key(path) in sources:
            raise XcalError(f"{option} {path}: is an input of this run ({sources[key(path)]}); choose another file.")
        if key(path) in seen:
            raise XcalError(f"{option} {path}: {seen[key(path)]} names the same file; give each output its own.")
        seen[key(path)] = option
        if os.path.exists(path) and not args.overwrite:
            raise XcalError(f"{option} {path}: the file exists; add --overwrite to replace it.")


def _session_for(args) -> "CalibrationSession":
    from .core.session import CalibrationSession

    session = CalibrationSession()
    session.load_image(args.image, args.frame)
    return session


def _apply_mask(session, mask_path: str | None) -> None:
    if mask_path:
        from .core.masks import read_mask

        session.user_mask = session.transform.apply(read_mask(mask_path, session.raw.shape)).copy()


def cmd_calibrate(args) -> int:
    from .core.calibration import RefineOptions
    from .core.detectors import detector_description
    from .core.outputs import writing
    from .core.progress import Task
    from .peaks.ring_extraction import ExtractionOptions

    t0 = time.perf_counter()
    check_outputs(args, [("-o", args.output), ("--picks-out", args.picks_out), ("--report", args.report),
                         ("--dioptas", getattr(args, "dioptas", None))],
                  [args.image, args.poni, args.mask, args.calibrant])
    session = _session_for(args)
    detector_basis = _set_detector(session, args)
    session.set_calibrant(args.calibrant)
    if args.energy is not None:
        session.set_energy(args.energy)
    else:
        session.wavelength = args.wavelength * 1e-10
    session.distance = args.distance * 1e-3 if args.distance is not None else None
    _apply_mask(session, args.mask)
    options = RefineOptions(
        fix=args.fix,
        auto=not args.no_auto,
        extraction=ExtractionOptions(delta_tth_deg=args.delta_tth, min_snr=args.min_snr, max_intensity=args.max_intensity, max_rings=args.rings,
                                     method=args.peak_search),
    )
    progress = TextProgress(args.progress or sys.stderr.isatty())
    task = Task(progress)
    try:
        if args.poni:
            given = session.wavelength
            session.load_poni(args.poni)
            _check_poni_wavelength(args, given, session.geometry.wavelength)
            session.refine(options, task)
        elif not args.click:  # no clicks: the rings are found and numbered on the image
            session.auto_calibrate(options, task)
        else:
            session.pick_clicks(_click_rings(args.click), args.method)
            session.calibrate(options, task)
        if args.picks_out:
            with writing(args.picks_out):
                session.picks.save_npt(args.picks_out, session.dspacing, session.wavelength)
    finally:
        progress.close()
    checks = session.trust.as_dict()
    verdict = {key: checks.pop(key) for key in ("level", "reasons", "text")}
    report = diagnose_for_report(session) if args.report else None
    if report is not None:  # the report's verdict adds the cake's straightness to the same checks
        verdict = {"level": report[1].verdict.level, "reasons": list(report[1].verdict.reasons), "text": report[1].verdict.text}
    written = verdict["level"] != "bad" or args.force
    if written:
        with writing(args.output):
            session.save_poni(args.output)
        if args.dioptas:
            from .core.dioptas_files import save_session_for_dioptas

            save_session_for_dioptas(session, args.dioptas)
    seconds = time.perf_counter() - t0
    summary = result_summary(session, seconds)
    summary["detector"] = {"name": detector_description(session.raw_detector), "basis": detector_basis}
    summary["verdict"] = verdict
    summary.update(checks)  # corrections, wavelength_check, matching_calibrants
    summary["written"] = str(args.output) if written else None
    summary["written_dioptas"] = str(args.dioptas) if written and args.dioptas else None
    if report is not None:
        summary["report"] = write_calibration_report(session, args.report, *report)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    if not written:
        print(f"xcal: error: the calibration was judged bad, so {args.output} was not written (--force writes it anyway): "
              f"{verdict['reasons'][0]}", file=sys.stderr)
    return EXIT_STATUS[verdict["level"]]


def _set_detector(session, args) -> str:
    """The detector given, else the image's own (header pixel size, or the only one of its shape); why."""
    from .core.detector_guess import guess_detector

    if args.detector or args.pixel:
        session.set_detector(args.detector, tuple(args.pixel) if args.pixel and len(args.pixel) == 2 else (args.pixel[0] if args.pixel else None))
        return "given by --detector" if args.detector else "given by --pixel"
    raw = session.raw
    guess = guess_detector(raw.shape, raw.header, raw.source)
    if not guess.decided:
        raise XcalError(f"no detector given and {guess.basis}: give --detector NAME (or --pixel UM).")
    session.set_detector(guess.name, guess.pixel_um)
    return guess.basis


def _check_poni_wavelength(args, given: float, in_file: float | None) -> None:
    """The wavelength given must be the start file's: a refinement keeps the file's (fixed by default)."""
    if in_file and abs(in_file / given - 1) > 1e-4:  # typed energies carry 4 to 6 digits
        option = f"--energy {args.energy:g} keV" if args.energy is not None else f"--wavelength {args.wavelength:g} Å"
        raise XcalError(f"{option} differs from the wavelength of {Path(args.poni).name} ({in_file * 1e10:.6g} Å, "
                        f"{HC_KEV_A / (in_file * 1e10):.6g} keV), which the refinement would use: give the file's "
                        f"value, or correct the file.")


def _click_rings(clicks: list[tuple[float, float, int | None]]) -> list[tuple[float, float, int]]:
    """(row, col, 0-based ring) of each ``--click X,Y[,RING]``; a click without a number takes the next ring."""
    out, ring = [], 0
    for x, y, given in clicks:
        ring = given - 1 if given is not None else ring
        out.append((y, x, ring))
        ring += 1
    return out


def diagnose_for_report(session) -> tuple:
    """(display cake, diagnostics with the calibration's checks) for the report."""
    from .core.diagnostics import diagnose_session

    cake = session.cake()
    return cake, diagnose_session(session, cake)


def write_calibration_report(session, path: str, cake, diagnostics) -> str:
    """Write the report (geometry, diagnostics, cake, pattern); returns its path."""
    from .core.outputs import writing
    from .core.report import report_inputs, write_report

    with writing(path):
        write_report(path, report_inputs(session, cake=cake), diagnostics)
    return str(path)


def result_summary(session, seconds: float) -> dict:
    """Refined geometry with uncertainties and residuals, as plain numbers."""
    from .core.poni import to_fit2d

    fit = session.result.fit
    g = fit.geometry
    params = {}
    for name in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"):
        params[name] = {"value": float(getattr(g, name)), "sigma": fit.sigma.get(name), "fixed": name not in fit.free}
    return {
        "geometry": params,
        "fit2d": {k: float(v) for k, v in to_fit2d(g).items() if isinstance(v, (int, float))},
        "rms_deg": fit.rms_deg,
        "rms_px": fit.rms_px,
        "points": len(fit.points),
        "rings": [{"ring": r.ring + 1, "points": r.count, "rms_deg": r.rms_deg, "rms_px": r.rms_px} for r in fit.rings],
        "iterations": session.result.iterations,
        "warnings": session.result.warnings,
        "seconds": seconds,
    }


def format_summary(s: dict) -> str:
    units = {"dist": ("mm", 1e3), "poni1": ("mm", 1e3), "poni2": ("mm", 1e3), "rot1": ("deg", np.degrees(1)),
             "rot2": ("deg", np.degrees(1)), "rot3": ("deg", np.degrees(1)), "wavelength": ("Å", 1e10)}
    lines = [f"Detector: {s['detector']['name']} ({s['detector']['basis']})"] if "detector" in s else []
    lines.append("Refined geometry:")
    for name, p in s["geometry"].items():
        unit, k = units[name]
        err = "fixed" if p["fixed"] else f"± {p['sigma'] * k:.2g}"
        lines.append(f"  {name:<10} {p['value'] * k:14.6f} {unit:<4} {err}")
    f = s["fit2d"]
    lines.append(f"  beam centre x={f.get('centerX', float('nan')):.3f} px, y={f.get('centerY', float('nan')):.3f} px; "
                 f"direct distance {f.get('directDist', float('nan')):.3f} mm; tilt {f.get('tilt', float('nan')):.4f}°")
    lines.append(f"Residual: {s['rms_deg']:.5f}° 2θ RMS, {s['rms_px']:.3f} px RMS, {s['points']} points on {len(s['rings'])} rings "
                 f"({s['iterations']} passes, {s['seconds']:.2f} s)")
    lines.append("  ring  points  rms(°)    rms(px)")
    for r in s["rings"]:
        lines.append(f"  {r['ring']:>4}  {r['points']:>6}  {r['rms_deg']:.5f}  {r['rms_px']:.3f}")
    for w in s["warnings"]:
        lines.append(f"Warning: {w}")
    for c in s.get("corrections", []):
        lines.append(f"Corrected: {c}")
    if s.get("wavelength_check"):
        lines.append(f"Wavelength: {s['wavelength_check']['message']}")
    if "verdict" in s:
        lines.append(f"Verdict: {s['verdict']['text']}")
    if "report" in s:
        lines.append(f"Report: {s['report']}")
    return "\n".join(lines)


def cmd_view(args) -> int:
    """``xcal cake`` and ``xcal pattern``: the format follows the extension of ``-o``."""
    from .core.integration import calibrant_positions
    from .core.outputs import SIGMA_FORMATS, geometry_header, pattern_format, write_cake, write_pattern

    check_outputs(args, [("-o", args.output)], [args.image, args.poni, args.mask, args.calibrant])
    session = _session_for(args)
    notes = session.load_poni(args.poni)
    for note in notes:
        print(f"Note: {note}", file=sys.stderr)
    _apply_mask(session, args.mask)
    lines = None
    if args.calibrant:
        session.set_calibrant(args.calibrant)
        unit = getattr(args, "unit", "2th_deg")
        lines = calibrant_positions(session.dspacing, session.geometry.wavelength, unit)
    out = Path(args.output)
    if args.command == "cake":
        write_cake(out, session.cake(args.npt), lines, session.raw.name)
    else:
        sigma = pattern_format(out) in SIGMA_FORMATS
        pattern = session.integrator.pattern(session.data, session.geometry, session.invalid, args.npt, args.unit,
                                             sigma=sigma)
        header = [f"Image: {session.raw.name}", f"Geometry: {Path(args.poni).name}", *geometry_header(session.geometry)]
        write_pattern(out, pattern, header, title=session.raw.name, geometry=session.geometry)
    print(f"Wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS + ("-h", "--help", "--version"):
        from .gui.app import run_gui

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
        from .cli_integrate import cmd_integrate

        return cmd_integrate(args)
    return cmd_calibrate(args) if args.command == "calibrate" else cmd_view(args)


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
