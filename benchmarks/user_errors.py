"""User-error benchmark: xcal must never be silently wrong.

Every case (synthetic images of known geometry, real images with a reference .poni) is
calibrated through the real command line, in-process (``xcal.cli.main``), once with correct
inputs and once per typical user mistake (wrong ring number, wrong energy, wrong calibrant, a
click in a gap or off the ring, half the image saturated, ...). Each run is judged by its exit
status and the .poni it wrote, against the truth:

    right        exit 0, beam centre within 3 px and distance within 1 % of the truth
    corrected    the same, and the JSON lists the corrections xcal made to the user's input
    warned       exit 3 (verdict "check": .poni written, warnings printed), geometry right
    warned-wrong exit 3, geometry wrong: wrong, but the user was told
    refused      exit 1: nothing written, the reason on stderr
    SILENT       exit 0 with a wrong geometry: the failure this benchmark exists to find
    crash/hang   a traceback (or another exit status) / no answer within --timeout: a bug

The beam centre is compared in array pixels (Fit2D centre, orientation-aware); where the true
beam lies far outside the image (more than half the image's size) the PONI point is compared
instead. The controls (correct inputs) must all be "right": anything else is a false alarm.

    .venv/bin/python benchmarks/user_errors.py            # every default case (~10 min on 2 cores)
    .venv/bin/python benchmarks/user_errors.py --quick    # two cases and the strip (~2 min)
    .venv/bin/python benchmarks/user_errors.py --case CeO2_Eiger4M --mistake off_8px

The table goes to stdout, every cell to ``benchmarks/results/user_errors.json``. The exit status
is 0 whatever the cells say: this measures, it does not gate.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zlib
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(REPO))

from pyFAI.geometry import Geometry  # noqa: E402

from benchmarks.user_error_cases import (  # noqa: E402
    MISTAKES,
    MISTAKES_BY_NAME,
    Case,
    Mistake,
    NotApplicable,
    applies,
    case_names,
    load_case,
)
from xcal.cli import main as xcal_main
from xcal.core.geometry.beam import beam_centre
from xcal.core.io.poni import read_poni

RESULTS = REPO / "benchmarks" / "results" / "user_errors.json"
CENTRE_TOL_PX = 3.0
DIST_TOL_PCT = 1.0
FAR_OUTSIDE = 0.5  # beam farther outside the image than this fraction of its size: compare the PONI
TIMEOUT_S = 180.0

DEFAULT_CASES = ["example", "LaB6_Pilatus1M_centred", "CeO2_Eiger4M", "dioptas_CeO2_Pilatus1M",
                 "cpf_CeO2_Pilatus1M", "aps1idc_CeO2_Pilatus2M", "ssrl72"]
QUICK_CASES = ["example", "dioptas_CeO2_Pilatus1M", "ssrl72"]

EXIT_GOOD, EXIT_BAD, EXIT_CHECK = 0, 1, 3
SHORT = {"right": "ok", "corrected": "fixed", "warned": "warn", "warned-wrong": "warnX", "refused": "refus",
         "SILENT": "SILENT", "crash": "CRASH", "hang": "HANG"}


class CellTimeout(BaseException):
    """Raised by the alarm in a run that takes too long (BaseException: no ``except Exception`` swallows it)."""


@dataclass
class Cell:
    """One command line and what came of it."""

    case: str
    mistake: str
    did: str  # what the simulated user did (clicks, values typed)
    argv: list[str]
    exit_code: int | None = None
    outcome: str = "crash"
    centre_err_px: float | None = None
    dist_err_pct: float | None = None
    compared: str = "beam centre"  # or "PONI" when the true beam is far outside the image
    seconds: float = 0.0
    note: str = ""
    written: bool = False
    verdict: dict | None = None
    corrections: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    wavelength_check: dict | None = None
    matching_calibrants: list[str] | None = None  # calibrants whose lines fit the rings, when xcal checks
    contract: list[str] = field(default_factory=list)  # departures from the CLI contract
    stderr: str = ""
    traceback: str | None = None


# -- running one command line ------------------------------------------------------------------------


@dataclass
class Invocation:
    """What one call of the CLI's ``main`` gave."""

    code: int | None  # None: raised or timed out
    stdout: str
    stderr: str
    seconds: float
    error: str | None = None  # traceback text, or "timed out after ..."
    timed_out: bool = False


