"""The user's picked peaks, grouped by ring, with undo and pyFAI ``.npt`` files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyFAI.control_points import ControlPoints as PyfaiControlPoints

from .atomic import atomic_write_text
from .errors import PickError
from .refinement import ControlPoints


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
        path = Path(path)
        if not path.is_file():
            raise PickError(f"Cannot read picks: {path} does not exist.")
        cp = PyfaiControlPoints()
        try:
            cp.load(str(path))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise PickError(f"Cannot read picks from {path.name}: {exc}") from exc
        picks = cls()
        for label in cp.get_labels():
            group = cp.get(lbl=label)
            if group.ring is None or not group.points:
                continue
            picks.add(int(group.ring), np.asarray(group.points, dtype=float))
        if not picks.groups:
            raise PickError(f"{path.name} holds no control points with a ring number.")
        return picks
