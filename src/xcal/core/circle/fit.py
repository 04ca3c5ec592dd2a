"""Robust circle fit of points clicked (or traced) on one ring, for SAXS and fibre users.

The answer must not depend on a careless click. Candidate circles (Taubin's algebraic circle and
circles through point triples) are ranked by least median of squares, which needs no noise scale;
the best few are polished by least squares with a bounded (Geman-McClure) loss whose scale follows
the click noise, points beyond a few scaled MADs are rejected, and the answer is checked. A seeded
differential-evolution search runs when the local answer fails the checks (or when asked).
:mod:`.circle_image` moves the points onto the ring's intensity maximum in the image.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy.optimize import differential_evolution, least_squares

from xcal.core.errors import PickError
from xcal.core.geometry.conics import Circle, fit_circle
from xcal.core.geometry.refinement import mad_outliers
from xcal.core.io.atomic import atomic_write_text

SCALE_PX = 1.0  # smallest robust loss scale: a click is good to about a pixel
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


def robust_cost(rows: np.ndarray, cols: np.ndarray, row, col, radius, scale: float = SCALE_PX) -> np.ndarray:
    """Mean Geman-McClure cost of the distances, ``d² / (d² + scale²)``: bounded, so every outlier costs
    about the same and a circle gains nothing by pulling a wrong click from 40 px to 7 px off (an
    unbounded loss such as Cauchy's does, and then prefers a wrong circle on small rings).

    Broadcasts: parameters of shape (S, 1) give S costs.
    """
    z = ((np.hypot(rows - row, cols - col) - radius) / scale) ** 2
    return np.mean(z / (1 + z), axis=-1)


def lmeds(rows: np.ndarray, cols: np.ndarray, row, col, radius) -> np.ndarray:
    """The h-th smallest distance to the circle, h = n/2 + 2 (least median of squares): it needs no
    noise scale and ranks circles right while at most n/2 - 2 points are off the ring. Broadcasts
    as :func:`robust_cost`."""
    d = np.abs(np.hypot(rows - row, cols - col) - radius)
    h = min(len(rows) // 2 + 2, len(rows)) - 1
    return np.partition(d, h, axis=-1)[..., h]


def _geman_mcclure(z: np.ndarray) -> np.ndarray:
    """ρ(z) = z / (1 + z) and its two derivatives, as ``least_squares`` takes a loss."""
    return np.stack([z / (1 + z), 1 / (1 + z) ** 2, -2 / (1 + z) ** 3])


def _local(rows: np.ndarray, cols: np.ndarray, start: np.ndarray, loss: str, scale: float = SCALE_PX) -> np.ndarray:
    """Geometric least squares from ``start`` = (row, col, radius); ``loss`` "geman-mcclure" is
    :func:`robust_cost`'s."""

    def fun(p):
        return np.hypot(rows - p[0], cols - p[1]) - p[2]

    def jac(p):
        d = np.maximum(np.hypot(rows - p[0], cols - p[1]), 1e-12)
        return np.column_stack([(p[0] - rows) / d, (p[1] - cols) / d, -np.ones_like(d)])

    rho = _geman_mcclure if loss == "geman-mcclure" else loss
    return least_squares(fun, start, jac=jac, loss=rho, f_scale=scale, method="trf", x_scale="jac").x


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


def _starts(rows: np.ndarray, cols: np.ndarray, n_starts: int, seed: int, span: float) -> tuple[list[np.ndarray], float]:
    """The best distinct circles among Taubin's and those through point triples, by least median of
    squares, and the best one's least-median distance."""
    cands = []
    try:
        c = fit_circle(rows, cols)
        cands.append([c.row, c.col, c.radius])
    except ValueError:
        pass
    cands = np.concatenate([np.array(cands).reshape(-1, 3), _triples(rows, cols, seed)])
    cands = cands[(cands[:, 2] > 0) & (cands[:, 2] < MAX_RADIUS_SPAN * span)]
    if not len(cands):
        raise PickError("The points lie on a straight line: click at least 3 points spread along the ring.")
    score = lmeds(rows, cols, cands[:, :1], cands[:, 1:2], cands[:, 2:])
    order = np.argsort(score, kind="stable")
    starts = []
    for k in order[:100]:  # the best hundred hold any distinct good circle
        if len(starts) >= n_starts:
            break
        if all(np.abs(cands[k] - c).max() > 2 * SCALE_PX for c in starts):
            starts.append(cands[k])
    return starts, float(score[order[0]])


def _loss_scale(spread: float) -> float:
    """Loss scale from the best start's least-median distance: clicks scattered by 2 px are not outliers."""
    return max(SCALE_PX, spread)


def _reject(rows, cols, p, outlier_mads, scale, history, it0):
    """Fit → reject points beyond ``outlier_mads`` scaled MADs → refit, until the inliers are stable."""
    inl = np.ones(len(rows), bool)
    for it in range(10):
        res = np.hypot(rows - p[0], cols - p[1]) - p[2]
        new = ~mad_outliers(res, outlier_mads, MAD_FLOOR_PX) if outlier_mads else inl
        if new.sum() < 3 or (it > 0 and (new == inl).all()):
            break
        inl = new
        p = _local(rows[inl], cols[inl], p, "soft_l1", scale)
        history.append((it0 + it, "reject", *map(float, p), float(robust_cost(rows[inl], cols[inl], *p, scale))))
    return p, inl


def _global(rows: np.ndarray, cols: np.ndarray, span: float, scale: float, seed: int) -> np.ndarray:
    """Differential evolution of the robust cost over every circle the points could belong to."""
    r_hi = 20 * span
    bounds = [(rows.min() - r_hi, rows.max() + r_hi), (cols.min() - r_hi, cols.max() + r_hi), (span / 2, r_hi)]

    def cost(p):
        return robust_cost(rows, cols, *p[..., None], scale)  # p is (3,) or (3, S)

    result = differential_evolution(cost, bounds, seed=seed, popsize=30, maxiter=300, tol=1e-8, polish=False,
                                    vectorized=True, updating="deferred")
    return result.x


def arc_deg(rows: np.ndarray, cols: np.ndarray, row: float, col: float) -> float:
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
    arc = arc_deg(rows[inl], cols[inl], p[0], p[1])
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
    provisional: bool = False,
) -> CircleFit:
    """The circle through points clicked on one ring, robust to a few wrong clicks.

    Outlier rejection needs at least 5 points (with fewer, every point is kept). ``start``
    replaces the automatic starting circles (e.g. the previous answer). Differential evolution
    (slower, ~0.1 s) runs when ``global_search`` is set or when the local answer fails the checks.
    A ``provisional`` fit is returned even when it fails the checks (only a straight line is
    refused): good enough to place the search windows on the image, which then decides.

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
    if start is not None:
        starts = [np.array([start.row, start.col, start.radius], float)]
        spread = float(lmeds(rows, cols, *starts[0]))
    else:
        starts, spread = _starts(rows, cols, n_starts, seed, span)
    scale = _loss_scale(spread)
    best = None
    for k, s in enumerate(starts):
        history.append((0, f"start{k}", *map(float, s), float(robust_cost(rows, cols, *s, scale))))
        p = _local(rows, cols, s, "geman-mcclure", scale)
        cost = float(robust_cost(rows, cols, *p, scale))
        history.append((0, f"local{k}", *map(float, p), cost))
        if best is None or cost < best[1]:
            best = (p, cost)
    p, inl = _reject(rows, cols, best[0], outlier_mads, scale, history, 1)
    problem = _problem(rows, cols, p, inl, span)
    if global_search or problem:
        g = _global(rows, cols, span, scale, seed)
        history.append((len(history), "global", *map(float, g), float(robust_cost(rows, cols, *g, scale))))
        pg, inl_g = _reject(rows, cols, g, outlier_mads, scale, history, len(history))
        problem_g = _problem(rows, cols, pg, inl_g, span)
        if problem_g is None and (problem or robust_cost(rows, cols, *pg, scale) < robust_cost(rows, cols, *p, scale)):
            p, inl, problem = pg, inl_g, None
    if problem and not (provisional and np.isfinite(p).all() and p[2] > 0):
        raise PickError(problem)
    if inl.sum() > 3:  # least squares on the inliers: the most accurate for Gaussian click noise
        p = _local(rows[inl], cols[inl], p, "linear")
        history.append((len(history), "final", *map(float, p), float(robust_cost(rows[inl], cols[inl], *p, scale))))
    return _result(rows, cols, p, inl, history)
