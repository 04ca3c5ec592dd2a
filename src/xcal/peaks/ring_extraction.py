"""Control points on every calibrant ring predicted by a geometry (automatic refinement).

Each ring is searched within ±Δ2θ of its predicted position, narrowed where neighbouring lines
are closer, so that a window never holds two rings. Rings too close to a neighbour to be resolved
on this detector are skipped rather than fitted to a blend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyFAI.geometry import Geometry

from ..core.errors import PickError
from ..core.geometry.refinement import ControlPoints, PointModel, ring_tth
from ..core.progress import Task, ensure_task
from .coordinates import GeometryCoordinate
from .quiet import quiet
from .sector_peaks import Candidates, SectorPoints, sector_points


@dataclass
class ExtractionOptions:
    """Dioptas-style options of the automatic peak search."""

    delta_tth_deg: float = 0.1  # half width of the search window around each predicted ring
    min_snr: float = 3.0  # "intensity min factor": peak over background noise
    max_intensity: float | None = 55000.0  # pixels above are saturated: their sectors are dropped
    max_rings: int | None = None  # use at most this many rings (lowest angles first)
    sector_px: float = 6.0  # arc length of one azimuthal sector in pixels
    min_points: int = 5  # a ring with fewer points is dropped
    method: str = "centroid"  # "centroid" (sub-pixel sectors), or pyFAI's "massif" / "blob" as in Dioptas


EXTRACTION_METHODS = ("centroid", "massif", "blob")


def visible_rings(geometry: Geometry, dspacing: np.ndarray, tth_range: tuple[float, float]) -> np.ndarray:
    """0-based indices of the calibrant lines whose 2θ lies within ``tth_range`` (rad)."""
    tth = ring_tth(dspacing, np.arange(len(dspacing)), geometry.wavelength)
    ok = np.isfinite(tth) & (tth > tth_range[0]) & (tth < tth_range[1])
    return np.flatnonzero(ok)


MIN_WINDOW_PX = 4.0  # a window must hold the peak and some background, whatever Δ2θ says


def search_windows(geometry: Geometry, dspacing: np.ndarray, rings: np.ndarray, delta_tth: float) -> tuple[np.ndarray, np.ndarray]:
    """Half width of each ring's window: Δ2θ (at least MIN_WINDOW_PX pixels), but less than half
    the gap to the nearest other line."""
    all_tth = ring_tth(dspacing, np.arange(len(dspacing)), geometry.wavelength)
    all_tth = np.sort(all_tth[np.isfinite(all_tth)])
    centres = ring_tth(dspacing, rings, geometry.wavelength)
    coordinate = GeometryCoordinate(geometry)
    min_half = MIN_WINDOW_PX / np.array([coordinate.pixels_per_radial_unit(c) for c in centres])
    half = np.maximum(float(delta_tth), min_half)
    for k, c in enumerate(centres):
        others = all_tth[np.abs(all_tth - c) > 1e-9]
        if len(others):
            half[k] = min(half[k], 0.45 * np.min(np.abs(others - c)))
    return centres, half


def _window_cells(geometry: Geometry, shape: tuple[int, int], centres: np.ndarray, half: np.ndarray, block: int):
    """The ``block`` x ``block`` cells that may hold pixels of a window, and the window of each.

    2θ is computed at the centre of each cell; a cell is kept when its 2θ is within a window
    widened by the 2θ change across a cell. Only the pixels of kept cells then get exact 2θ and
    χ from pyFAI: a fraction of a 4 Mpx image instead of all of it.
    """
    h, w = shape
    br = np.arange(0, h, block) + (block - 1) / 2.0
    bc = np.arange(0, w, block) + (block - 1) / 2.0
    grid_r, grid_c = np.meshgrid(br, bc, indexing="ij")
    tth = PointModel(geometry, grid_r.ravel(), grid_c.ravel()).tth().reshape(grid_r.shape)
    slope = np.zeros_like(tth)
    slope[:-1] = np.maximum(slope[:-1], np.abs(np.diff(tth, axis=0)))
    slope[:, :-1] = np.maximum(slope[:, :-1], np.abs(np.diff(tth, axis=1)))
    slope[-1] = np.maximum(slope[-1], slope[-2] if len(slope) > 1 else 0)
    slope[:, -1] = np.maximum(slope[:, -1], slope[:, -2] if slope.shape[1] > 1 else 0)
    j = np.clip(np.searchsorted(centres, tth), 1, max(len(centres) - 1, 1))
    nearest = j if len(centres) > 1 else np.zeros_like(j)
    if len(centres) > 1:
        nearest = np.where(np.abs(tth - centres[j - 1]) <= np.abs(tth - centres[j]), j - 1, j)
    near = np.abs(tth - centres[nearest]) < half[nearest] + slope
    cell_r, cell_c = np.nonzero(near)
    return cell_r, cell_c, nearest[near]


KEPT_BANDS = 12  # a thinned search keeps this many azimuthal bands, evenly spread
MAX_THINNING = 8


def _thinning(window_of_cell: np.ndarray, window_px: np.ndarray, block: int, sector_px: float, max_points: int) -> int:
    """How many times more points than ``max_points`` the windows would give (1: no thinning).

    A ring's arc length is its cells' area over its window's width; one point per ``sector_px``.
    """
    cells = np.bincount(window_of_cell, minlength=len(window_px))
    expected = np.sum(cells * block**2 / (window_px + 2 * block)) / sector_px  # cells overhang a window by ~1 each side
    return int(np.clip(np.rint(expected / max_points), 1, MAX_THINNING))


def _azimuth_bands(geometry: Geometry, cell_r: np.ndarray, cell_c: np.ndarray, block: int, every: int) -> np.ndarray:
    """Cells in one azimuthal band out of ``every``: KEPT_BANDS bands spread around the beam."""
    chi = PointModel(geometry, cell_r * block + (block - 1) / 2.0, cell_c * block + (block - 1) / 2.0).chi()
    band = ((chi + np.pi) * (KEPT_BANDS * every / (2 * np.pi))).astype(np.int64)
    return band % every == 0


def _cell_pixels(valid: np.ndarray, cell_r: np.ndarray, cell_c: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """The valid pixels (rows, cols) of the cells: no full-resolution temporaries."""
    h, w = valid.shape
    offsets = np.arange(block)
    rows = (cell_r[:, None, None] * block + offsets[None, :, None]).repeat(block, axis=2).ravel()
    cols = (cell_c[:, None, None] * block + offsets[None, None, :]).repeat(block, axis=1).ravel()
    inside = (rows < h) & (cols < w)
    rows, cols = rows[inside], cols[inside]
    keep = valid[rows, cols]
    return rows[keep], cols[keep]


def _window_candidates(data: np.ndarray, valid: np.ndarray, geometry: Geometry, centres: np.ndarray, half: np.ndarray,
                       window_px: np.ndarray, sector_px: float, max_points: int | None, block: int = 4) -> tuple[Candidates, bool]:
    """The valid pixels that may lie in a window, with their exact 2θ and χ, and whether they were
    thinned (to about ``max_points`` points' worth of azimuthal bands, when given)."""
    cell_r, cell_c, window_of_cell = _window_cells(geometry, data.shape, centres, half, block)
    every = 1
    if max_points is not None:  # cells whose centre pixel is masked hold no ring points
        h, w = data.shape
        open_cell = valid[np.minimum(cell_r * block + block // 2, h - 1), np.minimum(cell_c * block + block // 2, w - 1)]
        every = _thinning(window_of_cell[open_cell], window_px, block, sector_px, max_points)
    if every > 1:
        band = _azimuth_bands(geometry, cell_r, cell_c, block, every)
        cell_r, cell_c = cell_r[band], cell_c[band]
    rows, cols = _cell_pixels(valid, cell_r, cell_c, block)
    model = PointModel(geometry, rows, cols)
    return Candidates(model.rows, model.cols, data[rows, cols].astype(np.float64), model.tth(), model.chi()), every > 1


def extract_rings(
    data: np.ndarray,
    invalid: np.ndarray | None,
    geometry: Geometry,
    dspacing: np.ndarray,
    options: ExtractionOptions | None = None,
    rings: np.ndarray | None = None,
    tth_range: tuple[float, float] | None = None,
    task: Task | None = None,
    max_points: int | None = None,
    whole_if_sparse: bool = True,
) -> ControlPoints:
    """Sub-pixel control points on each calibrant ring visible for ``geometry``.

    :param rings: restrict to these 0-based rings (default: all within ``tth_range``, up to ``max_rings``).
    :param tth_range: 2θ range (rad) covered by the valid pixels, if the caller knows it.
    :param max_points: about as many points suffice (an intermediate refinement pass): the rings
        are then searched on evenly spread azimuthal bands only, at a fraction of the cost.
    :param whole_if_sparse: when the bands hold fewer than half of ``max_points`` (spotty or weak
        rings), search the rings whole. Off where searches must stay alike to be compared.
    """
    opts = options or ExtractionOptions()
    task = ensure_task(task)
    empty = ControlPoints(np.empty(0), np.empty(0), np.empty(0, np.int64))
    valid = np.isfinite(data) if invalid is None else (~invalid & np.isfinite(data))
    if not valid.any():
        return empty
    if rings is None:
        rings = visible_rings(geometry, dspacing, tth_range or image_tth_range(geometry, valid))
    rings = np.asarray(rings, dtype=np.int64)
    if opts.max_rings is not None:
        rings = rings[: opts.max_rings]
    if len(rings) == 0:
        return empty
    coordinate = GeometryCoordinate(geometry)
    centres, half = search_windows(geometry, dspacing, rings, np.deg2rad(opts.delta_tth_deg))
    pixel_tth = 1.0 / np.array([coordinate.pixels_per_radial_unit(c) for c in centres])
    resolvable = half > 2.0 * pixel_tth  # a window narrower than ~2 px cannot hold a resolved ring
    order = np.argsort(centres[resolvable])
    rings, centres, half, pixel_tth = (a[resolvable][order] for a in (rings, centres, half, pixel_tth))
    if len(rings) == 0:
        return empty
    pixels, thinned = _window_candidates(data, valid, geometry, centres, half, 2 * half / pixel_tth, opts.sector_px, max_points)
    windows = pixels.split_windows(centres, half)
    if opts.method != "centroid":
        points = _pyfai_peaks(data, invalid, rings, windows, opts, task)
    else:
        points = _centroid_points(geometry, coordinate, rings, centres, half, windows, opts, task)
    if thinned and whole_if_sparse and len(points) < max_points / 2:  # rings sparser than their windows suggest
        return extract_rings(data, invalid, geometry, dspacing, options, rings, task=task)
    return points


def _centroid_points(geometry: Geometry, coordinate, rings, centres, half, windows, opts: ExtractionOptions, task: Task) -> ControlPoints:
    """Points of each ring's window by sector centroids; rings with too few points, or as wide as
    their window (not a resolved peak), give none."""
    parts = []
    pixel_size = float(np.sqrt(geometry.detector.pixel1 * geometry.detector.pixel2))
    for k, (ring, centre, hw, win) in enumerate(zip(rings, centres, half, windows)):
        task.report(k / len(rings), f"Searching ring {ring + 1}")
        radius_px = geometry.dist * np.tan(centre) / pixel_size
        n_sectors = int(np.clip(2 * np.pi * radius_px / opts.sector_px, 24, 2880))
        found = _ring_points(win, coordinate, centre, hw, n_sectors, opts)
        if len(found) < opts.min_points or not (found.fwhm < 1.2 * hw):
            continue
        parts.append(ControlPoints(found.rows, found.cols, np.full(len(found), ring), found.snr))
    task.report(1.0, "Ring search done")
    return ControlPoints.concatenate(parts)


LONGER_SECTORS = 4  # a faint ring is searched again with sectors this many times longer
MIN_SECTORS = 8


def _ring_points(win: Candidates, coordinate, centre: float, hw: float, n_sectors: int, opts: ExtractionOptions) -> SectorPoints:
    """Points on one ring; sectors are made longer (more pixels, less noise) while a ring shows in
    too few of them: a ring too faint for a 6-pixel arc often shows clearly over a 100-pixel one."""
    found = sector_points(win, coordinate, centre, hw, n_sectors, opts.min_snr, opts.max_intensity)
    while n_sectors > MIN_SECTORS and len(win) and len(found) < 0.3 * n_sectors:
        sector = np.minimum(((win.azimuth + np.pi) / (2 * np.pi) * n_sectors).astype(np.int64), n_sectors - 1)
        occupied = np.count_nonzero(np.bincount(sector, minlength=n_sectors))  # sectors the image covers
        if len(found) >= 0.3 * occupied:
            break
        n_sectors = max(MIN_SECTORS, n_sectors // LONGER_SECTORS)
        longer = sector_points(win, coordinate, centre, hw, n_sectors, opts.min_snr, opts.max_intensity)
        if len(longer) * LONGER_SECTORS <= len(found):  # no more of the ring covered: it is not there
            break
        found = longer
    return found


def image_tth_range(geometry: Geometry, valid: np.ndarray, block: int = 8) -> tuple[float, float]:
    """2θ range (rad) covered by the valid pixels, from a coarse grid plus the image corners."""
    h, w = valid.shape
    rows = np.unique(np.concatenate([np.arange(0, h, block), [h - 1]]))
    cols = np.unique(np.concatenate([np.arange(0, w, block), [w - 1]]))
    sub = valid[np.ix_(rows, cols)]
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    if not sub.any():
        sub = np.ones_like(sub)
    tth = PointModel(geometry, rr[sub], cc[sub]).tth()
    margin = float(np.abs(np.diff(PointModel(geometry, np.array([0.0, block]), np.array([0.0, block])).tth()))[0])
    return float(tth.min() - margin), float(tth.max() + margin)


def _pyfai_peaks(data, invalid, rings, windows, opts: ExtractionOptions, task: Task) -> ControlPoints:
    """Dioptas' way: pyFAI's Massif or blob detection ``peaks_from_area`` on each ring's window.

    Points sit on local maxima (pixel precision, bilinear-refined by pyFAI), so this is less
    precise than the centroid method; it is offered for users who expect Dioptas' behaviour.
    """
    if opts.method not in EXTRACTION_METHODS:
        raise PickError(f"Unknown peak search method {opts.method!r}: use one of {', '.join(EXTRACTION_METHODS)}.")
    clean = np.where(invalid if invalid is not None else ~np.isfinite(data), 0, data).astype(np.float32)
    bad = invalid if invalid is not None else ~np.isfinite(data)
    if opts.method == "massif":
        from pyFAI.massif import Massif

        finder = Massif(clean, bad)
        finder.log_info = False
    else:
        from pyFAI.blob_detection import BlobDetection

        finder = BlobDetection(clean, init_sigma=1.0, dest_sigma=2.0, mask=bad.astype(np.int8))
        with quiet("pyFAI.blob_detection"):
            finder.process()
    parts = []
    for k, (ring, win) in enumerate(zip(rings, windows)):
        task.report(k / len(rings), f"Searching ring {ring + 1} ({opts.method})")
        if len(win) < 10:
            continue
        values = win.intensity if opts.max_intensity is None else win.intensity[win.intensity <= opts.max_intensity]
        if len(values) == 0:
            continue
        mean, std = float(np.mean(values)), float(np.std(values))
        # Dioptas' rule: search where the data exceed factor·mean + std of the ring window.
        bright = win.intensity > opts.min_snr * mean + std
        if opts.max_intensity is not None:
            bright &= win.intensity <= opts.max_intensity
        keep = int(np.ceil(np.sqrt(bright.sum())))
        if opts.method == "blob":  # keypoints sit at blob scale, beside the brightest pixels: search the window
            bright = np.ones(len(win), bool)
        area = np.zeros(data.shape, bool)
        area[win.rows[bright].astype(np.intp), win.cols[bright].astype(np.intp)] = True
        if keep == 0:
            continue
        with quiet("pyFAI.blob_detection", "pyFAI.massif"):
            # Massif's Imin is a data level; blob keypoints carry a DoG response instead.
            imin = mean - std if opts.method == "massif" else None
            found = finder.peaks_from_area(area, Imin=imin, keep=keep, dmin=0.0, refine=True)
        pts = np.array([p for p in found if opts.max_intensity is None or data[int(round(p[0])), int(round(p[1]))] <= opts.max_intensity], dtype=float).reshape(-1, 2)
        if len(pts) >= opts.min_points:
            parts.append(ControlPoints(pts[:, 0], pts[:, 1], np.full(len(pts), ring)))
    task.report(1.0, "Ring search done")
    return ControlPoints.concatenate(parts)
