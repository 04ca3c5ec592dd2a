"""The user's picked peaks, grouped by ring, with undo and pyFAI ``.npt`` files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PickError
from ..geometry.refinement import ControlPoints
from ..io.atomic import atomic_write_text
from ..io.file_checks import decimal_number, file_problem, os_error_reason


@dataclass
class PickGroup:
    """Points picked with one click (a whole ring or one peak); ``ring`` is 0-based."""

    ring: int
    points: np.ndarray  # (N, 2) rows, cols


class PickSet:
    """Ordered groups of picks; the last group added is the first undone."""

    def __init__(self) -> None:
        self.groups: list[PickGroup] = []

    def __len__(self) -> int:
        return sum(len(g.points) for g in self.groups)

    def add(self, ring: int, points: np.ndarray) -> PickGroup:
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        if ring < 0:
            raise PickError(f"Ring numbers start at 1 (got {ring + 1}).")
        if len(pts) == 0:
            raise PickError("No peak was found at the click.")
        group = PickGroup(int(ring), pts)
        self.groups.append(group)
        return group

    def undo(self) -> PickGroup | None:
        return self.groups.pop() if self.groups else None

    def remove(self, index: int) -> None:
        del self.groups[index]

    def clear(self) -> None:
        self.groups.clear()

    def rings(self) -> list[int]:
        return sorted({g.ring for g in self.groups})

    def shift_rings(self, shift: int) -> None:
        """Add ``shift`` to every ring number (the image said the typed numbers are off by that much)."""
        if self.groups and min(g.ring for g in self.groups) + shift < 0:
            raise PickError(f"Ring numbers moved by {shift:+d} would start below 1.")
        for group in self.groups:
            group.ring += shift

    def control_points(self) -> ControlPoints:
        if not self.groups:
            return ControlPoints(np.empty(0), np.empty(0), np.empty(0, np.int64))
        pts = np.concatenate([g.points for g in self.groups])
        rings = np.concatenate([np.full(len(g.points), g.ring) for g in self.groups])
        return ControlPoints(pts[:, 0], pts[:, 1], rings)

    def save_npt(self, path: str | Path, dspacing: np.ndarray, wavelength: float | None) -> None:
        """Write pyFAI's control-point format (readable by pyFAI-calib2), atomically.

        Written here rather than by pyFAI's ``ControlPoints.save``, whose "calibrant:" line for an
        unnamed calibrant makes its own reader log errors.
        """
        lines = [
            "# set of control point used by pyFAI to calibrate the geometry of a scattering experiment",
            "#angles are in radians, wavelength in meter and positions in pixels",
        ]
        if wavelength:
            lines.append(f"wavelength: {wavelength!r}")
        lines.append("dspacing: " + " ".join(repr(float(d)) for d in dspacing))
        tth = 2 * np.arcsin(np.clip(wavelength / (2e-10 * np.asarray(dspacing, float)), -1, 1)) if wavelength else None
        for index, g in enumerate(self.groups):
            lines += ["", f"New group of points: {index}"]
            if tth is not None and g.ring < len(tth):
                lines.append(f"2theta: {float(tth[g.ring])!r}")
            lines.append(f"ring: {g.ring}")
            lines += [f"point: x={float(col)!r} y={float(row)!r}" for row, col in g.points]
        atomic_write_text(path, "\n".join(lines) + "\n")

    @classmethod
    def load_npt(cls, path: str | Path) -> "PickSet":
        """Read the groups of a pyFAI control-point file (ring numbers and points; the rest is checked, not used).

        Read here rather than by pyFAI's ``ControlPoints.load``, which skips a line it cannot
        convert (a damaged point is silently lost), keeps NaN points and negative ring numbers,
        and raises raw errors on some damage: every line must make sense, or the file is refused.
        """
        path = Path(path)
        if not path.exists():
            raise PickError(f"Cannot read picks: {path} does not exist.")
        problem = file_problem(path)
        if problem:
            raise PickError(f"Cannot read picks from {path.name}: {problem}.")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise PickError(f"Cannot read picks from {path.name}: not a text file (not UTF-8).") from None
        except OSError as exc:
            raise PickError(f"Cannot read picks from {path.name}: {os_error_reason(exc)}.") from None
        picks = cls()
        for ring, points in _npt_groups(path.name, text):
            if ring is not None:  # pyFAI writes "ring: None" for a group not yet assigned
                picks.add(ring, np.array(points))
        if not picks.groups:
            raise PickError(f"{path.name} holds no control points with a ring number.")
        return picks


MAX_RING = 10_000
"""Far more lines than any calibrant has within a detector's reach: a larger ring number is damage."""
MAX_PIXEL = 1e6
"""Far beyond any detector (the largest are about 10 000 pixels across): a larger coordinate is damage."""

