"""The pixels a mask shape covers, as a small block of the image (rasterisation, no state).

Coordinates are working-frame pixel indices as pyFAI uses them: pixel (i, j) has its centre at
row i, column j and spans [i - 0.5, i + 0.5). A pixel belongs to a shape when its centre does.
Polygons and rectangles follow the usual fill rule (top/left edges in, bottom/right edges out),
so shapes that share an edge never share a pixel; circles and ellipses include their outline.
Each function returns only the bounding block of the shape, so that drawing a small shape on a
4 Mpx image touches (and records for undo) only that block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyFAI.geometry import Geometry

from ..geometry.refinement import geometry_values, new_geometry


@dataclass(frozen=True)
class Region:
    """``block`` (bool) covers rows ``row0 …`` and columns ``col0 …`` of the image."""

    row0: int
    col0: int
    block: np.ndarray

    @property
    def slices(self) -> tuple[slice, slice]:
        rows, cols = self.block.shape
        return slice(self.row0, self.row0 + rows), slice(self.col0, self.col0 + cols)


def _box(shape: tuple[int, int], row_min: float, row_max: float, col_min: float, col_max: float):
    """Indices (inclusive) of the pixel centres inside [min, max] in both axes, clipped to the image."""
    r0, r1 = max(math.ceil(row_min), 0), min(math.floor(row_max), shape[0] - 1)
    c0, c1 = max(math.ceil(col_min), 0), min(math.floor(col_max), shape[1] - 1)
    if r0 > r1 or c0 > c1:
        return None
    return np.arange(r0, r1 + 1, dtype=float), np.arange(c0, c1 + 1, dtype=float)


def _region(box, block: np.ndarray) -> Region:
    rows, cols = box
    return Region(int(rows[0]), int(cols[0]), block)


_EMPTY = Region(0, 0, np.zeros((0, 0), bool))


def rectangle(shape: tuple[int, int], row0: float, col0: float, row1: float, col1: float) -> Region:
    """Pixels with centres in [min, max) of the two corners' rows and columns (as the same polygon)."""
    (r_lo, r_hi), (c_lo, c_hi) = sorted((row0, row1)), sorted((col0, col1))
    r0, r1 = max(math.ceil(r_lo), 0), min(math.ceil(r_hi), shape[0])
    c0, c1 = max(math.ceil(c_lo), 0), min(math.ceil(c_hi), shape[1])
    if r0 >= r1 or c0 >= c1:
        return _EMPTY
    return Region(r0, c0, np.ones((r1 - r0, c1 - c0), bool))


def ellipse(
    shape: tuple[int, int], row: float, col: float, radius_row: float, radius_col: float, angle_deg: float = 0.0
) -> Region:
    """Pixels inside the ellipse of centre (row, col) and semi-axes along rows/columns, turned by ``angle_deg``.

    The angle turns the ellipse counter-clockwise as seen on screen (rows grow downwards).
    """
    a, b = abs(float(radius_row)), abs(float(radius_col))
    theta = math.radians(angle_deg)
    cos, sin = math.cos(theta), math.sin(theta)
    half_rows = math.hypot(a * cos, b * sin)
    half_cols = math.hypot(a * sin, b * cos)
    box = _box(shape, row - half_rows, row + half_rows, col - half_cols, col + half_cols)
    if box is None:
        return _EMPTY
    dr = box[0][:, None] - row
    dc = box[1][None, :] - col
    u = cos * dr + sin * dc  # along the (turned) row axis
    v = -sin * dr + cos * dc
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = (u / a) ** 2 + (v / b) ** 2 <= 1.0 if a > 0 and b > 0 else (np.abs(u) <= a) & (np.abs(v) <= b)
    return _region(box, inside)


def circle(shape: tuple[int, int], row: float, col: float, radius: float) -> Region:
    return ellipse(shape, row, col, radius, radius)


def point(shape: tuple[int, int], row: float, col: float, radius: float = 0.0) -> Region:
    """A disc of ``radius`` pixels around the pixel under (row, col); radius 0 is that one pixel."""
    return circle(shape, float(round(row)), float(round(col)), radius)


