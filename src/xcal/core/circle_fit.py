"""Robust circle fit of points clicked (or traced) on one ring, for SAXS and fibre users.

The answer must not depend on a careless click: the fit starts from Taubin's algebraic circle and
from the best RANSAC triple, minimises the geometric distance with a robust loss, rejects points
beyond a few scaled MADs, and checks the answer. A seeded differential-evolution search is run
when the local answer fails the checks (or when asked). :func:`refine_clicks` and
:func:`trace_ring` then move the points onto the ring's intensity maximum in the image.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy.optimize import differential_evolution, least_squares

from xcal.core.atomic import atomic_write_text
from xcal.core.conics import Circle, fit_circle
from xcal.core.errors import PickError
from xcal.core.refinement import mad_outliers
from xcal.peaks.coordinates import EllipseCoordinate
from xcal.peaks.sector_peaks import annulus_pixels, sector_points

SCALE_PX = 1.0  # robust loss scale: a click is good to about a pixel
MAD_FLOOR_PX = 0.5  # never reject points closer than this many scaled MADs times the floor
MIN_ARC_DEG = 20.0
MAX_RADIUS_SPAN = 50.0  # a radius beyond 50 point spans is a straight line, not a ring
MAX_TRIPLES = 600
MAX_RMS_PX = 5.0  # clicks on one ring scatter by a pixel or two; more means points on different rings


@dataclass
class CircleFit:
    """A fitted circle with its per-point residuals and how it was found (for the log and CSV)."""

    row: float
    col: float
    radius: float
    residuals: np.ndarray  # signed distance of each point to the circle, px
    inliers: np.ndarray  # bool, points kept by the outlier rejection
    rms_px: float  # of the inliers
    history: list[tuple[int, str, float, float, float, float]] = field(default_factory=list)

    @property
    def circle(self) -> Circle:
        return Circle(self.row, self.col, self.radius)

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write the fit history (one line per stage, then the result) atomically."""
        out = io.StringIO()
        out.write("iteration,stage,row,col,radius,cost\n")
        for it, stage, row, col, radius, cost in self.history:
            out.write(f"{it},{stage},{row!r},{col!r},{radius!r},{cost!r}\n")
        out.write(f"{len(self.history)},result,{self.row!r},{self.col!r},{self.radius!r},{self.rms_px!r}\n")
        atomic_write_text(path, out.getvalue())


def robust_cost(rows: np.ndarray, cols: np.ndarray, row, col, radius) -> np.ndarray:
    """Mean Cauchy cost of the distances: outliers count little, so competing circles compare fairly.

    Broadcasts: parameters of shape (S, 1) give S costs.
    """
    res = np.hypot(rows - row, cols - col) - radius
    return np.mean(np.log1p((res / SCALE_PX) ** 2), axis=-1)


def _local(rows: np.ndarray, cols: np.ndarray, start: np.ndarray, loss: str) -> np.ndarray:
    """Geometric least squares from ``start`` = (row, col, radius)."""

    def fun(p):
        return np.hypot(rows - p[0], cols - p[1]) - p[2]

    def jac(p):
        d = np.maximum(np.hypot(rows - p[0], cols - p[1]), 1e-12)
        return np.column_stack([(p[0] - rows) / d, (p[1] - cols) / d, -np.ones_like(d)])

    return least_squares(fun, start, jac=jac, loss=loss, f_scale=SCALE_PX, method="trf", x_scale="jac").x


def _triples(rows: np.ndarray, cols: np.ndarray, seed: int) -> np.ndarray:
    """Circles through point triples (all of them for few points, a seeded sample otherwise): (K, 3)."""
    n = len(rows)
    if n * (n - 1) * (n - 2) // 6 <= MAX_TRIPLES:
        idx = np.array(list(combinations(range(n), 3)))
    else:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, (MAX_TRIPLES, 3))
        idx = idx[(idx[:, 0] != idx[:, 1]) & (idx[:, 1] != idx[:, 2]) & (idx[:, 0] != idx[:, 2])]
    y, x = rows[idx], cols[idx]
    # Circumcentre of each triangle.
    bx, by, cx, cy = x[:, 1] - x[:, 0], y[:, 1] - y[:, 0], x[:, 2] - x[:, 0], y[:, 2] - y[:, 0]
    det = 2 * (bx * cy - by * cx)
    with np.errstate(divide="ignore", invalid="ignore"):
        ux = (cy * (bx**2 + by**2) - by * (cx**2 + cy**2)) / det
        uy = (bx * (cx**2 + cy**2) - cx * (bx**2 + by**2)) / det
    circles = np.column_stack([uy + y[:, 0], ux + x[:, 0], np.hypot(ux, uy)])
    return circles[np.isfinite(circles).all(axis=1)]


