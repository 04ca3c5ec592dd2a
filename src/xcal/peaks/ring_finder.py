"""Rings found on an image with no clicks: the beam centre and the visible rings.

Bright thin rings are ridges: across a ring the image curves down strongly, along it hardly at
all. The Hessian of a binned, variance-stabilised image finds ridge pixels and their across-ring
direction, which points at the ring's centre. Lines through the ridge pixels in that direction
vote in an accumulator (a Hough transform for concentric rings), which also covers a centre
beyond the image edge. The votes' least-squares intersection refines the centre, then the ridge
pixels are grouped into rings by their distance from it, and each group gets its own circle: a
tilted detector makes the rings ellipses whose centres drift outwards, so rings are grouped
outwards from the strongest, each with the centre of its neighbour.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

from ..core.geometry.conics import fit_circle
from ..core.geometry.refinement import mad_outliers

TARGET_SIZE = 512  # binned image size: enough resolution for a first centre, fast on 4 Mpx
MAX_VOTERS = 4000  # ridge pixels voting in the accumulator
NOISE_BLOCK = 16  # binned pixels per block of the local noise estimate
MAX_STRENGTH = 20.0
MIN_RIDGE_PIXELS = 8  # connected ridge pixels (binned) for a piece of ring  # ridge strength cap, in units of the local noise


@dataclass
class Ridges:
    """Ridge pixels of the binned image, in full-resolution pixel coordinates (pixel centre at i)."""

    rows: np.ndarray
    cols: np.ndarray
    dir_rows: np.ndarray  # unit vector across the ridge (towards or away from the ring centre)
    dir_cols: np.ndarray
    strength: np.ndarray  # ridge strength over the local noise
    binning: int
    shape: tuple[int, int]  # full-resolution image shape


@dataclass
class FoundRing:
    """A ring found on the image: a circle through its ridge pixels."""

    row: float  # circle centre
    col: float
    radius: float  # pixels
    points: np.ndarray  # (N, 2) ridge pixels on the ring (full resolution, ±1 binned pixel)
    arc_deg: float  # azimuthal coverage of the points
    strength: float  # summed ridge strength: bright, long rings first


@dataclass
class RingSearch:
    centre: tuple[float, float]  # (row, col) where the rings' normals meet
    contrast: float  # accumulator peak over its median: how clearly the rings are concentric
    rings: list[FoundRing]  # sorted by radius


def _binned(data: np.ndarray, valid: np.ndarray, b: int) -> np.ndarray:
    """Mean of the valid pixels of each b×b block; NaN where less than half the block is valid."""
    h, w = (data.shape[0] // b) * b, (data.shape[1] // b) * b
    shape = (h // b, b, w // b, b)
    total = np.where(valid, data, 0.0)[:h, :w].reshape(shape).sum(axis=(1, 3), dtype=np.float64)
    count = valid[:h, :w].reshape(shape).sum(axis=(1, 3))
    out = np.full(total.shape, np.nan)
    ok = count > 0.5 * b * b
    out[ok] = total[ok] / count[ok]
    return out


def _fill(img: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """NaNs replaced by a normalised Gaussian average of their valid neighbours (no false edges)."""
    ok = np.isfinite(img)
    weight = ndimage.gaussian_filter(ok.astype(float), sigma)
    smooth = ndimage.gaussian_filter(np.where(ok, img, 0.0), sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(ok, img, smooth / weight)
    return np.where(np.isfinite(out), out, np.nanmedian(img[ok]) if ok.any() else 0.0)


def _local_noise(x: np.ndarray, block: int) -> np.ndarray:
    """Robust noise (scaled MAD) of ``x`` in blocks, expanded to ``x``'s shape; NaNs ignored."""
    h, w = x.shape
    nr, nc = -(-h // block), -(-w // block)
    padded = np.full((nr * block, nc * block), np.nan)
    padded[:h, :w] = x
    blocks = padded.reshape(nr, block, nc, block).transpose(0, 2, 1, 3).reshape(nr, nc, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks (gaps, masked corners)
        med = np.nanmedian(blocks, axis=2)
        mad = 1.4826 * np.nanmedian(np.abs(blocks - med[..., None]), axis=2)
    typical = np.nanmedian(mad) if np.isfinite(mad).any() else 1.0
    mad = np.where(np.isfinite(mad) & (mad > 0), mad, typical)
    return np.repeat(np.repeat(mad, block, axis=0), block, axis=1)[:h, :w]


def find_ridges(data: np.ndarray, invalid: np.ndarray | None, sigma: float = 1.2, fraction: float = 0.03) -> Ridges:
    """Ridge pixels: the strongest line-like maxima (about ``fraction`` of the binned pixels).

    The square root makes Poisson noise uniform; the strength is divided by the local noise so
    that weak outer rings count as much as the bright inner ones.
    """
    valid = np.isfinite(data) if invalid is None else (~invalid & np.isfinite(data))
    b = max(1, int(round(max(data.shape) / TARGET_SIZE)))
    img = _binned(data, valid, b)
    bad = ~np.isfinite(img)
    low = np.nanpercentile(img, 1) if (~bad).any() else 0.0
    v = _fill(np.sqrt(np.clip(img - low, 0, None)))
    hrr = ndimage.gaussian_filter(v, sigma, order=(2, 0))
    hcc = ndimage.gaussian_filter(v, sigma, order=(0, 2))
    hrc = ndimage.gaussian_filter(v, sigma, order=(1, 1))
    mean, half_diff = (hrr + hcc) / 2, np.sqrt(((hrr - hcc) / 2) ** 2 + hrc**2)
    across, along = mean - half_diff, mean + half_diff  # Hessian eigenvalues
    near_bad = ndimage.binary_dilation(bad, iterations=int(np.ceil(3 * sigma))) if bad.any() else bad
    z = np.where(near_bad, 0.0, -across) / _local_noise(np.where(near_bad, np.nan, across), NOISE_BLOCK)
    linear = np.abs(along) < 0.5 * np.abs(across)
    candidates = z[linear & (z > 0)]
    threshold = 3.0
    if len(candidates):
        keep = min(1.0, fraction * z.size / len(candidates))
        threshold = max(threshold, float(np.percentile(candidates, 100 * (1 - keep))))
    ridge = linear & (z > threshold)
    # rings are long connected ridges; noise makes specks
    labels, n = ndimage.label(ridge, structure=np.ones((3, 3)))
    if n:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        ridge = sizes[labels] >= MIN_RIDGE_PIXELS
    rr, cc = np.nonzero(ridge)
    er, ec = across[rr, cc] - hcc[rr, cc], hrc[rr, cc]  # eigenvector of the across eigenvalue
    norm = np.hypot(er, ec)
    norm[norm == 0] = 1.0
    ur, uc = er / norm, ec / norm
    # sub-pixel: the vertex of a parabola through the ridge response one pixel either side, across the ridge
    response = -across
    ahead = ndimage.map_coordinates(response, [rr + ur, cc + uc], order=1, mode="nearest")
    behind = ndimage.map_coordinates(response, [rr - ur, cc - uc], order=1, mode="nearest")
    here = response[rr, cc]
    curvature = ahead - 2 * here + behind
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.where(curvature < 0, 0.5 * (behind - ahead) / curvature, 0.0)
    shift = np.clip(np.nan_to_num(shift), -0.5, 0.5)
    rows, cols = rr + shift * ur, cc + shift * uc
    # capped: one saturated edge (a beamstop, a hot streak) must not outweigh whole rings
    strength = np.minimum(z[rr, cc], MAX_STRENGTH)
    return Ridges((rows + 0.5) * b - 0.5, (cols + 0.5) * b - 0.5, ur, uc, strength, b, tuple(data.shape))


def _vote(ridges: Ridges, cell: int = 2, seed: int = 0) -> tuple[tuple[float, float], float]:
    """Accumulator peak of the lines across the ridges, over the image and half its size around.

    The accumulator is coarse (``cell`` binned pixels): it only has to find the basin that the
    least-squares intersection then refines.
    """
    step = ridges.binning * cell
    pick = np.arange(len(ridges.rows))
    if len(pick) > MAX_VOTERS:
        pick = np.random.default_rng(seed).choice(len(pick), MAX_VOTERS, replace=False)
    rows, cols = (ridges.rows[pick] + 0.5) / step - 0.5, (ridges.cols[pick] + 0.5) / step - 0.5
    h, w = -(-ridges.shape[0] // step), -(-ridges.shape[1] // step)
    margin = max(h, w) // 2
    ah, aw = h + 2 * margin, w + 2 * margin
    t = np.arange(-np.hypot(ah, aw), np.hypot(ah, aw) + 1, dtype=np.float32)
    ir = np.rint(rows[:, None] + margin + ridges.dir_rows[pick, None] * t).astype(np.int32)
    ic = np.rint(cols[:, None] + margin + ridges.dir_cols[pick, None] * t).astype(np.int32)
    inside = (ir >= 0) & (ir < ah) & (ic >= 0) & (ic < aw)
    acc = np.bincount(ir[inside] * aw + ic[inside], minlength=ah * aw).reshape(ah, aw).astype(float)
    acc = ndimage.gaussian_filter(acc, 1.0)
    i, j = np.unravel_index(np.argmax(acc), acc.shape)
    contrast = float(acc[i, j] / max(np.median(acc[acc > 0]), 1e-12))
    return ((i - margin + 0.5) * step - 0.5, (j - margin + 0.5) * step - 0.5), contrast


def _intersection(ridges: Ridges, start: tuple[float, float]) -> tuple[float, float]:
    """Robust least-squares meeting point of the lines across the ridges (Cauchy weights)."""
    nr, nc = -ridges.dir_cols, ridges.dir_rows  # normals of the lines
    offset = nr * ridges.rows + nc * ridges.cols
    centre = np.array(start, dtype=float)
    b = ridges.binning
    for scale in (4 * b, 2 * b, b, b / 2):
        d = nr * centre[0] + nc * centre[1] - offset
        w = 1.0 / (1.0 + (d / scale) ** 2)
        a = np.array([[np.sum(w * nr * nr), np.sum(w * nr * nc)], [np.sum(w * nr * nc), np.sum(w * nc * nc)]])
        y = np.array([np.sum(w * nr * offset), np.sum(w * nc * offset)])
        try:
            centre = np.linalg.solve(a, y)
        except np.linalg.LinAlgError:
            break
    return float(centre[0]), float(centre[1])


def _radius_peaks(radius: np.ndarray, weight: np.ndarray, step: float, min_separation: float) -> np.ndarray:
    """Radii where the ridge pixels pile up (histogram maxima, strongest first)."""
    edges = np.arange(0.0, radius.max() + 2 * step, step)
    hist, _ = np.histogram(radius, edges, weights=weight)
    hist = ndimage.gaussian_filter1d(hist.astype(float), 1.0)
    peaks, props = signal.find_peaks(hist, distance=max(1, int(min_separation / step)), prominence=hist.max() * 0.02)
    order = np.argsort(props["prominences"])[::-1]
    return (edges[peaks[order]] + step / 2)


def arc_coverage_deg(rows: np.ndarray, cols: np.ndarray, centre: tuple[float, float]) -> float:
    phi = np.degrees(np.arctan2(rows - centre[0], cols - centre[1]))
    covered = np.zeros(72, bool)
    covered[((phi + 180) // 5).astype(int) % 72] = True
    return 5.0 * covered.sum()


def _ring_at(ridges: Ridges, centre: tuple[float, float], radius: float, half: float) -> FoundRing | None:
    """Circle through the ridge pixels within ``half`` of ``radius`` about ``centre``."""
    r = np.hypot(ridges.rows - centre[0], ridges.cols - centre[1])
    # a ring's ridge pixels point at its centre: the line across the ridge passes near it
    off_line = np.abs(-ridges.dir_cols * (centre[0] - ridges.rows) + ridges.dir_rows * (centre[1] - ridges.cols))
    sel = (np.abs(r - radius) < half) & (off_line < max(half, 0.1 * radius))
    if sel.sum() < 8:
        return None
    rows, cols = ridges.rows[sel], ridges.cols[sel]
    keep = np.ones(len(rows), bool)
    for _ in range(3):
        try:
            circle = fit_circle(rows[keep], cols[keep])
        except ValueError:
            return None
        resid = np.hypot(rows - circle.row, cols - circle.col) - circle.radius
        new = ~mad_outliers(resid, 3.5, floor=0.5 * ridges.binning)
        if new.sum() < 8 or (new == keep).all():
            break
        keep = new
    if abs(circle.radius - radius) > 2 * half + 0.2 * radius:
        return None
    strength = float(ridges.strength[sel][keep].sum())
    return FoundRing(circle.row, circle.col, circle.radius, np.column_stack([rows[keep], cols[keep]]),
                     arc_coverage_deg(rows[keep], cols[keep], (circle.row, circle.col)), strength)


def _same_ring(a: FoundRing, b: FoundRing, tolerance: float) -> bool:
    """Whether most of ``a``'s points lie on ``b``'s circle (one ring found from two centres)."""
    off = np.abs(np.hypot(a.points[:, 0] - b.row, a.points[:, 1] - b.col) - b.radius)
    return bool(np.median(off) < tolerance)


def find_rings(data: np.ndarray, invalid: np.ndarray | None, max_rings: int = 30) -> RingSearch:
    """Beam centre and the rings visible on the image, from the image alone."""
    ridges = find_ridges(data, invalid)
    if len(ridges.rows) < 20:
        return RingSearch((data.shape[0] / 2, data.shape[1] / 2), 0.0, [])
    coarse, contrast = _vote(ridges)
    centre = _intersection(ridges, coarse)
    b = ridges.binning
    half = 2.0 * b
    r = np.hypot(ridges.rows - centre[0], ridges.cols - centre[1])
    near = np.abs(-ridges.dir_cols * (centre[0] - ridges.rows) + ridges.dir_rows * (centre[1] - ridges.cols)) < 0.15 * np.maximum(r, 1)
    radii = _radius_peaks(r[near], ridges.strength[near], b / 2, 2 * half) if near.sum() > 8 else np.empty(0)
    rings: list[FoundRing] = []
    for radius in radii[: 3 * max_rings]:
        # the ring's own centre drifts with its radius on a tilted detector: start from the nearest ring found
        ref = min(rings, key=lambda g: abs(g.radius - radius), default=None)
        around = (ref.row, ref.col) if ref is not None else centre
        ring = _ring_at(ridges, around, radius, half)
        if ring is None or any(_same_ring(ring, g, half) for g in rings):
            continue
        rings.append(ring)
        if len(rings) >= max_rings:
            break
    rings.sort(key=lambda g: g.radius)
    return RingSearch(centre, contrast, rings)
