"""Calibration with no clicks: find the rings, number them, then calibrate as from picks.

The rings are found on the image (``peaks.ring_finder``) and numbered from the ratios of their
radii (``ring_indexing``). A circle through an arc of a tilted ring has the wrong radius by a few
per cent, so each of the few best numberings gets a tilted geometry fitted to its strongest
rings, which gives every found ring a radius free of tilt; the numbering that stays consistent
with those wins. Its rings' points then play the user's picks in the same automatic refinement
as a clicked calibration, so the final accuracy is the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyFAI.geometry import Geometry

from ...peaks.faint_rings import find_faint_rings
from ...peaks.ring_extraction import extract_rings
from ...peaks.ring_finder import FoundRing, RingSearch, find_rings
from ..errors import FitError, PickError
from ..geometry.detectors import pixel_size
from ..geometry.initial_guess import guess_geometries
from ..geometry.refinement import ControlPoints, FitResult, ring_tth
from ..progress import Task, ensure_task
from .pipeline import CalibrationResult, RefineOptions, refine_calibration, refine_on_points
from .ring_indexing import Indexing, index_rings

ANCHOR_WEIGHT = 0.01
NUMBERINGS = 5  # first numberings checked with a fitted geometry
TIGHT_TOLERANCE = 0.004  # radius agreement once the tilt is known (a binned pixel on a 300 px ring)


@dataclass
class AutoCalibration:
    result: CalibrationResult
    search: RingSearch  # what the image showed: centre and rings
    indexing: Indexing  # the numbering that won
    start: Geometry  # the geometry the automatic refinement started from
    picks: ControlPoints  # the traced rings, numbered, used as the anchor


def _ridge_points(indexing: Indexing, rings: list[FoundRing], use: int | None = 4, per_ring: int = 200,
                  weight: float | None = None) -> ControlPoints:
    """Ridge pixels of the ``use`` strongest numbered rings (the best measured, the surest numbers)."""
    parts = []
    numbered = [k for k in np.argsort([-g.strength for g in rings]) if indexing.lines[k] >= 0]
    for k in numbered[:use]:
        ring = rings[k]
        pts = ring.points[np.linspace(0, len(ring.points) - 1, min(per_ring, len(ring.points))).astype(int)]
        weights = None if weight is None else np.full(len(pts), weight)
        parts.append(ControlPoints(pts[:, 0], pts[:, 1], np.full(len(pts), indexing.lines[k]), weights))
    return ControlPoints.concatenate(parts)


def _best_numbering(
    rings: list[FoundRing], hypotheses: list[Indexing], detector, dspacing: np.ndarray, wavelength: float, opts: RefineOptions
) -> Indexing | None:
    """The numbering that stays consistent once a tilted geometry is fitted to it.

    Radii of circles through arcs of tilted rings are off by a few per cent, so the first
    numberings are loose. Each one's geometry, fitted to the ridge points of its rings, gives every
    found ring its 2θ, hence a radius free of tilt and centre errors; numbering those radii again
    with a tight tolerance scores the hypothesis.
    """
    pixel = pixel_size(detector)
    radii_px = np.array([g.radius for g in rings])
    strengths = np.array([g.strength for g in rings])
    best: Indexing | None = None
    for hypothesis in hypotheses:
        points = _ridge_points(hypothesis, rings, per_ring=60)  # enough to tell a numbering, cheap
        if len(points) < 6:
            continue
        try:
            fit = guess_geometries(points, detector, wavelength, dspacing, hypothesis.distance, tuple(opts.fix))[0]
        except (FitError, PickError):
            continue
        geometry = fit.geometry
        corrected = np.array([
            np.tan(np.median(geometry.tth(g.points[:, 0], g.points[:, 1]))) * geometry.dist / pixel for g in rings
        ])
        corrected = np.where(np.isfinite(corrected) & (corrected > 0), corrected, radii_px)
        again = index_rings(corrected, strengths, pixel, dspacing, wavelength, geometry.dist, keep=1, rel_tolerance=TIGHT_TOLERANCE)
        if again and (best is None or again[0].score > best.score):
            best = again[0]
            if best.matched >= max(3, int(0.8 * len(rings))):  # nearly every ring fits: no other numbering can beat it
                break
    return best


def auto_calibrate(
    data: np.ndarray,
    invalid: np.ndarray | None,
    detector,
    dspacing: np.ndarray,
    wavelength: float,
    distance: float | None = None,
    options: RefineOptions | None = None,
    task: Task | None = None,
) -> AutoCalibration:
    """Calibrate from the image, calibrant, wavelength and detector alone (``distance`` is a hint).

    :raises FitError: no rings found, or none of the numberings gives a geometry.
    """
    opts = options or RefineOptions()
    task = ensure_task(task)
    dspacing = np.asarray(dspacing, dtype=float)
    if not (wavelength and np.isfinite(wavelength) and wavelength > 0):
        raise FitError("The wavelength must be set for an automatic calibration.")
    task.report(0.0, "Looking for rings")
    search = find_rings(data, invalid)
    task.check()
    try:
        return _calibrate_found(data, invalid, search, detector, dspacing, wavelength, distance, opts, task)
    except FitError as exc:
        # rings too faint to show pixel by pixel may still show when averaged along them
        task.report(0.05, "Looking for faint rings")
        faint = find_faint_rings(data, invalid)
        task.check()
        if not faint.rings:
            raise exc from None
        try:
            return _calibrate_found(data, invalid, faint, detector, dspacing, wavelength, distance, opts, task)
        except FitError:
            raise exc from None


def _calibrate_found(data, invalid, search: RingSearch, detector, dspacing: np.ndarray, wavelength: float,
                     distance: float | None, opts: RefineOptions, task: Task) -> AutoCalibration:
    """Number the rings of ``search``, estimate the geometry from them, and refine it."""
    if not search.rings:
        raise FitError("No rings were found on the image: check the mask and the contrast, or click on a ring.")
    radii = np.array([g.radius for g in search.rings])
    strengths = np.array([g.strength for g in search.rings])
    hypotheses = index_rings(radii, strengths, pixel_size(detector), dspacing, wavelength, distance, keep=NUMBERINGS)
    if not hypotheses:
        raise FitError("The rings found on the image match no line of the calibrant at this wavelength: check both.")
    task.report(0.1, "Numbering the rings")
    hypothesis = _best_numbering(search.rings, hypotheses, detector, dspacing, wavelength, opts)
    if hypothesis is None:
        raise FitError("The rings found could not be numbered consistently: click on a ring and give its number.")
    task.report(0.2, "Estimating the geometry")
    try:
        start = guess_geometries(_ridge_points(hypothesis, search.rings), detector, wavelength, dspacing,
                                 hypothesis.distance, tuple(opts.fix))[0].geometry
    except (FitError, PickError) as exc:
        raise FitError(f"No geometry fits the rings found on the image ({exc}): click on a ring and give its number.") from None
    for _ in range(2):  # the second pass's windows sit on the rings: a coarse start may miss parts of them
        start = _on_found_rings(data, invalid, start, dspacing, hypothesis, opts)
    # The ridge pixels of every numbered ring anchor the numbering; they are a binned pixel
    # coarse, so they weigh little against the sub-pixel points of the refinement.
    picks = _ridge_points(hypothesis, search.rings, use=None, per_ring=100, weight=ANCHOR_WEIGHT)
    result = _without_anchors(refine_calibration(data, invalid, start, dspacing, picks, opts, task.sub(0.25, 1.0)), dspacing, opts)
    return AutoCalibration(result, search, _numbered_by(result.fit, search.rings, dspacing, hypothesis), start, picks)


def _on_found_rings(data, invalid, geometry: Geometry, dspacing: np.ndarray, indexing: Indexing, opts: RefineOptions) -> Geometry:
    """The start refitted on sub-pixel points of the found rings only (ridge pixels are a binned pixel coarse)."""
    lines = np.unique(indexing.lines[indexing.lines >= 0])
    found = extract_rings(data, invalid, geometry, dspacing, opts.extraction, lines)
    if len(found) < 20 or len(np.unique(found.rings)) < min(2, len(lines)):
        return geometry
    try:
        return refine_on_points(geometry, found, dspacing, opts).geometry
    except FitError:
        return geometry


def _without_anchors(result: CalibrationResult, dspacing: np.ndarray, opts: RefineOptions) -> CalibrationResult:
    """The final fit on the refinement's own sub-pixel points: coarse ridge anchors would blur the residuals."""
    points = result.fit.points
    if points.weights is None or not opts.auto:
        return result
    own = points.subset(points.weights != ANCHOR_WEIGHT)
    if len(np.unique(own.rings)) < 2 or len(own) < 20:
        return result
    fit = refine_on_points(result.geometry, own, dspacing, opts)
    return CalibrationResult(fit, result.history + [fit.geometry], result.iterations, 0, result.warnings)


def _numbered_by(fit: FitResult, rings: list[FoundRing], dspacing: np.ndarray, indexing: Indexing) -> Indexing:
    """The found rings numbered by the refined geometry: the nearest line among those the fit kept,
    nearer than half the gap to the next (a sample's band near a line the fit found empty stays
    unnumbered)."""
    geometry = fit.geometry
    tth = ring_tth(dspacing, np.arange(len(dspacing)), geometry.wavelength)
    ok = np.flatnonzero(np.isfinite(tth))
    lines = np.full(len(rings), -1)
    for k, ring in enumerate(rings):
        observed = float(np.median(geometry.tth(ring.points[:, 0], ring.points[:, 1])))
        offsets = np.abs(tth[ok] - observed)
        nearest = int(np.argmin(offsets))
        others = np.abs(np.delete(tth[ok], nearest) - tth[ok][nearest])
        kept = ok[nearest] in {r.ring for r in fit.rings}
        if kept and offsets[nearest] < 0.5 * (others.min() if len(others) else np.inf):
            lines[k] = ok[nearest]
    return Indexing(geometry.dist, lines, indexing.score, int(np.count_nonzero(lines >= 0)), indexing.missing)
