"""Command line: ``xcal`` opens the application; ``xcal calibrate|cake|pattern|integrate`` run headless.

Every command prints a one-line reason and exits non-zero on failure; nothing already saved is
overwritten by a failed run (the output is written only after success, atomically).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .core.errors import XcalError

COMMANDS = ("calibrate", "cake", "pattern", "integrate")
EXIT_STATUS = {"good": 0, "check": 3, "bad": 1}  # check: the .poni is written, with warnings; bad: not written


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
            return float(parts[0]), float(parts[1]), None
        if len(parts) == 3:
            return float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"--click {text!r}: expected X,Y or X,Y,RING (pixels, ring number from 1)")


def _add_image_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="image file (HDF5: file.h5::/path/to/dataset)")
    p.add_argument("--frame", type=int, default=0, help="frame index in a multi-frame file (default 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xcal", description="Calibrate 2D X-ray diffraction detectors (built on pyFAI).")
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("calibrate", help="calibrate the geometry from a calibrant image")
    _add_image_args(c)
    c.add_argument("--calibrant", required=True, help="calibrant name (see calibrants/) or path to a d-spacing file")
    wl = c.add_mutually_exclusive_group(required=True)
    wl.add_argument("--wavelength", type=float, help="wavelength in Å")
    wl.add_argument("--energy", type=float, help="photon energy in keV")
    det = c.add_mutually_exclusive_group(required=True)
    det.add_argument("--detector", help="pyFAI detector name, e.g. Pilatus1M")
    det.add_argument("--pixel", type=float, nargs="+", metavar="UM", help="pixel size in µm (one value, or vertical horizontal)")
    c.add_argument("--distance", type=float, help="start value of the sample-detector distance in mm")
    c.add_argument("--click", type=_parse_click, action="append", default=[], metavar="X,Y[,RING]",
                   help="a click on a ring (pixel x, y; ring number from 1, default: the next ring); repeatable. "
                        "Without clicks the rings are found and numbered automatically")
    c.add_argument("--poni", help="start from this geometry instead of clicks (refines it)")
    c.add_argument("--fix", default="rot3,wavelength", help="comma-separated parameters kept fixed (default rot3,wavelength; '' frees all)")
    c.add_argument("--rings", type=int, help="use at most this many rings in the automatic refinement")
    c.add_argument("--delta-tth", type=float, default=0.1, help="peak search window ±Δ2θ in degrees (default 0.1)")
    c.add_argument("--min-snr", type=float, default=3.0, help="intensity minimum factor: peak over background noise (default 3)")
    c.add_argument("--max-intensity", type=float, default=None, help="pixels above this are saturated and ignored")
    c.add_argument("--method", choices=("massif", "blob"), default="massif", help="seed search for clicked rings")
    c.add_argument("--peak-search", choices=("centroid", "massif", "blob"), default="centroid",
                   help="automatic refinement: sub-pixel sector centroids (default), or pyFAI Massif/Blob peaks as Dioptas")
    c.add_argument("--mask", help="mask file (1 = masked): .edf, .tif, .npy")
    c.add_argument("--no-auto", action="store_true", help="fit the clicked points only (no automatic peak search)")
    c.add_argument("--picks-out", help="save the clicked ring points (pyFAI .npt)")
    c.add_argument("-o", "--output", required=True, help="output .poni file")
    c.add_argument("--report", help="also write a calibration report (.html or .pdf): geometry, diagnostics, cake, pattern")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.add_argument("--force", action="store_true", help="write the .poni even when the checks judge the calibration bad "
                                                        "(exit status stays 1)")
    c.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")

    for name, helptext in (("cake", "write the cake image (PNG, .npy) for a .poni"), ("pattern", "write the 1D pattern (.xy) for a .poni")):
        p = sub.add_parser(name, help=helptext)
        _add_image_args(p)
        p.add_argument("--poni", required=True, help="geometry file")
        p.add_argument("--mask", help="mask file (1 = masked)")
        p.add_argument("--calibrant", help="draw/print this calibrant's line positions")
        p.add_argument("--npt", type=int, default=None, help="number of radial points")
        if name == "pattern":
            p.add_argument("--unit", default="2th_deg", choices=("2th_deg", "q_nm^-1", "q_A^-1", "d_A"))
        p.add_argument("-o", "--output", required=True)
    from .cli_integrate import add_integrate_parser

    add_integrate_parser(sub)
    return parser


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
    from .core.progress import Task
    from .peaks.ring_extraction import ExtractionOptions

    t0 = time.perf_counter()
    if args.report:
        from .core.report import report_format

        report_format(args.report)  # a wrong suffix fails now, not after the calibration
    session = _session_for(args)
    session.set_detector(args.detector, tuple(args.pixel) if args.pixel and len(args.pixel) == 2 else (args.pixel[0] if args.pixel else None))
    session.set_calibrant(args.calibrant)
    if args.energy is not None:
        session.set_energy(args.energy)
    else:
        if not args.wavelength > 0:
            raise XcalError(f"--wavelength must be positive (got {args.wavelength}).")
        session.wavelength = args.wavelength * 1e-10
    session.distance = args.distance * 1e-3 if args.distance else None
    _apply_mask(session, args.mask)
    fix = tuple(p.strip() for p in args.fix.split(",") if p.strip())
    options = RefineOptions(
        fix=fix,
        auto=not args.no_auto,
        extraction=ExtractionOptions(delta_tth_deg=args.delta_tth, min_snr=args.min_snr, max_intensity=args.max_intensity, max_rings=args.rings,
                                     method=args.peak_search),
    )
    progress = TextProgress(args.progress or sys.stderr.isatty())
    task = Task(progress)
    try:
        if args.poni:
            session.load_poni(args.poni)
            session.refine(options, task)
        elif not args.click:  # no clicks: the rings are found and numbered on the image
            session.auto_calibrate(options, task)
        else:
            session.pick_clicks(_click_rings(args.click), args.method)
            session.calibrate(options, task)
        if args.picks_out and not args.poni:
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
        session.save_poni(args.output)
    seconds = time.perf_counter() - t0
    summary = result_summary(session, seconds)
    summary["verdict"] = verdict
    summary.update(checks)  # corrections, wavelength_check, matching_calibrants
    summary["written"] = str(args.output) if written else None
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


def _click_rings(clicks: list[tuple[float, float, int | None]]) -> list[tuple[float, float, int]]:
    """(row, col, 0-based ring) of each ``--click X,Y[,RING]``; a click without a number takes the next ring."""
    out, ring = [], 0
    for x, y, given in clicks:
        ring = given - 1 if given is not None else ring
        if ring < 0:
            raise XcalError(f"--click {x:g},{y:g},{given}: ring numbers start at 1.")
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
    from .core.report import report_inputs, write_report

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
    lines = ["Refined geometry:"]
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
    """``xcal cake`` and ``xcal pattern``."""
    from .core.integration import calibrant_positions
    from .core.outputs import geometry_header, write_cake_png, write_xy

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
        cake = session.cake(args.npt or 1000)
        if out.suffix.lower() == ".npy":
            from .core.atomic import atomic_path

            with atomic_path(out) as tmp:
                with open(tmp, "wb") as handle:
                    np.save(handle, cake.intensity)
        else:
            write_cake_png(out, cake, lines, session.raw.name)
    else:
        pattern = session.pattern(args.npt or 2000, args.unit)
        write_xy(out, pattern, [f"Image: {session.raw.name}", f"Geometry: {Path(args.poni).name}"] + geometry_header(session.geometry))
    print(f"Wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS + ("-h", "--help"):
        from .gui.app import run_gui

        return run_gui(argv)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "integrate":
            from .cli_integrate import cmd_integrate

            return cmd_integrate(args)
        return cmd_calibrate(args) if args.command == "calibrate" else cmd_view(args)
    except XcalError as exc:
        print(f"xcal: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("xcal: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
