"""``xcal calibrate``: calibrate from clicks, from a .poni or with no click; write the .poni (and the
picks, a Dioptas file, a report) when the checks allow; print the result as text or JSON."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from ..core.errors import XcalError
from .options import HC_KEV_A, apply_mask, check_outputs, session_for
from .progress import TextProgress

EXIT_STATUS = {"good": 0, "check": 3, "bad": 1}  # check: the .poni is written, with warnings; bad: not written



def cmd_calibrate(args) -> int:
    from ..core.calibration.pipeline import RefineOptions
    from ..core.geometry.detectors import detector_description
    from ..core.integration.outputs import writing
    from ..core.progress import Task
    from ..peaks.ring_extraction import ExtractionOptions

    t0 = time.perf_counter()
    check_outputs(args, [("-o", args.output), ("--picks-out", args.picks_out), ("--report", args.report),
                         ("--dioptas", getattr(args, "dioptas", None))],
                  [args.image, args.poni, args.mask, args.calibrant])
    session = session_for(args)
    detector_basis = _set_detector(session, args)
    session.set_calibrant(args.calibrant)
    if args.energy is not None:
        session.set_energy(args.energy)
    else:
        session.wavelength = args.wavelength * 1e-10
    session.distance = args.distance * 1e-3 if args.distance is not None else None
    apply_mask(session, args.mask)
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
            from ..core.io.dioptas_files import save_session_for_dioptas

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
    from ..core.geometry.detector_guess import guess_detector

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
    from ..core.calibration.diagnostics import diagnose_session

    cake = session.cake()
    return cake, diagnose_session(session, cake)


def write_calibration_report(session, path: str, cake, diagnostics) -> str:
    """Write the report (geometry, diagnostics, cake, pattern); returns its path."""
    from ..core.calibration.report import report_inputs, write_report
    from ..core.integration.outputs import writing

    with writing(path):
        write_report(path, report_inputs(session, cake=cake), diagnostics)
    return str(path)


def result_summary(session, seconds: float) -> dict:
    """Refined geometry with uncertainties and residuals, as plain numbers."""
    from ..core.io.poni import to_fit2d

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
