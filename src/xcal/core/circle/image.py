"""Circles on the image: clicks moved onto the ring's intensity maximum, rings traced all along, and a
ring found with no clicks at all, each ending in :func:`~.circle_fit.fit_circle_robust`.

Clicks place the search windows, the image places the points: a hurried click 2 px off the ring
costs nothing; a wrong click becomes the ring's point at its azimuth, or, with no ring in reach,
stays where it is and is rejected by the fit.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from xcal.core.circle.fit import MAD_FLOOR_PX, CircleFit, arc_deg, fit_circle_robust
from xcal.core.circle.profile import ProfilePeak, RadialProfiles
from xcal.core.errors import PickError
from xcal.core.geometry.conics import Circle
from xcal.core.geometry.refinement import mad_outliers
from xcal.peaks.coordinates import EllipseCoordinate
from xcal.peaks.ring_finder import find_rings
from xcal.peaks.sector_peaks import annulus_pixels, sector_points

MIN_TRACED = 5  # points traced along a ring for a fit that can reject outliers
MIN_AUTO_ARC_DEG = 90.0  # a ring found on less arc than this is too uncertain to calibrate from
CLICK_TOLERANCE_PX = 10.0  # a click this close to a found ring chooses it
CENTRE_MERGE_PX = 2.0  # ring centres this close give the same profile
MAX_CENTRES = 4  # centres profiled: where the ridges meet, then the strongest rings' own
MAX_TRIES = 4  # rings traced, strongest first, before giving up
COMPARABLE = 0.5  # of the strongest ring's peak: a ring this strong is as clear
SECTOR_SNR = 3.0  # a ring's signal-to-noise in each sector traced (the tracer's threshold)
SHARPNESS = 0.25  # traced points scatter by less than this fraction of the search half-width (noise: 0.58)


@dataclass
class CircleOutcome:
    """A fit and the points it used: the clicks, the clicks moved onto the ring, or the traced ring."""

    fit: CircleFit
    rows: np.ndarray
    cols: np.ndarray
    source: str  # "clicks", "refined clicks", "traced ring"


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


def fit_clicks(
    data: np.ndarray | None,
    invalid: np.ndarray | None,
    rows: np.ndarray,
    cols: np.ndarray,
    fixed_centre: tuple[float, float] | None = None,
    rounds: int = 2,
) -> CircleOutcome:
    """Clicks → circle; with an image, each click is first moved onto the ring's maximum (``rounds`` times).

    The clicks' own fit only places the search windows, so it is taken even when it fails the
    checks (a noisy click set with wrong clicks may look like no circle); the last fit, of the
    points on the image, must pass them.

    :raises PickError: the message for the user.
    """
    rows, cols = np.asarray(rows, float), np.asarray(cols, float)
    if data is None:
        return CircleOutcome(fit_circle_robust(rows, cols, fixed_centre=fixed_centre), rows, cols, "clicks")
    fit = fit_circle_robust(rows, cols, fixed_centre=fixed_centre, provisional=True)
    for k in range(rounds):
        rr, cc = refine_clicks(data, invalid, rows, cols, fit)
        fit = fit_circle_robust(rr, cc, fixed_centre=fixed_centre, provisional=k < rounds - 1)
    return CircleOutcome(fit, rr, cc, "refined clicks")


def fit_traced(
    data: np.ndarray,
    invalid: np.ndarray | None,
    circle: Circle,
    fixed_centre: tuple[float, float] | None = None,
    half_width_px: float = 8.0,
    rounds: int = 1,
    sector_px: float = 8.0,
    min_half_width_px: float = 4.0,
) -> CircleOutcome:
    """The circle through points traced all along the ring near ``circle``, traced again about each fit
    (one point per ``sector_px`` of arc: longer sectors for a fainter ring). The search window
    narrows to the fit's scatter, never below ``min_half_width_px`` (a broad ring's own half width).

    :raises PickError: too few points found along the circle, or no sensible fit of them.
    """
    for _ in range(rounds):
        rows, cols = trace_ring(data, invalid, circle, half_width_px, sector_px)
        if len(rows) < MIN_TRACED:
            raise PickError(f"No ring was found along the circle of radius {circle.radius:.0f} px: "
                            f"{len(rows)} points (at least {MIN_TRACED} are needed).")
        fit = fit_circle_robust(rows, cols, fixed_centre=fixed_centre, start=circle)
        if fit.rms_px > SHARPNESS * half_width_px:
            raise PickError(f"No ring was found along the circle of radius {circle.radius:.0f} px: the {len(rows)} points "
                            f"found there scatter by {fit.rms_px:.1f} px (rms), as noise does.")
        circle, half_width_px = fit.circle, max(min_half_width_px, 4 * fit.rms_px)
    return CircleOutcome(fit, rows, cols, "traced ring")


def _candidates(profiles: RadialProfiles, centres: list[tuple[float, float]]) -> list[ProfilePeak]:
    """The rings of the radial profiles about each distinct centre, strongest first (a ring profiled
    about a wrong centre is smeared, so its best-centred copy comes first)."""
    distinct: list[tuple[float, float]] = []
    for c in centres:
        if all(np.hypot(c[0] - d[0], c[1] - d[1]) > CENTRE_MERGE_PX for d in distinct):
            distinct.append(c)
    peaks = [p for c in distinct[:MAX_CENTRES] for p in profiles.peaks(c)]
    return sorted(peaks, key=lambda p: -p.height)


def _first_choices(candidates: list[ProfilePeak]) -> list[ProfilePeak]:
    """One copy of each ring (its strongest: the best-centred), strongest first, except that the rings
    nearly as strong as the strongest come first, innermost first: the first ring is the one the
    settings number 1, and an outer ring as strong is no clearer."""
    rings: list[ProfilePeak] = []
    for p in candidates:
        if not any(abs(p.radius - q.radius) < CLICK_TOLERANCE_PX and np.hypot(p.row - q.row, p.col - q.col)
                   < CLICK_TOLERANCE_PX for q in rings):
            rings.append(p)
    top = rings[0].height if rings else 0.0
    return (sorted((p for p in rings if p.height >= COMPARABLE * top), key=lambda p: p.radius)
            + [p for p in rings if p.height < COMPARABLE * top])


def _traced(data, invalid, peak: ProfilePeak, fixed_centre) -> CircleOutcome:
    """The ring of a profile peak, traced all along. The search window covers the ring's width; the
    sectors are long enough for the ring to stand out in each (a ring at signal-to-noise s over the
    whole profile shows s / √n in each of n sectors)."""
    half = max(8.0, float(peak.width))
    sector = max(8.0, 2 * np.pi * peak.radius * (SECTOR_SNR / peak.snr) ** 2)
    return fit_traced(data, invalid, peak.circle, fixed_centre, half_width_px=half, rounds=2, sector_px=sector,
                      min_half_width_px=max(4.0, 0.5 * float(peak.width)))


def find_ring(
    data: np.ndarray,
    invalid: np.ndarray | None,
    near: tuple[float, float] | None = None,
    fixed_centre: tuple[float, float] | None = None,
) -> CircleOutcome:
    """One ring found on the image with no clicks (or through the single click ``near`` = (row, col)),
    then fitted on points traced all along it.

    The centre comes from the image alone (where the ridges of :func:`~xcal.peaks.ring_finder.find_rings`
    point, or ``fixed_centre``); the rings are the peaks of the radial profile about it
    (:mod:`.circle_profile`), so the edge of the active area, a beamstop's shadow and its halo are
    never taken for one. With no click the strongest ring covering enough arc wins; a click chooses
    the ring through it, or is followed about the centre if no ring of the profile passes there.

    :raises PickError: no ring found, with what to do instead.
    """
    search = find_rings(data, invalid)
    profiles = RadialProfiles(data, invalid)
    centres = [fixed_centre] if fixed_centre is not None else [search.centre] + [
        (g.row, g.col) for g in sorted(search.rings, key=lambda g: -g.strength)]
    candidates = _candidates(profiles, centres)
    if near is not None:
        through = [p for p in candidates if abs(np.hypot(near[0] - p.row, near[1] - p.col) - p.radius) < CLICK_TOLERANCE_PX]
        for peak in through[:MAX_TRIES]:
            with contextlib.suppress(PickError):
                return _traced(data, invalid, peak, fixed_centre)
        if fixed_centre is None and not search.rings:
            raise PickError("No clear ring was found through the click: click points on the ring (point selection), "
                            "or give the centre (fixed centre) and click the ring once.")
        centre = fixed_centre if fixed_centre is not None else search.centre  # where the rings found meet
        return _follow_click(data, invalid, profiles, near, centre, fixed_centre)
    for peak in _first_choices(candidates)[:MAX_TRIES]:
        try:
            outcome = _traced(data, invalid, peak, fixed_centre)
        except PickError:
            continue
        inliers = outcome.fit.inliers
        if arc_deg(outcome.rows[inliers], outcome.cols[inliers], outcome.fit.row, outcome.fit.col) >= MIN_AUTO_ARC_DEG:
            return outcome
    raise PickError("No clear ring was found on the image: click points on the ring (point selection), "
                    "or give the centre (fixed centre) and click the ring once.")


def _follow_click(data, invalid, profiles: RadialProfiles, near, centre, fixed_centre) -> CircleOutcome:
    """The ring through the click about ``centre``, traced (a ring too faint for the profiles); refused
    if what was traced is not a peak of the radial profile (an edge, a shadow)."""
    try:
        outcome = fit_traced(data, invalid, Circle(*centre, float(np.hypot(near[0] - centre[0], near[1] - centre[1]))),
                             fixed_centre, rounds=2)
    except PickError as exc:
        raise PickError(f"No clear ring was found through the click. {exc} Click on the ring, or click points "
                        "on it (point selection).") from exc
    if not profiles.is_ring(outcome.fit.circle):
        raise PickError(f"No clear ring was found through the click: the circle of radius {outcome.fit.radius:.0f} px "
                        "there is not a ring (the intensity does not rise and fall across a narrow band): an edge of "
                        "the detector or of a beamstop's shadow. Click on a ring, or click points on it (point selection).")
    return outcome
