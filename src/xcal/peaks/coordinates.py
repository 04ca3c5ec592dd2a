"""Ring coordinates: a radial value constant along each ring, and an azimuth around it.

Peak extraction works in these coordinates. Without a geometry (right after a click) rings are
approximated as ellipses in pixel space; with a geometry the radial coordinate is pyFAI's 2θ.
Pixel coordinates follow pyFAI: ``row``/``col`` are pixel indices, pixel i has its centre at i.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from pyFAI.geometry import Geometry

from ..core.geometry.refinement import PointModel


class RingCoordinate(Protocol):
    def radial(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray: ...

    def azimuth(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray: ...

    def pixels_per_radial_unit(self, radial_value: float) -> float:
        """Approximate pixels per radial unit at a ring, to size windows in pixels."""
        ...


@dataclass(frozen=True)
class EllipseCoordinate:
    """Normalised elliptical radius: 1 on the ellipse, 0 at its centre.

    ``angle`` is the direction of the ``a`` axis, in radians from the column axis towards rows.
    """

    row: float
    col: float
    a: float
    b: float
    angle: float = 0.0

    @classmethod
    def circle(cls, row: float, col: float, radius: float) -> "EllipseCoordinate":
        return cls(row, col, radius, radius, 0.0)

    def _uv(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dy = np.asarray(rows, dtype=float) - self.row
        dx = np.asarray(cols, dtype=float) - self.col
        c, s = np.cos(self.angle), np.sin(self.angle)
        return (dx * c + dy * s) / self.a, (-dx * s + dy * c) / self.b

    def radial(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        u, v = self._uv(rows, cols)
        return np.hypot(u, v)

    def azimuth(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        u, v = self._uv(rows, cols)
        return np.arctan2(v, u)

    def pixels_per_radial_unit(self, radial_value: float = 1.0) -> float:
        return float(np.sqrt(self.a * self.b))

    def points(self, phi: np.ndarray, radial_value: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (rows, cols) of the curve of given radial value at azimuths ``phi``."""
        u = radial_value * self.a * np.cos(phi)
        v = radial_value * self.b * np.sin(phi)
        c, s = np.cos(self.angle), np.sin(self.angle)
        return self.row + u * s + v * c, self.col + u * c - v * s


class GeometryCoordinate:
    """2θ (radians) and χ of a pyFAI geometry."""

    def __init__(self, geometry: Geometry) -> None:
        self.geometry = geometry

    def radial(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return PointModel(self.geometry, rows, cols).tth()

    def azimuth(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return PointModel(self.geometry, rows, cols).chi()

    def pixels_per_radial_unit(self, radial_value: float) -> float:
        g = self.geometry
        pixel = float(np.sqrt(g.detector.pixel1 * g.detector.pixel2))
        return g.dist / pixel / max(np.cos(radial_value) ** 2, 1e-6)