_POINT = re.compile(r"x=(\S+)\s+y=(\S+)")
_RING = re.compile(r"[+-]?[0-9]+")


def _npt_groups(name: str, text: str) -> list[tuple[int | None, list[tuple[float, float]]]]:
    """(ring, [(row, col)...]) for each group of points, grouped as pyFAI groups them.

    A "New group" line closes the group before it, if it has points; a ring line names the
    ring of the group it is in.
    """
    groups: list[tuple[int | None, list[tuple[float, float]]]] = []
    ring: int | None = None
    points: list[tuple[float, float]] = []
    for number, line in enumerate(text.split("\n"), start=1):  # as pyFAI: \v, \f, \x85... end no line
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        where = f"{name}, line {number}"
        if not sep:
            raise PickError(f"{where}: not a 'key: value' line: {line[:60]!r}")
        if key.startswith("new"):
            if points:
                groups.append((ring, points))
                ring, points = None, []
        elif key == "ring":
            ring = _npt_ring(where, value)
        elif key == "point":
            points.append(_npt_point(where, value))
        else:
            _npt_check_other(where, key, value)
    if points:
        groups.append((ring, points))
    return groups


def _npt_ring(where: str, value: str) -> int | None:
    if value.lower() == "none":
        return None
    if not _RING.fullmatch(value):
        raise PickError(f"{where}: the ring number {value!r} is not a whole number")
    ring = int(value)
    if not 0 <= ring <= MAX_RING:
        raise PickError(f"{where}: impossible ring number {ring} (pyFAI numbers rings from 0 to at most {MAX_RING})")
    return ring


def _npt_point(where: str, value: str) -> tuple[float, float]:
    """(row, col) of a ``point: x=<col> y=<row>`` line."""
    match = _POINT.fullmatch(value)
    x, y = (decimal_number(text) for text in match.groups()) if match else (None, None)
    if x is None or y is None:
        raise PickError(f"{where}: the point {value!r} is not 'x=<number> y=<number>' with two finite numbers")
    if max(abs(x), abs(y)) > MAX_PIXEL:
        raise PickError(f"{where}: the point {value!r} is millions of pixels off any detector")
    return y, x


def _npt_check_other(where: str, key: str, value: str) -> None:
    """The lines xcal does not use must still be what pyFAI writes: a damaged one means a damaged file."""
    if key == "calibrant":
        if not value:
            raise PickError(f"{where}: the calibrant line names no calibrant")
        return
    if key == "wavelength":
        wavelength = decimal_number(value)
        if wavelength is None or not 1e-13 <= wavelength <= 1e-8:
            raise PickError(f"{where}: the wavelength {value!r} is not a number of metres between 1e-13 and 1e-8")
        return
    if key == "dspacing":
        for text in value.split():
            spacing = decimal_number(text)
            if spacing is None or spacing <= 0:
                raise PickError(f"{where}: the d-spacing {text!r} is not a positive number")
        return
    if key == "2theta":
        if decimal_number(value) is None:
            raise PickError(f"{where}: the 2theta {value!r} is not a number")
        return
    raise PickError(f"{where}: unknown key {key!r}")
