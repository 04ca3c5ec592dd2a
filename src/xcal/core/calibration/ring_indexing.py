"""Which calibrant line each found ring is: ring numbers and distance from ring radii alone.

On a flat detector a ring of Bragg angle 2θ has radius R = D·tan 2θ / pixel, so the ratios of
the radii do not depend on the distance D. Assuming one strong ring is line n gives D; the right
assumption predicts every other found ring where it is, a wrong one only by chance. The few best
hypotheses are returned: the image decides between close ones (see ``auto_calibration``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry.refinement import ring_tth

MIN_DISTANCE = 0.01  # metres: no powder calibration is done closer
MAX_DISTANCE = 20.0
ANCHORS = 4  # strongest rings each tried as every line
MISSING_COST = 0.5  # per line expected among the found rings but not found (some lines are weak)
REL_TOLERANCE = 0.03  # radius agreement: a circle through an arc of a ring tilted 10° is off by up to 3 %


@dataclass
class Indexing:
    distance: float  # metres, untilted estimate
    lines: np.ndarray  # calibrant line (0-based) of each found ring, -1 if none fits
    score: float  # matched ring strength, less what a wrong match costs
    matched: int  # rings that fit a line
    missing: int = 0  # lines predicted among the matched rings where no ring was found


def predicted_radii(distance: float, tan_tth: np.ndarray, pixel: float) -> np.ndarray:
    return distance * tan_tth / pixel


def _assign(radii: np.ndarray, predicted: np.ndarray, tolerance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest predicted line of each radius, and the relative error; -1 beyond tolerance.

    Two rings cannot be one line: only the closer keeps it.
    """
    order = np.argsort(predicted)
    sorted_pred = predicted[order]
    pos = np.clip(np.searchsorted(sorted_pred, radii), 1, len(sorted_pred) - 1)
    left, right = sorted_pred[pos - 1], sorted_pred[pos]
    nearest = np.where(np.abs(radii - left) <= np.abs(radii - right), pos - 1, pos)
    lines = order[nearest]
    error = np.abs(radii - predicted[lines]) / radii
    lines = np.where(error < tolerance, lines, -1)
    matched = np.flatnonzero(lines >= 0)
    by_line = matched[np.lexsort((error[matched], lines[matched]))]  # each line's closest ring first
    lines[by_line[1:][lines[by_line[1:]] == lines[by_line[:-1]]]] = -1
    return lines, error


def _best_cut(radii, lines, error, value, tolerance, predicted) -> tuple[float, np.ndarray, np.ndarray, int]:
    """Score of the matches up to the radius where it is highest, and those matches.

    The score sums the matched rings' strength (closer fits count more), less half the strength of
    unmatched rings and MISSING_COST per line predicted among the matches but not found: dense
    high-order lines match anything, and missing lines are what rules them out (lines inside the
    innermost match count down to half its radius: a beamstop may hide the first line or two, not
    twenty). Rings beyond the calibrant's visible lines (a sample's broad bands, another phase) can
    match sparse high-order lines by chance, each skipping lines that then count as missing:
    numbering only the inner rings, the outer ones left unnumbered, is then the better reading.
    """
    matched = np.flatnonzero(lines >= 0)
    matched = matched[np.argsort(radii[matched])]
    gain = np.cumsum(value[matched] * (1.0 - 0.5 * error[matched] / tolerance[matched]))
    unmatched = np.sum(value) - np.cumsum(value[matched])  # rings beyond each cut count as unmatched
    ordered = np.sort(predicted)
    inner = np.searchsorted(ordered, 0.5 * radii[matched[0]], side="left")
    span = np.searchsorted(ordered, radii[matched], side="right") - inner
    missing = span - np.arange(1, len(matched) + 1)  # a line matches one ring at most
    scores = gain - 0.5 * unmatched - MISSING_COST * missing
    k = len(scores) - 1 - int(np.argmax(scores[::-1]))  # on a tie, number more rings
    kept = np.full(len(lines), -1)
    kept[matched[: k + 1]] = lines[matched[: k + 1]]
    return float(scores[k]), kept, kept >= 0, int(missing[k])


def line_tangents(dspacing: np.ndarray, wavelength: float) -> tuple[np.ndarray, np.ndarray]:
    """tan 2θ of every calibrant line (inf where it cannot diffract or is beyond 89°), and the usable lines."""
    tth = ring_tth(np.asarray(dspacing, float), np.arange(len(dspacing)), wavelength)
    lines_ok = np.flatnonzero(np.isfinite(tth) & (tth < np.deg2rad(89)))
    tan_tth = np.full(len(tth), np.inf)
    tan_tth[lines_ok] = np.tan(tth[lines_ok])
    return tan_tth, lines_ok


