"""Least-squares refinement of a pyFAI geometry on control points, with uncertainties.

The model is pyFAI's own: the 2θ of each control point is computed by ``Geometry.tth`` for the
trial parameters and compared with the 2θ of its calibrant ring. scipy's trust-region least
squares replaces pyFAI's ``refine3`` (SLSQP on the summed squares) because it converges in a few
Jacobian evaluations and its Jacobian gives the covariance of the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pyFAI.geometry import Geometry
from scipy.optimize import least_squares

from ..errors import FitError

PARAMS = ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength")
DEFAULT_FIX = ("rot3", "wavelength")
MIN_DIST, MAX_DIST = 1e-3, 50.0  # metres: beyond these a fit has gone astray
# Scale of each parameter, in the units least_squares sees (wavelength in Å, the rest SI).
_SCALE = {"dist": 1e-3, "poni1": 1e-4, "poni2": 1e-4, "rot1": 1e-3, "rot2": 1e-3, "rot3": 1e-3, "wavelength": 1e-3}


@dataclass
class ControlPoints:
    """Pixel positions (pyFAI index convention) of ring points, with their 0-based ring index."""

    rows: np.ndarray
    cols: np.ndarray
    rings: np.ndarray
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.rows = np.asarray(self.rows, dtype=np.float64).ravel()
        self.cols = np.asarray(self.cols, dtype=np.float64).ravel()
        self.rings = np.asarray(self.rings, dtype=np.int64).ravel()
        if self.weights is not None:
            self.weights = np.asarray(self.weights, dtype=np.float64).ravel()

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, keep: np.ndarray) -> "ControlPoints":
        return ControlPoints(
            self.rows[keep], self.cols[keep], self.rings[keep], None if self.weights is None else self.weights[keep]
        )

    @staticmethod
    def concatenate(parts: list["ControlPoints"]) -> "ControlPoints":
        parts = [p for p in parts if len(p)]
        if not parts:
            return ControlPoints(np.empty(0), np.empty(0), np.empty(0, np.int64))
        weights = None
        if any(p.weights is not None for p in parts):
            weights = np.concatenate([p.weights if p.weights is not None else np.ones(len(p)) for p in parts])
        return ControlPoints(
            np.concatenate([p.rows for p in parts]),
            np.concatenate([p.cols for p in parts]),
            np.concatenate([p.rings for p in parts]),
            weights,
        )


@dataclass
class RingStats:
    ring: int  # 0-based index in the calibrant
    count: int
    rms_deg: float
    rms_px: float


@dataclass
class FitResult:
    """A refined geometry and what the fit says about its quality."""

    geometry: Geometry
    free: tuple[str, ...]
    sigma: dict[str, float]
    correlation: np.ndarray  # between the free parameters, in the order of ``free``
    residual_deg: np.ndarray  # per point, observed - expected 2θ
    residual_px: np.ndarray  # per point, radial distance to the expected ring
    points: ControlPoints
    rings: list[RingStats]
    warnings: list[str] = field(default_factory=list)

    @property
    def rms_deg(self) -> float:
        return float(np.sqrt(np.mean(self.residual_deg**2))) if len(self.residual_deg) else float("nan")

    @property
    def rms_px(self) -> float:
        return float(np.sqrt(np.mean(self.residual_px**2))) if len(self.residual_px) else float("nan")


def ring_tth(dspacing: np.ndarray, rings: np.ndarray, wavelength: float) -> np.ndarray:
    """2θ (rad) of the given 0-based rings; NaN where the ring cannot diffract at this wavelength."""
    d = np.asarray(dspacing, dtype=np.float64)[rings]
    with np.errstate(invalid="ignore"):
        return 2.0 * np.arcsin(wavelength / (2.0 * d * 1e-10))


def geometry_values(geometry: Geometry) -> dict[str, float]:
    return {name: float(getattr(geometry, name)) for name in PARAMS}


def new_geometry(detector, **values: float) -> Geometry:
    """A pyFAI Geometry that skips pyFAI's ``gc.collect()`` on every change (~60 ms each)."""
    geometry = Geometry(detector=detector)
    geometry.auto_gc = False
    for name, value in values.items():
        setattr(geometry, name, value)
    geometry.reset()
    return geometry


