"""The calibration pipeline: picks → first geometry → automatic refinement over all rings.

Automatic refinement grows the set of rings outwards from the picked ones: rings near the picks
are predicted well by the first geometry, and each refit predicts the next rings better. This is
what keeps a rough start from locking onto neighbouring rings, the usual way calibrations end in
a wrong but self-consistent geometry. The user's picks stay in every fit as an anchor, and
extracted points whose residual is an outlier are rejected before the final fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pyFAI.geometry import Geometry

from ...peaks.ring_extraction import ExtractionOptions, extract_rings, image_tth_range, visible_rings
from ..errors import FitError, PickError
from ..geometry.initial_guess import guess_geometries
from ..geometry.refinement import DEFAULT_FIX, ControlPoints, FitResult, geometry_values, mad_outliers, refine, ring_tth
from ..progress import Task, ensure_task

THIN_POINTS = 4000  # points per intermediate pass: ample for ~0.01 px, a fraction of the cost
CHOICE_POINTS = 1500  # points per candidate start: enough to tell which predicts the rings
MAX_CANDIDATES = 4  # distinct first geometries compared on the image
GROWTH = 1.6  # factor on the 2θ limit of the rings searched per pass (faster growth lost hard cases)


@dataclass
class RefineOptions:
    """What is refined and how the automatic refinement searches for peaks."""

    fix: tuple[str, ...] = DEFAULT_FIX
    auto: bool = True  # extract peaks on all rings; off: fit the picks only
    extraction: ExtractionOptions = field(default_factory=ExtractionOptions)
    max_iterations: int = 12
    tolerance_px: float = 0.01  # a pass that moves the rings by less than this is the last (re-extraction noise is ~0.005 px)
    # Rings predicted this close to where they are give the same points (each sector's centroid
    # centres on its peak, not on the prediction): one last full search then suffices.
    settled_px: float = 0.25
    outlier_mads: float = 5.0


@dataclass
class CalibrationResult:
    fit: FitResult
    history: list[Geometry]  # start, then the geometry after each refinement pass
    iterations: int
    picks: int  # number of user-picked points used as anchor
    warnings: list[str]
    settled: bool = True  # False: the last pass still moved the rings (another Refine may help, if the inputs are right)

    @property
    def geometry(self) -> Geometry:
        return self.fit.geometry


def calibrate(
    data: np.ndarray,
    invalid: np.ndarray | None,
    detector,
    dspacing: np.ndarray,
    wavelength: float,
    picks: ControlPoints,
    distance: float | None = None,
    options: RefineOptions | None = None,
    task: Task | None = None,
) -> CalibrationResult:
    """Full calibration from picks on at least one ring (the "Calibrate" button)."""
    opts = options or RefineOptions()
    task = ensure_task(task)
    task.report(0.0, "Estimating the geometry from the picks")
    candidates = guess_geometries(picks, detector, wavelength, dspacing, distance, tuple(opts.fix))
    start = candidates[0].geometry
    if opts.auto and len(candidates) > 1:
        start = choose_start(data, invalid, [c.geometry for c in candidates[:MAX_CANDIDATES]], dspacing, picks, opts, task.sub(0.0, 0.1))
    return refine_calibration(data, invalid, start, dspacing, picks, opts, task.sub(0.1, 1.0))


def choose_start(
    data: np.ndarray,
    invalid: np.ndarray | None,
    candidates: list[Geometry],
    dspacing: np.ndarray,
    picks: ControlPoints,
    opts: RefineOptions,
    task: Task | None = None,
) -> Geometry:
    """The candidate that best predicts the rings next to the picked ones.

    Each candidate gets one pass of the automatic refinement (rings up to a little beyond the
    picks); the winner is the one whose pass ends with the most points within 1 px of their ring.
    A mirror-image tilt predicts the neighbouring rings in the wrong place and loses.
    """
    task = ensure_task(task)
    valid = np.isfinite(data) if invalid is None else (~invalid & np.isfinite(data))
    best, best_score = candidates[0], -1
    for k, geometry in enumerate(candidates):
        task.report(k / len(candidates), "Comparing starting geometries")
        limit = _initial_limit(geometry, dspacing, picks)
        tth_min, tth_max = image_tth_range(geometry, valid)
        rings = visible_rings(geometry, dspacing, (tth_min, min(limit * GROWTH + 0.02, tth_max)))
        found = extract_rings(data, invalid, geometry, dspacing, opts.extraction, rings, max_points=CHOICE_POINTS,
                              whole_if_sparse=False)  # searched alike, the candidates compare fairly
        if len(found) == 0:
            continue
        try:
            fit = _fit_with_anchor(geometry, thin_points(found, THIN_POINTS), picks, dspacing, opts)
        except FitError:
            continue
        score = int(np.count_nonzero(np.abs(fit.residual_px) < 1.0))
        if score > best_score:
            best, best_score = fit.geometry, score
    return best


def refine_calibration(
    data: np.ndarray,
    invalid: np.ndarray | None,
    geometry: Geometry,
    dspacing: np.ndarray,
    picks: ControlPoints,
    options: RefineOptions | None = None,
    task: Task | None = None,
) -> CalibrationResult:
    """Refine an existing geometry (the "Refine" button), with or without automatic peak search."""
    opts = options or RefineOptions()
    task = ensure_task(task)
    dspacing = np.asarray(dspacing, dtype=float)
    history = [geometry]
    warnings: list[str] = []
    if not opts.auto:
        if len(picks) == 0:
            raise PickError("There are no picks to refine on: pick a ring, or turn automatic refinement on.")
        fit = refine(geometry, picks, dspacing, opts.fix)
        return CalibrationResult(fit, history + [fit.geometry], 1, len(picks), warnings + fit.warnings)
    valid = np.isfinite(data) if invalid is None else (~invalid & np.isfinite(data))
    if not valid.any():
        raise FitError("Every pixel of the image is masked or invalid: nothing to calibrate on.")
    limit = _initial_limit(geometry, dspacing, picks)
    fit: FitResult | None = None
    iterations, moved, best_move, stale = 0, np.inf, np.inf, 0
    settling = thinned = False
    full_yield = 0  # points of the last full search
    for iterations in range(1, opts.max_iterations + 1):
        sub = task.sub((iterations - 1) / opts.max_iterations, iterations / opts.max_iterations)
        tth_min, tth_max = image_tth_range(geometry, valid)
        rings = visible_rings(geometry, dspacing, (tth_min, min(limit, tth_max)))
        growing = limit < tth_max
        # A full search where this pass may be the last. Rings still growing, or a first full pass
        # that did not settle (more passes follow, then a full search): a thinned one is enough,
        # unless the full search gave few more points than the fits use.
        thinned = growing or (settling and full_yield > 2 * THIN_POINTS)
        found = extract_rings(data, invalid, geometry, dspacing, opts.extraction, rings, task=sub,
                              max_points=THIN_POINTS if thinned else None)
        full_yield = full_yield if thinned else len(found)
        fit = _fit_with_anchor(geometry, thin_points(found, THIN_POINTS), picks, dspacing, opts)
        moved = _ring_shift_px(geometry, fit.geometry, data.shape)
        geometry = fit.geometry
        history.append(geometry)
        if growing:
            limit = limit * GROWTH + 0.02  # let the next pass see more rings
            continue
        if moved < opts.settled_px:
            break
        settling = True
        stale = stale + 1 if moved > 0.7 * best_move else 0  # passes only jitter: re-extraction noise
        best_move = min(best_move, moved)
        if stale >= 2:
            break
    assert fit is not None
    if thinned or len(found) > THIN_POINTS:  # the passes used a subset: the final fit uses every point
        if thinned or moved > opts.tolerance_px:  # a thinned search, or one with a geometry since improved
            found = extract_rings(data, invalid, geometry, dspacing, opts.extraction, task=task.sub(0.95, 1.0))
        fit = _fit_with_anchor(geometry, found, picks, dspacing, opts)
        history.append(fit.geometry)
    if len(fit.points) == len(picks):
        warnings.append(
            "Automatic refinement found no peaks on the rings: lower the intensity minimum factor, widen Δ2θ, or check the mask."
        )
    elif moved > 0.5:
        warnings.append(f"The refinement had not settled after {iterations} passes (last change {moved:.2f} px).")
    return CalibrationResult(fit, history, iterations, len(picks), warnings + fit.warnings, settled=moved <= 0.5)


def _initial_limit(geometry: Geometry, dspacing: np.ndarray, picks: ControlPoints) -> float:
    """2θ up to which the first pass searches: a little beyond the outermost picked ring."""
    if len(picks) == 0:
        return np.inf
    tth = ring_tth(dspacing, np.unique(picks.rings), geometry.wavelength)
    return float(np.nanmax(tth) * 1.35 + 0.01)


def _fit_with_anchor(geometry: Geometry, found: ControlPoints, picks: ControlPoints, dspacing, opts: RefineOptions) -> FitResult:
    """Refine on extracted points plus the user's picks, rejecting outliers among extracted points."""
    found = ControlPoints(found.rows, found.cols, found.rings)  # unweighted
    combined = ControlPoints.concatenate([picks, found])
    if len(combined) == 0:
        raise FitError("No peaks were found on any ring: pick a ring, or relax the peak search options.")
    anchor = np.zeros(len(combined), bool)
    anchor[: len(picks)] = True
    fit = refine(geometry, combined, dspacing, opts.fix, accept_iteration_limit=True)
    for _ in range(2):
        out = mad_outliers(fit.residual_px, opts.outlier_mads, floor=0.05) & ~anchor
        # Picks are trusted, but not blindly: one that strayed onto another ring is a gross outlier.
        out |= anchor & mad_outliers(fit.residual_px, 3 * opts.outlier_mads, floor=2.0 / (3 * opts.outlier_mads))
        if not out.any():
            break
        combined, anchor = combined.subset(~out), anchor[~out]
        fit = refine(fit.geometry, combined, dspacing, opts.fix, accept_iteration_limit=True)
    stray = _stray_rings(fit)
    if len(stray):
        drop = np.isin(combined.rings, stray) & ~anchor
        if np.count_nonzero(~drop) >= 6:
            fit = refine(fit.geometry, combined.subset(~drop), dspacing, opts.fix, accept_iteration_limit=True)
    return fit


