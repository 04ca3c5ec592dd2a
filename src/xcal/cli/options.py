"""What the command line's options accept, checked before any work: numbers in range, clicks,
output names whose extension names a format, outputs that may be written; and the session the
image and mask options describe."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..core.errors import XcalError

if TYPE_CHECKING:
    from ..core.calibration.session import CalibrationSession

HC_KEV_A = 12.398419843320026  # h·c in keV·Å
WAVELENGTH_RANGE_A = (1e-3, 100.0)  # electrons at 300 kV (0.02 Å) to soft X-rays, in Å


def parse_click(text: str) -> tuple[float, float, int | None]:
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


def checked_by(check: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse type from a check of the engine (XcalError → argparse's message naming the option)."""

    def parse(text: str) -> str:
        try:
            check(text)
        except XcalError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return parse


def output_name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("the file name is empty")
    return text


def pattern_output(text: str) -> str:
    from ..core.integration.outputs import pattern_format

    return format_output(text, pattern_format)


def cake_output(text: str) -> str:
    from ..core.integration.outputs import cake_format

    return format_output(text, cake_format)


def format_output(text: str, check: Callable[[str], str]) -> str:
    """A file name whose extension names a format; a folder is left to :func:`check_outputs` ("is a folder")."""
    return text if os.path.isdir(text) else checked_by(check)(output_name(text))


def report_output(text: str) -> str:
    from ..core.calibration.report import report_format

    return checked_by(report_format)(output_name(text))


def fixed_params(text: str) -> tuple[str, ...]:
    """``--fix``: comma-separated refined parameters ('' frees all)."""
    from ..core.geometry.refinement import PARAMS

    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in names if p not in PARAMS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown parameter(s) {', '.join(unknown)}; choose among {', '.join(PARAMS)}")
    return names


def npt_option(kind: str) -> Callable[[str], int]:
    """``--npt`` of a pattern or a cake: the bounds of :class:`IntegrationSettings`."""

    def parse(text: str) -> int:
        from ..core.integration.integrator import IntegrationSettings

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


def add_image_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="image file (HDF5: file.h5::/path/to/dataset)")
    p.add_argument("--frame", type=ranged("a frame index", 0, math.inf, integer=True), default=0,
                   help="frame index in a multi-frame file (default 0)")


def add_common_args(p: argparse.ArgumentParser, overwrite: bool = True) -> None:
    if overwrite:
        p.add_argument("--overwrite", action="store_true", help="replace output files that exist (default: refuse)")
    p.add_argument("--verbose", action="store_true",
                   help="show the libraries' log lines and warnings, and a traceback for an internal error")


def check_outputs(args: argparse.Namespace, outputs: list[tuple[str, str | None]], inputs: list[str | None]) -> None:
    """Before any work: each output can be written, is neither an input nor another output, and
    exists only with ``--overwrite`` (a long calibration must not end in a refusal)."""
    from ..core.integration.outputs import check_output_path

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


def session_for(args) -> CalibrationSession:
    from ..core.calibration.session import CalibrationSession

    session = CalibrationSession()
    session.load_image(args.image, args.frame)
    return session


def apply_mask(session, mask_path: str | None) -> None:
    if mask_path:
        from ..core.masks.model import read_mask

        session.user_mask = session.transform.apply(read_mask(mask_path, session.raw.shape)).copy()