def _starts(rows: np.ndarray, cols: np.ndarray, n_starts: int, seed: int, span: float) -> list[np.ndarray]:
    """Taubin's circle and the best distinct RANSAC circles, best robust cost first."""
    cands = []
    try:
        c = fit_circle(rows, cols)
        cands.append(np.array([c.row, c.col, c.radius]))
    except ValueError:
        pass
    tri = _triples(rows, cols, seed)
    tri = tri[tri[:, 2] < MAX_RADIUS_SPAN * span]
    if len(tri):
        cost = robust_cost(rows, cols, tri[:, :1], tri[:, 1:2], tri[:, 2:])
        for k in np.argsort(cost)[:100]:  # the best hundred hold any distinct good circle
            if len(cands) >= n_starts:
                break
            if all(np.abs(tri[k] - c).max() > 2 * SCALE_PX for c in cands):
                cands.append(tri[k])
    if not cands:
        raise PickError("The points lie on a straight line: click at least 3 points spread along the ring.")
    return cands


def _reject(rows, cols, p, outlier_mads, history, it0):
    """Fit → reject points beyond ``outlier_mads`` scaled MADs → refit, until the inliers are stable."""
    inl = np.ones(len(rows), bool)
    for it in range(10):
        res = np.hypot(rows - p[0], cols - p[1]) - p[2]
        new = ~mad_outliers(res, outlier_mads, MAD_FLOOR_PX) if outlier_mads else inl
        if new.sum() < 3 or (it > 0 and (new == inl).all()):
            break
        inl = new
        p = _local(rows[inl], cols[inl], p, "soft_l1")
        history.append((it0 + it, "reject", *map(float, p), float(robust_cost(rows[inl], cols[inl], *p))))
    return p, inl


def _global(rows: np.ndarray, cols: np.ndarray, span: float, seed: int) -> np.ndarray:
    """Differential evolution of the robust cost over every circle the points could belong to."""
    r_hi = 20 * span
    bounds = [(rows.min() - r_hi, rows.max() + r_hi), (cols.min() - r_hi, cols.max() + r_hi), (span / 2, r_hi)]

    def cost(p):
        return robust_cost(rows, cols, p[0][:, None], p[1][:, None], p[2][:, None]) if p.ndim == 2 else robust_cost(rows, cols, *p)

    result = differential_evolution(cost, bounds, seed=seed, popsize=30, maxiter=300, tol=1e-8, polish=False,
                                    vectorized=True, updating="deferred")
    return result.x


def _arc_deg(rows: np.ndarray, cols: np.ndarray, row: float, col: float) -> float:
    """Angular span of the points seen from the centre: 360° minus the largest empty gap."""
    phi = np.sort(np.arctan2(rows - row, cols - col))
    gaps = np.diff(np.concatenate([phi, phi[:1] + 2 * np.pi]))
    return float(np.degrees(2 * np.pi - gaps.max()))


def _problem(rows, cols, p, inl, span) -> str | None:
    """Why the fit cannot be right (a message for the user), or None."""
    if not np.isfinite(p).all() or p[2] <= 0 or p[2] > MAX_RADIUS_SPAN * span:
        return ("The points do not define a ring (they are nearly on a straight line): click more points, "
                "spread as widely as possible along the ring.")
    if inl.sum() < max(3, 0.5 * len(rows)):
        return (f"{len(rows) - inl.sum()} of {len(rows)} points are far from any common circle, too many to tell "
                "which ring is meant: click more points on the ring.")
    rms = float(np.sqrt(np.mean((np.hypot(rows[inl] - p[0], cols[inl] - p[1]) - p[2]) ** 2)))
    if rms > MAX_RMS_PX:
        return (f"The points are {rms:.0f} px (rms) from the best circle: they do not lie on one ring, "
                "or too many are off it to tell which ring is meant. Click more points on the ring.")
    arc = _arc_deg(rows[inl], cols[inl], p[0], p[1])
    if arc < MIN_ARC_DEG:
        return (f"The points cover only {arc:.0f}° of the ring (at least {MIN_ARC_DEG:.0f}° is needed): "
                "click points farther apart along the ring.")
    return None


def _result(rows, cols, p, inl, history) -> CircleFit:
    res = np.hypot(rows - p[0], cols - p[1]) - p[2]
    return CircleFit(float(p[0]), float(p[1]), float(p[2]), res, inl, float(np.sqrt(np.mean(res[inl] ** 2))), history)