STRAY_RING_FACTOR = 3.0  # a ring scattering this many times more than the best rings is not one
STRAY_RING_FLOOR_PX = 0.5


def _stray_rings(fit: FitResult) -> np.ndarray:
    """Rings whose points scatter far more than the best-measured rings' (0-based numbers).

    Where a calibrant line falls on a sample's broad band, or on nothing, the window still yields
    points, spread across the band: they are not a ring, and their weight would bend the geometry.
    """
    if len(fit.rings) < 3:
        return np.empty(0, np.int64)
    rms = np.array([r.rms_px for r in fit.rings])
    best = float(np.median(np.sort(rms)[:3]))
    limit = max(STRAY_RING_FACTOR * best, STRAY_RING_FLOOR_PX)
    return np.array([r.ring for r in fit.rings if r.rms_px > limit], dtype=np.int64)


def refine_on_points(geometry: Geometry, points: ControlPoints, dspacing, opts: RefineOptions) -> FitResult:
    """Refine on extracted points alone (no anchor), rejecting outliers as the automatic refinement does."""
    empty = ControlPoints(np.empty(0), np.empty(0), np.empty(0, np.int64))
    return _fit_with_anchor(geometry, points, empty, dspacing, opts)


def thin_points(points: ControlPoints, keep: int, seed: int = 0) -> ControlPoints:
    """At most ``keep`` points, the same fraction from every ring (a fixed pseudo-random choice).

    Passes that only move the geometry towards the next rings do not need every point; the
    final passes use all of them.
    """
    if len(points) <= keep:
        return points
    rng = np.random.default_rng(seed)
    return points.subset(rng.random(len(points)) < keep / len(points))


def _ring_shift_px(a: Geometry, b: Geometry, shape: tuple[int, int]) -> float:
    """Largest radial move of the rings between two geometries, in pixels, at a few image points."""
    rows = np.linspace(0, shape[0] - 1, 5)
    cols = np.linspace(0, shape[1] - 1, 5)
    rr, cc = [x.ravel() for x in np.meshgrid(rows, cols, indexing="ij")]
    ta = a.tth(rr, cc)
    tb = b.tth(rr, cc, param=[geometry_values(b)[p] for p in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3")])
    h = 0.5
    grad = np.hypot(a.tth(rr + h, cc) - a.tth(rr - h, cc), a.tth(rr, cc + h) - a.tth(rr, cc - h)) / (2 * h)
    wl = abs(a.wavelength - b.wavelength) / a.wavelength
    return float(np.max(np.abs(tb - ta) / np.maximum(grad, 1e-12))) + wl * max(shape)