def score_distance(
    radii: np.ndarray,
    strengths: np.ndarray,
    pixel: float,
    tan_tth: np.ndarray,
    lines_ok: np.ndarray,
    distance: float,
    rel_tolerance: float = REL_TOLERANCE,
    refit: bool = False,
) -> Indexing | None:
    """The numbering of the rings that a flat detector at ``distance`` implies, and its score.

    :param refit: refine the distance on the matched rings first (a hypothesis from one ring).
    """
    weight = strengths / strengths.max()
    tolerance = np.maximum(rel_tolerance, 2.0 / radii)
    predicted = predicted_radii(distance, tan_tth[lines_ok], pixel)
    lines, error = _assign(radii, predicted, tolerance)
    fit = lines >= 0
    if refit and fit.sum() >= 2:  # refine the distance on every matched ring, then re-assign
        scale = np.sum(radii[fit] * predicted[lines[fit]]) / np.sum(predicted[lines[fit]] ** 2)
        distance *= scale
        predicted = predicted_radii(distance, tan_tth[lines_ok], pixel)
        lines, error = _assign(radii, predicted, tolerance)
        fit = lines >= 0
    if not fit.any():
        return None
    value = 0.5 + 0.5 * weight
    score, lines, fit, missing = _best_cut(radii, lines, error, value, tolerance, predicted)
    numbered = np.where(fit, lines_ok[np.maximum(lines, 0)], -1)
    return Indexing(float(distance), numbered, score, int(fit.sum()), missing)


def agreement(indexing: Indexing, strengths: np.ndarray) -> float:
    """How well a numbering accounts for the rings: 1 when every ring fits a line and no line is missing.

    The matched rings' strength (0.5 + 0.5·relative strength each) over the strength of all rings
    plus MISSING_COST per line predicted among the matches where the image shows none: a calibrant
    whose lines include the true ones among many others (LaB6's for CeO2's) explains every ring
    but predicts rings that are not there.
    """
    value = 0.5 + 0.5 * strengths / strengths.max()
    return float(value[indexing.lines >= 0].sum() / (value.sum() + MISSING_COST * max(indexing.missing, 0)))


def coincidence(radii: np.ndarray, strengths: np.ndarray, tan_tth: np.ndarray, rel_tolerance: float) -> float:
    """Largest share of the rings' strength that one distance puts on calibrant lines (missing lines ignored).

    Every (ring, line) pair implies a distance; a right set of lines makes many pairs imply the same
    one. Cheap (no numbering), so it screens wavelengths and calibrants before :func:`index_rings`.
    """
    lines = tan_tth[np.isfinite(tan_tth) & (tan_tth > 0)][:80]
    if len(radii) == 0 or len(lines) == 0:
        return 0.0
    value = 0.5 + 0.5 * strengths / strengths.max()
    implied = (np.log(radii)[:, None] - np.log(lines)[None, :]).ravel()
    weight = np.repeat(value, len(lines))
    order = np.argsort(implied)
    implied, weight = implied[order], weight[order]
    cumulative = np.concatenate([[0.0], np.cumsum(weight)])
    end = np.searchsorted(implied, implied + 2 * rel_tolerance, side="right")
    return float(np.max(cumulative[end] - cumulative[:-1]) / value.sum())


def index_rings(
    radii: np.ndarray,
    strengths: np.ndarray,
    pixel: float,
    dspacing: np.ndarray,
    wavelength: float,
    distance_hint: float | None = None,
    keep: int = 3,
    rel_tolerance: float = REL_TOLERANCE,
) -> list[Indexing]:
    """The ``keep`` best assignments of found rings (``radii`` in pixels) to calibrant lines.

    The score sums the strength of rings that fit a line, closer fits counting more; two rings on
    one line, or a strong ring that fits nothing, count against. A typed distance (``distance_hint``)
    only breaks near ties: it is often wrong by more than the ring spacing.
    """
    radii, strengths = np.asarray(radii, float), np.asarray(strengths, float)
    tan_tth, lines_ok = line_tangents(dspacing, wavelength)
    if len(radii) == 0 or len(lines_ok) == 0:
        return []
    results: dict[tuple, Indexing] = {}
    for anchor in np.argsort(strengths)[::-1][:ANCHORS]:
        for line in lines_ok[:60]:
            distance = radii[anchor] * pixel / tan_tth[line]
            if not MIN_DISTANCE <= distance <= MAX_DISTANCE:
                continue
            found = score_distance(radii, strengths, pixel, tan_tth, lines_ok, distance, rel_tolerance, refit=True)
            if found is None:
                continue
            if distance_hint:
                found.score -= 0.05 * abs(np.log(found.distance / distance_hint))
            key = tuple(found.lines)
            if key not in results or results[key].score < found.score:
                results[key] = found
    ranked = sorted(results.values(), key=lambda r: r.score, reverse=True)
    return ranked[:keep]