def polygon(shape: tuple[int, int], vertices: np.ndarray) -> Region:
    """Pixels inside the closed polygon of (row, col) ``vertices`` (even-odd rule, any winding).

    Scanline fill: for each pixel row the crossings with every edge are counted cumulatively
    along the row, so the cost is rows x edges plus the block, whatever the polygon's size.
    """
    pts = np.asarray(vertices, dtype=float).reshape(-1, 2)
    if len(pts) < 3:
        return _EMPTY
    box = _box(shape, pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(), pts[:, 1].max())
    if box is None:
        return _EMPTY
    rows, cols = box
    r0, c0 = pts[:, 0], pts[:, 1]
    r1, c1 = np.roll(r0, -1), np.roll(c0, -1)
    y = rows[:, None]
    crosses = (r0[None, :] <= y) != (r1[None, :] <= y)  # half-open in rows: top edge in, bottom out
    with np.errstate(divide="ignore", invalid="ignore"):
        x = c0 + (y - r0) * (c1 - c0) / (r1 - r0)
    # a crossing at x counts for the pixels left of it (centre < x): those from the box start to ceil(x) - 1
    first_out = np.clip(np.ceil(np.where(crosses, x, cols[0])) - cols[0], 0, len(cols)).astype(np.intp)
    counts = np.zeros((len(rows), len(cols) + 1), np.int32)
    row_index = np.broadcast_to(np.arange(len(rows))[:, None], crosses.shape)
    np.add.at(counts, (row_index[crosses], first_out[crosses]), 1)
    total = crosses.sum(axis=1, keepdims=True)
    right_of = total - np.cumsum(counts, axis=1)[:, :-1]  # crossings right of each pixel centre
    return _region(box, right_of % 2 == 1)


def short_arc(start_deg: float, end_deg: float) -> tuple[float, float]:
    """The two angles ordered so that going up from the first to the second is the shorter way round."""
    return (start_deg, end_deg) if (end_deg - start_deg) % 360.0 <= 180.0 else (end_deg, start_deg)


def in_arc(angle_deg: np.ndarray, start_deg: float, end_deg: float) -> np.ndarray:
    """Angles on the arc going up from ``start_deg`` to ``end_deg`` (wrapping through ±180°)."""
    return (np.asarray(angle_deg) - start_deg) % 360.0 <= (end_deg - start_deg) % 360.0


def annulus(
    shape: tuple[int, int], row: float, col: float, r_inner: float, r_outer: float,
    angles_deg: tuple[float, float] | None = None,
) -> Region:
    """A ring (or, with ``angles_deg`` = (start, end), a sector of it) around (row, col), in pixels.

    Angles are ``atan2(row - centre row, column - centre column)`` in degrees, see ``in_arc``.
    """
    r_in, r_out = sorted((abs(float(r_inner)), abs(float(r_outer))))
    box = _box(shape, row - r_out, row + r_out, col - r_out, col + r_out)
    if box is None:
        return _EMPTY
    dr = box[0][:, None] - row
    dc = box[1][None, :] - col
    radius = np.hypot(dr, dc)
    inside = (radius >= r_in) & (radius <= r_out)
    if angles_deg is not None:
        inside &= in_arc(np.degrees(np.arctan2(dr, dc)), *angles_deg)
    return _region(box, inside)


class AngleMaps:
    """2θ and χ (degrees, float32) of every pixel for one geometry, kept until the geometry changes.

    Computed on a fresh copy of the geometry: pyFAI caches full-size arrays inside the geometry
    object, and the session's history keeps every geometry alive.
    """

    def __init__(self) -> None:
        self._cache: tuple[tuple, tuple[np.ndarray, np.ndarray]] | None = None  # (key, maps), replaced whole

    @staticmethod
    def _key_of(geometry: Geometry, shape: tuple[int, int]) -> tuple:
        return tuple(sorted(geometry_values(geometry).items())), id(geometry.detector), tuple(shape)

    def ready(self, geometry: Geometry, shape: tuple[int, int]) -> bool:
        """True if ``get`` answers at once (the maps of this geometry are already computed)."""
        cache = self._cache
        return cache is not None and cache[0] == self._key_of(geometry, shape)

    def get(self, geometry: Geometry, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        key, cache = self._key_of(geometry, shape), self._cache
        if cache is not None and cache[0] == key:
            return cache[1]
        probe = new_geometry(geometry.detector, **geometry_values(geometry))
        probe.chiDiscAtPi = geometry.chiDiscAtPi
        tth = np.degrees(probe.center_array(shape, unit="2th_rad", scale=False)).astype(np.float32)
        chi = np.degrees(probe.center_array(shape, unit="chi_rad", scale=False)).astype(np.float32)
        self._cache = (key, (tth, chi))
        return tth, chi


def sector(
    tth_deg: np.ndarray, chi_deg: np.ndarray, tth_range: tuple[float, float],
    chi_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Pixels with 2θ in ``tth_range`` and χ on the arc ``chi_range`` (None: all χ, an annulus)."""
    low, high = sorted(tth_range)
    inside = (tth_deg >= low) & (tth_deg <= high)
    if chi_range is not None:
        inside &= in_arc(chi_deg, *chi_range)
    return inside