def _on_alarm(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    raise CellTimeout


def invoke(argv: list[str], timeout: float) -> Invocation:
    """``xcal.cli.main(argv)`` with stdout/stderr captured, timed, and stopped after ``timeout`` s.

    pyFAI's Massif samples with numpy's global random state: it is seeded so that runs repeat.
    """
    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    np.random.seed(0)
    code, error, timed_out = None, None, False
    t0 = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = xcal_main(argv)
    except SystemExit as exc:  # argparse refusing the command line
        code = exc.code if isinstance(exc.code, int) else EXIT_BAD
    except CellTimeout:
        error, timed_out = f"timed out after {timeout:g} s", True
    except Exception:  # noqa: BLE001 - a traceback is a finding, reported with the cell
        error = traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return Invocation(code, out.getvalue(), err.getvalue(), time.perf_counter() - t0, error, timed_out)


def parse_summary(stdout: str) -> dict:
    """The --json summary, or {} when stdout holds none (errors print to stderr only)."""
    start = stdout.find("{")
    if start < 0:
        return {}
    try:
        summary = json.loads(stdout[start:])
    except json.JSONDecodeError:
        return {}
    return summary if isinstance(summary, dict) else {}


# -- judging ----------------------------------------------------------------------------------------


def _outside_by(x: float, y: float, shape: tuple[int, int]) -> float:
    """How far (px) the point lies outside the image rectangle; 0 inside."""
    return max(0.0, -x, x - shape[1], -y, y - shape[0])


def _poni_point(geometry: Geometry, shape: tuple[int, int]) -> tuple[float, float]:
    """The PONI in array pixels: the beam centre of the same geometry without tilts."""
    flat = Geometry(dist=geometry.dist, poni1=geometry.poni1, poni2=geometry.poni2, rot1=0.0, rot2=0.0, rot3=0.0,
                    detector=geometry.detector, wavelength=geometry.wavelength)
    return beam_centre(flat, shape)


def geometry_errors(found: Geometry, truth: Geometry, shape: tuple[int, int]) -> tuple[float, float, str]:
    """(centre error px, distance error %, what was compared) of ``found`` against ``truth``."""
    x, y = beam_centre(truth, shape)
    if not np.isfinite(x + y) or _outside_by(x, y, shape) > FAR_OUTSIDE * max(shape):
        point, compared = _poni_point, "PONI"
    else:
        point, compared = beam_centre, "beam centre"
    (xf, yf), (xt, yt) = point(found, shape), point(truth, shape)
    centre = float(np.hypot(xf - xt, yf - yt))
    dist = 100.0 * abs(found.dist - truth.dist) / truth.dist
    return (centre if np.isfinite(centre) else float("inf")), float(dist), compared


def classify(inv: Invocation, right: bool | None, corrections: list[str]) -> str:
    """The cell's outcome from the exit status and whether the written geometry is right (None: none written)."""
    if inv.timed_out:
        return "hang"
    if inv.error is not None:
        return "crash"
    if inv.code == EXIT_BAD:
        return "refused"
    if inv.code == EXIT_CHECK:
        return "warned" if right else "warned-wrong"
    if inv.code == EXIT_GOOD:
        if right is None:
            return "crash"  # success without a geometry is a bug
        if not right:
            return "SILENT"
        return "corrected" if corrections else "right"
    return "crash"


def contract_departures(inv: Invocation, summary: dict, written: bool) -> list[str]:
    """Where the run departs from the CLI contract (exit 0/3/1 = verdict good/check/bad)."""
    notes = []
    level = (summary.get("verdict") or {}).get("level")
    if inv.code in (EXIT_GOOD, EXIT_CHECK):
        if not summary:
            notes.append("no JSON summary on stdout")
        elif level is None:
            notes.append("no verdict in the JSON")
        elif level != {EXIT_GOOD: "good", EXIT_CHECK: "check"}[inv.code]:
            notes.append(f"exit {inv.code} with verdict {level!r}")
        if not written:
            notes.append(f"exit {inv.code} but no .poni written")
    if inv.code == EXIT_BAD and written:
        notes.append("exit 1 but a .poni was written (no --force)")
    if summary and "written" in summary and bool(summary["written"]) != written:
        notes.append(f"JSON says written={summary['written']}, the file says {written}")
    return notes


def first_note(inv: Invocation, summary: dict) -> str:
    """What the user was told first: a refusal's reason (the verdict's, else the error line), else
    a correction, a verdict reason, a warning; a crash's exception."""
    if inv.error:
        return inv.error.strip().splitlines()[-1]
    lines = [line.strip() for line in inv.stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("xcal: error: ") for line in lines if line.startswith("xcal:")]
    reasons = (summary.get("verdict") or {}).get("reasons")
    if inv.code == EXIT_BAD:
        sources = (reasons, errors, lines)
    else:
        sources = (summary.get("corrections"), reasons, summary.get("warnings"), errors, lines)
    for source in sources:
        if source:
            return str(source[0])
    return ""


def run_cell(case: Case, mistake: Mistake, outdir: Path, seed: int, timeout: float) -> Cell | None:
    """Plan the mistake, run the command line, judge it; None when the mistake cannot be made here."""
    rng = np.random.default_rng(zlib.crc32(f"{case.name}/{mistake.name}/{seed}".encode()))
    try:
        plan = mistake.plan(case, rng)
    except NotApplicable:
        return None
    output = outdir / f"{case.name}__{mistake.name}.poni"
    output.unlink(missing_ok=True)
    cell = Cell(case.name, mistake.name, plan.did, plan.argv(case, output))
    inv = invoke(cell.argv, timeout)
    summary = parse_summary(inv.stdout)
    cell.exit_code, cell.seconds, cell.stderr, cell.traceback = inv.code, inv.seconds, inv.stderr[-2000:], inv.error
    cell.written = output.exists()
    cell.verdict = summary.get("verdict")
    cell.corrections = [str(c) for c in summary.get("corrections") or []]
    cell.warnings = [str(w) for w in summary.get("warnings") or []]
    cell.wavelength_check = summary.get("wavelength_check")
    cell.matching_calibrants = summary.get("matching_calibrants")
    right = None
    if cell.written:
        try:
            found = read_poni(output, shape=case.shape).geometry
            cell.centre_err_px, cell.dist_err_pct, cell.compared = geometry_errors(found, case.truth, case.shape)
            right = cell.centre_err_px <= CENTRE_TOL_PX and cell.dist_err_pct <= DIST_TOL_PCT
        except Exception as exc:  # noqa: BLE001 - an unreadable .poni is a finding
            cell.contract.append(f"written .poni unreadable: {type(exc).__name__}: {exc}")
    cell.outcome = classify(inv, right, cell.corrections)
    cell.contract += contract_departures(inv, summary, cell.written)
    cell.note = first_note(inv, summary)
    return cell


# -- report -----------------------------------------------------------------------------------------


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_table(cases: list[str], mistakes: list[Mistake], cells: list[Cell]) -> str:
    """Rows = cases, columns = mistakes, cell = short outcome ("·": the mistake does not apply)."""
    by_key = {(c.case, c.mistake): c for c in cells}
    header = ["case", *(m.label for m in mistakes)]
    rows = [header]
    for name in cases:
        rows.append([name, *(SHORT[by_key[(name, m.name)].outcome] if (name, m.name) in by_key else "·"
                             for m in mistakes)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_details(cells: list[Cell]) -> str:
    lines = []
    for c in cells:
        lines.append(f"  {c.case:<24} {c.mistake:<17} exit {c.exit_code!s:>4}  {c.outcome:<12} "
                     f"{'PONI' if c.compared == 'PONI' else 'centre'} {_num(c.centre_err_px, '8.2f')} px  dist {_num(c.dist_err_pct, '8.3f')} %  "
                     f"{c.seconds:5.1f} s  {c.note[:110]}")
    return "\n".join(lines)


def legend(mistakes: list[Mistake]) -> str:
    outcomes = ", ".join(f"{short} = {name}" for name, short in SHORT.items())
    columns = "\n".join(f"  {m.label:<8} {m.name}: {m.description}" + (" [control]" if m.control else "")
                        for m in mistakes)
    return f"{outcomes}, · = does not apply\n{columns}"


def totals(cells: list[Cell]) -> dict:
    """The two numbers that matter (SILENT cells, false alarms on the controls) and the counts."""
    controls = {m.name for m in MISTAKES if m.control}
    return {
        "silent": [f"{c.case}/{c.mistake}" for c in cells if c.outcome == "SILENT"],
        "false_alarms": [f"{c.case}/{c.mistake}: {c.outcome}" for c in cells if c.mistake in controls and c.outcome != "right"],
        "crashes": [f"{c.case}/{c.mistake}: {c.outcome}" for c in cells if c.outcome in ("crash", "hang")],
        "outcomes": dict(Counter(c.outcome for c in cells)),
        "contract": dict(Counter(note.split(":")[0] for c in cells for note in c.contract)),
    }


def print_report(cases: list[str], mistakes: list[Mistake], cells: list[Cell], summary: dict, seconds: float) -> None:
    print()
    print(format_table(cases, mistakes, cells))
    print()
    print(legend(mistakes))
    print("\nCells:")
    print(format_details(cells))
    print(f"\nSILENT cells: {len(summary['silent'])} (target 0)" + "".join(f"\n  {s}" for s in summary["silent"]))
    print(f"False alarms on the controls: {len(summary['false_alarms'])} (target 0)"
          + "".join(f"\n  {s}" for s in summary["false_alarms"]))
    if summary["crashes"]:
        print(f"Crashes/hangs: {len(summary['crashes'])}")
        for c in cells:
            if c.outcome in ("crash", "hang"):
                print(f"  {c.case}/{c.mistake}: xcal {' '.join(c.argv)}\n    {(c.traceback or c.stderr).strip()[-600:]}")
    print("Outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["outcomes"].items())))
    if summary["contract"]:
        print("CLI contract departures: " + "; ".join(f"{k} ×{v}" for k, v in summary["contract"].items()))
    print(f"{len(cells)} runs in {seconds:.0f} s")


def _git_describe() -> str | None:
    """The commit measured (``-dirty``: with uncommitted changes): the code changes between runs."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def write_json(path: Path, args: argparse.Namespace, cases: dict[str, Case], mistakes: list[Mistake],
               cells: list[Cell], summary: dict, seconds: float) -> None:
    import pyFAI

    payload = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "pyFAI": pyFAI.version, "xcal_commit": _git_describe()},
        "tolerances": {"centre_px": CENTRE_TOL_PX, "dist_pct": DIST_TOL_PCT, "far_outside_fraction": FAR_OUTSIDE},
        "quick": args.quick,
        "seconds": seconds,
        "cases": [{"name": c.name, "kind": c.kind, "calibrant": c.calibrant, "shape": list(c.shape),
                   "wavelength_A": c.wavelength_a, "ring_1": c.first_ring + 1, "note": c.note} for c in cases.values()],
        "mistakes": [{"name": m.name, "label": m.label, "description": m.description, "control": m.control}
                     for m in mistakes],
        "totals": summary,
        "cells": [asdict(c) for c in cells],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))
    print(f"\nresults written to {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_CASES)}")
    parser.add_argument("--case", action="append", default=[], choices=case_names(), metavar="NAME",
                        help="run this case (repeatable); any synthetic or real case, 'example' or 'ssrl72'")
    parser.add_argument("--mistake", action="append", default=[], choices=list(MISTAKES_BY_NAME), metavar="NAME",
                        help=f"run this mistake (repeatable): {', '.join(MISTAKES_BY_NAME)}")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated clicks")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds before a run counts as hung")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("pyFAI").setLevel(logging.ERROR)

    names = args.case or (QUICK_CASES if args.quick else DEFAULT_CASES)
    mistakes = [MISTAKES_BY_NAME[n] for n in args.mistake] if args.mistake else MISTAKES
    t0 = time.perf_counter()
    cells: list[Cell] = []
    with tempfile.TemporaryDirectory(prefix="xcal_user_errors_") as tmp:
        cases: dict[str, Case] = {}
        for name in names:
            try:
                cases[name] = case = load_case(name, Path(tmp) / name)
            except OSError as exc:  # the real images are not on every machine
                print(f"{name}: skipped, cannot be read ({exc})", flush=True)
                continue
            print(f"{name}: ring 1 = calibrant line {case.first_ring + 1}", flush=True)
            for mistake in mistakes:
                if not applies(mistake, case):
                    continue
                cell = run_cell(case, mistake, Path(tmp) / name, args.seed, args.timeout)
                if cell is None:
                    print(f"  {mistake.name:<17} does not apply", flush=True)
                    continue
                cells.append(cell)
                print(f"  {mistake.name:<17} {cell.outcome:<12} exit {cell.exit_code!s:>4} {cell.seconds:5.1f} s  "
                      f"{cell.note[:90]}", flush=True)
        seconds = time.perf_counter() - t0
        summary = totals(cells)
        shown = [m for m in mistakes if any(c.mistake == m.name for c in cells)]
        print_report(list(cases), shown, cells, summary, seconds)
        write_json(args.json, args, cases, shown, cells, summary, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
