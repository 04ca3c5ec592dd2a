"""Algebraic circle and ellipse fits: fast, closed-form starting points for ring geometry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Circle:
    row: float
    col: float
    radius: float


def circles_through(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Circumcircles (rows, cols, radii) of the triangles ``a``, ``b``, ``c`` ((row, col) arrays of
    shape (n, 2), or one point): many at once, for RANSAC. Collinear points give an infinite radius."""
    a, b, c = (np.asarray(p, dtype=float).reshape(-1, 2) for p in (a, b, c))
    (br, bc), (cr, cc) = (b - a).T, (c - a).T  # about a: better conditioned
    b2, c2 = br * br + bc * bc, cr * cr + cc * cc
    with np.errstate(divide="ignore", invalid="ignore"):
        d = 2.0 * (bc * cr - br * cc)
        dc = (cr * b2 - br * c2) / d
        dr = (bc * c2 - cc * b2) / d
    radius = np.where(d != 0, np.hypot(dr, dc), np.inf)
    return a[:, 0] + dr, a[:, 1] + dc, radius


def fit_circle(rows: np.ndarray, cols: np.ndarray) -> Circle:
    """Taubin's algebraic circle fit (nearly unbiased, robust on short arcs).

    Taubin, IEEE PAMI 13 (1991) 1115; formulation of Chernov's "Circular and linear regression".
    """
    y = np.asarray(rows, dtype=float)
    x = np.asarray(cols, dtype=float)
    if len(x) < 3:
        raise ValueError("at least 3 points are needed to fit a circle")
    xm, ym = x.mean(), y.mean()
    u, v = x - xm, y - ym
    z = u * u + v * v
    zm = z.mean()
    z0 = (z - zm) / (2.0 * np.sqrt(zm)) if zm > 0 else z
    a = np.column_stack([z0, u, v])
    _, s, vt = np.linalg.svd(a, full_matrices=False)
    p = vt[-1]
    a0 = p[0] / (2.0 * np.sqrt(zm))
    a_coef = np.array([a0, p[1], p[2], -zm * a0])
    if abs(a_coef[0]) < 1e-14:
        raise ValueError("points are collinear: no circle fits them")
    cx = -a_coef[1] / (2 * a_coef[0]) + xm
    cy = -a_coef[2] / (2 * a_coef[0]) + ym
    r = np.sqrt(a_coef[1] ** 2 + a_coef[2] ** 2 - 4 * a_coef[0] * a_coef[3]) / (2 * abs(a_coef[0]))
    return Circle(float(cy), float(cx), float(r))


@dataclass(frozen=True)
class Ellipse:
    """Centre (row, col), half axes a >= b, ``angle`` of the a axis from the column axis towards rows."""

    row: float
    col: float
    a: float
    b: float
    angle: float


def fit_ellipse(rows: np.ndarray, cols: np.ndarray) -> Ellipse:
    """Direct least-squares ellipse fit (Fitzgibbon, Pilu & Fisher 1999, Halir-Flusser form).

    Coordinates are centred and scaled first for numerical stability.
    """
    y0 = np.asarray(rows, dtype=float)
    x0 = np.asarray(cols, dtype=float)
    if len(x0) < 6:
        raise ValueError("at least 6 points are needed to fit an ellipse")
    xm, ym = x0.mean(), y0.mean()
    scale = np.sqrt(np.mean((x0 - xm) ** 2 + (y0 - ym) ** 2)) or 1.0
    x, y = (x0 - xm) / scale, (y0 - ym) / scale
    d1 = np.column_stack([x * x, x * y, y * y])
    d2 = np.column_stack([x, y, np.ones_like(x)])
    s1, s2, s3 = d1.T @ d1, d1.T @ d2, d2.T @ d2
    t = -np.linalg.solve(s3, s2.T)
    m = s1 + s2 @ t
    m = np.array([m[2] / 2, -m[1], m[0] / 2])
    evals, evecs = np.linalg.eig(m)
    evecs = np.real(evecs)
    cond = 4 * evecs[0] * evecs[2] - evecs[1] ** 2
    good = np.flatnonzero(cond > 0)
    if len(good) == 0:
        raise ValueError("these points do not lie on an ellipse")
    a1 = evecs[:, good[0]]
    a, b, c = a1
    d, e, f = t @ a1
    # Centre and axes of a x² + b xy + c y² + d x + e y + f = 0.
    den = b * b - 4 * a * c
    xc = (2 * c * d - b * e) / den
    yc = (2 * a * e - b * d) / den
    num = 2 * (a * e * e + c * d * d - b * d * e + den * f)
    root = np.sqrt((a - c) ** 2 + b * b)
    ax1 = -np.sqrt(num * (a + c + root)) / den
    ax2 = -np.sqrt(num * (a + c - root)) / den
    theta = 0.5 * np.arctan2(-b, c - a)  # angle of the axis ax1
    if not (np.isfinite(ax1) and np.isfinite(ax2)):
        raise ValueError("these points do not lie on an ellipse")
    if ax1 < ax2:
        ax1, ax2, theta = ax2, ax1, theta + np.pi / 2
    theta = (theta + np.pi / 2) % np.pi - np.pi / 2
    return Ellipse(float(yc * scale + ym), float(xc * scale + xm), float(ax1 * scale), float(ax2 * scale), float(theta))