def make_geometry(template: Geometry, values: dict[str, float]) -> Geometry:
    """A new pyFAI Geometry on the template's detector with the given parameter values."""
    return new_geometry(template.detector, **(geometry_values(template) | values))


def check_fix(fix) -> None:
    """Refuse parameter names pyFAI does not have, naming them."""
    unknown = set(fix) - set(PARAMS)
    if unknown:
        raise FitError(f"Unknown parameter(s) to fix: {', '.join(sorted(unknown))}; use {', '.join(PARAMS)}.")


class PointModel:
    """pyFAI's 2θ and χ of fixed points, for the geometry's parameters or trial ones.

    The detector positions of the points are computed once by pyFAI; the rotation into the lab
    frame is then pyFAI's documented formula (``pyFAI.ext._geometry.calc_tth``) in numpy. A fit
    evaluates it thousands of times on a few thousand points: pyFAI's own calls recompute the
    positions each time and run OpenMP kernels whose threads spin when the two cores are busy
    (the GUI, a second calculation), up to 40x slower. Non-flat detectors use pyFAI directly.
    ``tests/test_refinement.py`` checks both against pyFAI.
    """

    def __init__(self, geometry: Geometry, rows: np.ndarray, cols: np.ndarray) -> None:
        self.geometry = geometry
        self.rows = np.asarray(rows, dtype=np.float64)
        self.cols = np.asarray(cols, dtype=np.float64)
        p1, p2, p3 = geometry.detector.calc_cartesian_positions(self.rows, self.cols)
        self.flat = p3 is None and getattr(geometry, "_parallax", None) is None
        self.p1, self.p2 = np.asarray(p1, np.float64), np.asarray(p2, np.float64)
        self._own: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # lab frame for the geometry's values

    def _lab(self, params: tuple[float, ...] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if params is None:  # 2θ then χ of the same points: rotate them once
            if self._own is None:
                g = self.geometry
                self._own = self._rotate((g.dist, g.poni1, g.poni2, g.rot1, g.rot2, g.rot3))
            return self._own
        return self._rotate(tuple(params))

    def _rotate(self, params: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dist, poni1, poni2, rot1, rot2, rot3 = params
        p1, p2 = self.p1 - poni1, self.p2 - poni2
        c1, s1, c2, s2, c3, s3 = np.cos(rot1), np.sin(rot1), np.cos(rot2), np.sin(rot2), np.cos(rot3), np.sin(rot3)
        t1 = p1 * c2 * c3 + p2 * (c3 * s1 * s2 - c1 * s3) - dist * (c1 * c3 * s2 + s1 * s3)
        t2 = p1 * c2 * s3 + p2 * (c1 * c3 + s1 * s2 * s3) - dist * (-c3 * s1 + c1 * s2 * s3)
        t3 = p1 * s2 - p2 * c2 * s1 + dist * c1 * c2
        return t1, t2, t3

    def tth(self, params: tuple[float, ...] | None = None) -> np.ndarray:
        """2θ (rad); ``params`` = (dist, poni1, poni2, rot1, rot2, rot3) to try other values."""
        if not self.flat:
            return np.asarray(self.geometry.tth(self.rows, self.cols, param=None if params is None else list(params)))
        t1, t2, t3 = self._lab(params)
        return np.arctan2(np.hypot(t1, t2), t3)

    def chi(self) -> np.ndarray:
        """χ (rad) for the geometry's parameters, in (-π, π] as pyFAI's default."""
        if not self.flat:
            return np.asarray(self.geometry.chi(self.rows, self.cols))
        t1, t2, _ = self._lab(None)
        return np.arctan2(t1, t2)


def radial_pixel_gradient(geometry: Geometry, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """|∇2θ| in rad per pixel at each point, to turn 2θ residuals into pixels."""
    h = 0.5
    g_r = (PointModel(geometry, rows + h, cols).tth() - PointModel(geometry, rows - h, cols).tth()) / (2 * h)
    g_c = (PointModel(geometry, rows, cols + h).tth() - PointModel(geometry, rows, cols - h).tth()) / (2 * h)
    return np.hypot(g_r, g_c)


def refine(
    geometry: Geometry,
    points: ControlPoints,
    dspacing: np.ndarray,
    fix: tuple[str, ...] | set[str] = DEFAULT_FIX,
    max_nfev: int = 200,
    accept_iteration_limit: bool = False,
) -> FitResult:
    """Refine the free parameters of ``geometry`` so the points lie on their calibrant rings.

    :param dspacing: d-spacings of the calibrant in Å (ring index 0 = first line).
    :param fix: names of parameters kept at their current value.
    :param accept_iteration_limit: return an improved but unconverged fit (with a warning)
        instead of raising; for passes that are refined again anyway.
    :raises FitError: too few points, a ring beyond the calibrant, or no convergence.
    """
    check_fix(fix)
    free = tuple(p for p in PARAMS if p not in set(fix))
    if not free:
        raise FitError("Every parameter is fixed: nothing to refine.")
    if len(points) < len(free) + 1:
        raise FitError(f"{len(points)} control points are too few to refine {len(free)} parameters ({', '.join(free)}).")
    dspacing = np.asarray(dspacing, dtype=np.float64)
    if points.rings.min() < 0 or points.rings.max() >= len(dspacing):
        raise FitError(
            f"Ring {points.rings.max() + 1} does not exist: the calibrant has {len(dspacing)} lines."
        )
    start = geometry_values(geometry)
    if start["wavelength"] is None or not np.isfinite(start["wavelength"]) or start["wavelength"] <= 0:
        raise FitError("The wavelength is not set: enter the wavelength or the energy.")
    x0 = np.array([start[p] * (1e10 if p == "wavelength" else 1.0) for p in free])
    scale = np.array([_SCALE[p] for p in free])
    w = np.ones(len(points)) if points.weights is None else np.sqrt(points.weights)
    model = PointModel(new_geometry(geometry.detector, **start), points.rows, points.cols)

    def unpack(x: np.ndarray) -> dict[str, float]:
        values = dict(start)
        for name, value in zip(free, x):
            values[name] = value * 1e-10 if name == "wavelength" else value
        return values

    def residuals(x: np.ndarray) -> np.ndarray:
        v = unpack(x)
        calc = model.tth(tuple(v[p] for p in PARAMS[:6]))
        expected = ring_tth(dspacing, points.rings, v["wavelength"])
        r = (calc - expected) * w
        return np.where(np.isfinite(r), r, 1.0)  # a ring that cannot diffract is a huge residual

    try:
        sol = least_squares(residuals, x0, x_scale=scale, method="trf", max_nfev=max_nfev, xtol=1e-12, ftol=1e-12, gtol=1e-12)
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise FitError(f"The geometry fit failed numerically: {exc}") from exc
    values = unpack(sol.x)
    if not all(np.isfinite(list(values.values()))) or not (MIN_DIST < values["dist"] < MAX_DIST):
        raise FitError(
            f"The geometry fit gave an unphysical distance ({values['dist'] * 1e3:.4g} mm): check the ring numbers, "
            "the wavelength and the picks."
        )
    improved = sol.cost < 0.5 * np.sum(residuals(x0) ** 2)
    if sol.status < 0 or (sol.status == 0 and not (accept_iteration_limit and improved)):
        raise FitError("The geometry fit did not converge: check the picks, ring numbers and start values.")
    result = _assess(make_geometry(geometry, values), points, dspacing, free, sol)
    if sol.status == 0:
        result.warnings.append("The fit stopped at its iteration limit before fully converging.")
    return result


def _assess(geometry: Geometry, points: ControlPoints, dspacing: np.ndarray, free: tuple[str, ...], sol) -> FitResult:
    """Residuals, per-ring statistics, covariance and warnings of a finished fit."""
    calc = PointModel(geometry, points.rows, points.cols).tth()
    expected = ring_tth(dspacing, points.rings, geometry.wavelength)
    res_rad = calc - expected
    grad = radial_pixel_gradient(geometry, points.rows, points.cols)
    res_px = res_rad / np.where(grad > 0, grad, np.nan)
    n, p = len(points), len(free)
    jac = sol.jac
    sigma: dict[str, float] = {}
    corr = np.full((p, p), np.nan)
    warnings: list[str] = []
    dof = max(n - p, 1)
    s2 = 2.0 * sol.cost / dof
    try:
        cov = np.linalg.inv(jac.T @ jac) * s2
        diag = np.sqrt(np.clip(np.diag(cov), 0, None))
        corr = cov / np.outer(diag, diag)
        for i, name in enumerate(free):
            sigma[name] = float(diag[i] * (1e-10 if name == "wavelength" else 1.0))
    except np.linalg.LinAlgError:
        warnings.append("The parameters are not all determined by these points (singular fit): fix some or add rings.")
        sigma = {name: float("inf") for name in free}
    warnings += _poorly_determined(geometry, sigma, free, corr)
    rings = []
    for ring in np.unique(points.rings):
        sel = points.rings == ring
        rings.append(
            RingStats(
                int(ring),
                int(sel.sum()),
                float(np.degrees(np.sqrt(np.mean(res_rad[sel] ** 2)))),
                float(np.sqrt(np.nanmean(res_px[sel] ** 2))),
            )
        )
    return FitResult(geometry, free, sigma, corr, np.degrees(res_rad), res_px, points, rings, warnings)


def _poorly_determined(geometry: Geometry, sigma: dict[str, float], free: tuple[str, ...], corr: np.ndarray) -> list[str]:
    """Plain-language warnings for parameters the points do not pin down.

    Thresholds are in the units users judge a calibration by: pixels of beam centre, per cent of
    distance and wavelength, degrees of tilt. (pyFAI's poni and rot parameters are always strongly
    correlated with each other; that alone is not a problem, so it is not reported.)
    """
    out = []
    centre = beam_centre_sigma_px(geometry, free, sigma, corr)
    if centre > 0.5:
        out.append(f"The beam centre is poorly determined (±{centre:.2f} px): add rings or points around the ring.")
    if sigma.get("dist", 0.0) > 0.005 * geometry.dist:
        out.append(f"The distance is poorly determined (±{sigma['dist'] * 1e3:.2f} mm): add rings at higher angle.")
    for name in ("rot1", "rot2", "rot3"):
        if sigma.get(name, 0.0) > np.deg2rad(0.2):
            out.append(f"{name} is poorly determined (±{np.degrees(sigma[name]):.2f}°): fix it or add rings.")
    if sigma.get("wavelength", 0.0) > 0.005 * geometry.wavelength:
        out.append(f"The wavelength is poorly determined (±{sigma['wavelength'] * 1e10:.4f} Å).")
    if "dist" in free and "wavelength" in free:
        i, j = free.index("dist"), free.index("wavelength")
        if abs(corr[i, j]) > 0.999:
            out.append(
                f"Distance and wavelength are almost fully correlated ({corr[i, j]:+.4f}): fix the wavelength "
                "unless rings at high angle are visible."
            )
    return out


def beam_centre_sigma_px(geometry: Geometry, free: tuple[str, ...], sigma: dict[str, float], corr: np.ndarray) -> float:
    """1σ (px, RMS of both axes) of the direct-beam position, propagated from the fit's covariance.

    The PONI and the tilts are strongly correlated, so their own σ overstate how well the beam
    centre (what users judge) is known: a ring arc fixes the centre even where it trades the PONI
    against the tilt.
    """
    names = [p for p in free if p in PARAMS[:6]]
    if not {"poni1", "poni2"} & set(names):
        return 0.0
    index = [free.index(p) for p in names]
    s = np.array([sigma.get(p, np.inf) for p in names])
    c = np.asarray(corr, float)[np.ix_(index, index)]
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(c))):
        return float("inf")
    cov = c * np.outer(s, s)
    base = geometry.getFit2D()
    c0 = np.array([base["centerX"], base["centerY"]])
    jac = []
    for name in names:
        step = _SCALE[name] * 1e-3
        moved = make_geometry(geometry, {name: getattr(geometry, name) + step}).getFit2D()
        jac.append((np.array([moved["centerX"], moved["centerY"]]) - c0) / step)
    jac = np.array(jac).T
    var = jac @ cov @ jac.T
    return float(np.sqrt(max(np.trace(var) / 2.0, 0.0)))


def mad_outliers(residuals: np.ndarray, threshold: float = 5.0, floor: float = 0.0) -> np.ndarray:
    """Boolean mask of outliers: farther than ``threshold`` scaled MADs from the median."""
    r = np.asarray(residuals, dtype=float)
    if len(r) < 5:
        return np.zeros(len(r), bool)
    med = np.median(r)
    mad = 1.4826 * np.median(np.abs(r - med))
    return np.abs(r - med) > threshold * max(mad, floor)