def _fit_radius(rows, cols, centre, outlier_mads) -> CircleFit:
    """Radius only, about a known centre: median distance, then the mean of the inliers."""
    d = np.hypot(rows - centre[0], cols - centre[1])
    r, inl = float(np.median(d)), np.ones(len(d), bool)
    history = [(0, "median", float(centre[0]), float(centre[1]), r, float(robust_cost(rows, cols, *centre, r)))]
    for it in range(1, 10):
        new = ~mad_outliers(d - r, outlier_mads, MAD_FLOOR_PX) if outlier_mads else inl
        r = float(np.mean(d[new]))
        history.append((it, "reject", float(centre[0]), float(centre[1]), r, float(robust_cost(rows, cols, *centre, r))))
        if (new == inl).all():
            break
        inl = new
    if inl.sum() < max(1, 0.5 * len(d)):
        raise PickError(f"{len(d) - inl.sum()} of {len(d)} points are far from any common circle: click more points on the ring.")
    return _result(rows, cols, np.array([*centre, r], float), inl, history)


def fit_circle_robust(
    rows: np.ndarray,
    cols: np.ndarray,
    fixed_centre: tuple[float, float] | None = None,
    n_starts: int = 3,
    outlier_mads: float = 3.0,
    seed: int = 0,
    global_search: bool = False,
    start: Circle | None = None,
) -> CircleFit:
    """The circle through points clicked on one ring, robust to a few wrong clicks.

    Outlier rejection needs at least 5 points (with fewer, every point is kept). ``start``
    replaces the automatic starting circles (e.g. the previous answer). Differential evolution
    (slower, ~0.1 s) runs when ``global_search`` is set or when the local answer fails the checks.

    :raises PickError: too few points, too short an arc, too many outliers, or no sensible circle.
    """
    rows = np.asarray(rows, dtype=float).ravel()
    cols = np.asarray(cols, dtype=float).ravel()
    ok = np.isfinite(rows) & np.isfinite(cols)
    rows, cols = rows[ok], cols[ok]
    if len(rows) < 3:
        raise PickError(f"{len(rows)} point(s) given: click at least 3 points on the ring (5 or more to reject wrong clicks).")
    if fixed_centre is not None:
        return _fit_radius(rows, cols, np.asarray(fixed_centre, float), outlier_mads)
    span = float(np.hypot(np.ptp(rows), np.ptp(cols)))
    if span == 0:
        raise PickError("All the points are at the same place: click points spread along the ring.")
    history: list = []
    starts = [np.array([start.row, start.col, start.radius], float)] if start is not None else _starts(rows, cols, n_starts, seed, span)
    best = None
    for k, s in enumerate(starts):
        history.append((0, f"start{k}", *map(float, s), float(robust_cost(rows, cols, *s))))
        p = _local(rows, cols, s, "cauchy")
        cost = float(robust_cost(rows, cols, *p))
        history.append((0, f"local{k}", *map(float, p), cost))
        if best is None or cost < best[1]:
            best = (p, cost)
    p, inl = _reject(rows, cols, best[0], outlier_mads, history, 1)
    problem = _problem(rows, cols, p, inl, span)
    if global_search or problem:
        g = _global(rows, cols, span, seed)
        history.append((len(history), "global", *map(float, g), float(robust_cost(rows, cols, *g))))
        pg, inl_g = _reject(rows, cols, g, outlier_mads, history, len(history))
        problem_g = _problem(rows, cols, pg, inl_g, span)
        if problem_g is None and (problem or robust_cost(rows, cols, *pg) < robust_cost(rows, cols, *p)):
            p, inl, problem = pg, inl_g, None
    if problem:
        raise PickError(problem)
    if inl.sum() > 3:  # least squares on the inliers: the most accurate for Gaussian click noise
        p = _local(rows[inl], cols[inl], p, "linear")
        history.append((len(history), "final", *map(float, p), float(robust_cost(rows[inl], cols[inl], *p))))
    return _result(rows, cols, p, inl, history)


def _peak_radius(r: np.ndarray, intensity: np.ndarray, guess: float, half: float) -> float:
    """Radius of the intensity maximum: peak bin, then a background-subtracted centroid iterated over
    a window symmetric about the peak (unbiased for a symmetric ring profile); nan if no peak."""
    n_bins = max(int(round(2 * half)), 8)  # 1 px bins: along a pixel axis, radii are near-integers
    edges = np.linspace(guess - half, guess + half, n_bins + 1)
    b = np.clip(np.digitize(r, edges) - 1, 0, n_bins - 1)
    cnt = np.bincount(b, minlength=n_bins)
    if (cnt == 0).sum() > n_bins // 4:
        return float("nan")
    prof = np.bincount(b, intensity, n_bins) / np.maximum(cnt, 1)
    k = int(np.argmax(prof))
    bg = float(np.median(prof))
    low = intensity[prof[b] <= bg]
    noise = float(np.std(low)) / np.sqrt(max(cnt[k], 1)) + 1e-12
    if k in (0, n_bins - 1) or prof[k] - bg < 5 * noise:
        return float("nan")
    hw_bins = max(int(np.sum(prof > bg + 0.5 * (prof[k] - bg))), 2)  # ~FWHM in bins
    hw = 0.85 * hw_bins * (edges[1] - edges[0]) + 0.5
    c = 0.5 * (edges[k] + edges[k + 1])
    for _ in range(4):
        win = np.abs(r - c) < hw
        wgt = np.maximum(intensity[win] - bg, 0)
        if wgt.sum() <= 0:
            return float("nan")
        c = float(np.sum(wgt * r[win]) / wgt.sum())
    return c


def _strip(shape, circle, phi: float, half_width_px: float, tangential_px: float):
    """Box, selection and radii of the pixels of a radial strip across the ring at azimuth ``phi``."""
    reach = int(np.ceil(half_width_px + tangential_px)) + 1
    pr, pc = circle.row + circle.radius * np.sin(phi), circle.col + circle.radius * np.cos(phi)
    r0, r1 = max(int(pr) - reach, 0), min(int(pr) + reach + 1, shape[0])
    c0, c1 = max(int(pc) - reach, 0), min(int(pc) + reach + 1, shape[1])
    if r0 >= r1 or c0 >= c1:
        return None
    dr, dc = np.mgrid[r0:r1, c0:c1] - np.array([circle.row, circle.col])[:, None, None]
    r = np.hypot(dr, dc)
    tang = np.abs(dr * np.cos(phi) - dc * np.sin(phi))  # distance from the radial line
    sel = (np.abs(r - circle.radius) < half_width_px) & (tang < tangential_px) & (dr * np.sin(phi) + dc * np.cos(phi) > 0)
    return (slice(r0, r1), slice(c0, c1)), sel, r


def refine_clicks(
    data: np.ndarray,
    invalid: np.ndarray | None,
    rows: np.ndarray,
    cols: np.ndarray,
    circle: Circle | CircleFit,
    half_width_px: float | None = None,
    tangential_px: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Each click moved along the radial direction onto the ring's intensity maximum.

    The search window is centred on ``circle`` (±``half_width_px``, default 8 px or 4 times the
    fit's rms), so a click a few pixels off the ring still lands on it; a click with no ring
    in reach is returned unchanged (the fit will reject it if it is wrong).
    """
    rows = np.asarray(rows, dtype=float).copy()
    cols = np.asarray(cols, dtype=float).copy()
    if half_width_px is None:
        half_width_px = max(8.0, 4 * getattr(circle, "rms_px", 0.0))
    invalid = np.zeros(data.shape, bool) if invalid is None else invalid
    for i in range(len(rows)):
        phi0 = np.arctan2(rows[i] - circle.row, cols[i] - circle.col)
        strips = [(phi, _strip(data.shape, circle, phi, half_width_px, tangential_px))
                  for phi in phi0 + np.array([0, 1, -1, 2, -2, 3, -3]) * 2 * tangential_px / circle.radius]
        strips = [(phi, s) for phi, s in strips if s is not None]
        if not strips:
            continue
        # Masked pixels in the strip bias the centroid: slide along the ring to a clean strip if any.
        clean = [(phi, s) for phi, s in strips if not (invalid[s[0]] & s[1]).any()]
        phi, (box, sel, r) = (clean or strips)[0]
        sel = sel & ~invalid[box]
        if sel.sum() < 8:
            continue
        peak = _peak_radius(r[sel], data[box][sel].astype(float), circle.radius, half_width_px)
        if np.isfinite(peak):
            rows[i], cols[i] = circle.row + peak * np.sin(phi), circle.col + peak * np.cos(phi)
    return rows, cols


def trace_ring(
    data: np.ndarray,
    invalid: np.ndarray | None,
    circle: Circle | CircleFit,
    half_width_px: float = 8.0,
    sector_px: float = 8.0,
    min_snr: float = 3.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel points all along the ring near ``circle`` (one per ~``sector_px`` of arc), MAD-cleaned."""
    invalid = np.zeros(data.shape, bool) if invalid is None else invalid
    coord = EllipseCoordinate.circle(circle.row, circle.col, circle.radius)
    half = half_width_px / circle.radius
    n_sectors = int(np.clip(2 * np.pi * circle.radius / sector_px, 12, 2880))
    found = sector_points(annulus_pixels(data, invalid, coord, half), coord, 1.0, half, n_sectors, min_snr)
    if len(found) < 3:
        return np.empty(0), np.empty(0)
    keep = ~mad_outliers(coord.radial(found.rows, found.cols) * circle.radius, 4.0, MAD_FLOOR_PX)
    return found.rows[keep], found.cols[keep]
