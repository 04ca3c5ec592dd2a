"""Circles on the image: clicks moved onto the ring's intensity maximum, rings traced all along, and a
ring found with no clicks at all, each ending in :func:`~.circle_fit.fit_circle_robust`.

Clicks place the search windows, the image places the points: a hurried click 2 px off the ring
costs nothing; a wrong click becomes the ring's point at its azimuth, or, with no ring in reach,
stays where it is and is rejected by the fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xcal.core.circle_fit import MAD_FLOOR_PX, CircleFit, fit_circle_robust
from xcal.core.conics import Circle
from xcal.core.errors import PickError
from xcal.core.refinement import mad_outliers
from xcal.peaks.coordinates import EllipseCoordinate
from xcal.peaks.ring_finder import FoundRing, find_rings
from xcal.peaks.sector_peaks import annulus_pixels, sector_points

MIN_TRACED = 5  # points traced along a ring for a fit that can reject outliers
MIN_AUTO_ARC_DEG = 90.0  # a ring found on less arc than this is too uncertain to calibrate from
MIN_STRENGTH = 0.2  # of the strongest ring found: weaker "rings" may be noise or diffuse scattering
CLICK_TOLERANCE_PX = 10.0  # a click this close to a found ring chooses it
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
) -> CircleOutcome:
    """The circle through points traced all along the ring near ``circle``, traced again about each fit.

    :raises PickError: too few points found along the circle, or no sensible fit of them.
    """
    for _ in range(rounds):
        rows, cols = trace_ring(data, invalid, circle, half_width_px)
        if len(rows) < MIN_TRACED:
            raise PickError(f"No ring was found along the circle of radius {circle.radius:.0f} px: "
                            f"{len(rows)} points (at least {MIN_TRACED} are needed).")
        fit = fit_circle_robust(rows, cols, fixed_centre=fixed_centre, start=circle)
        if fit.rms_px > SHARPNESS * half_width_px:
            raise PickError(f"No ring was found along the circle of radius {circle.radius:.0f} px: the {len(rows)} points "
                            f"found there scatter by {fit.rms_px:.1f} px (rms), as noise does.")
        circle, half_width_px = fit.circle, max(4.0, 4 * fit.rms_px)
    return CircleOutcome(fit, rows, cols, "traced ring")


def _chosen_ring(rings: list[FoundRing], near: tuple[float, float] | None) -> FoundRing | None:
    """The ring through the click, or with no click the innermost clear ring: a calibrant's first
    ring is the one users number 1 (an outer ring is longer and so sums more ridge strength)."""
    rings = [g for g in rings if g.arc_deg >= MIN_AUTO_ARC_DEG]
    if not rings:
        return None
    if near is not None:
        ring = min(rings, key=lambda g: abs(np.hypot(near[0] - g.row, near[1] - g.col) - g.radius))
        return ring if abs(np.hypot(near[0] - ring.row, near[1] - ring.col) - ring.radius) < CLICK_TOLERANCE_PX else None
    strongest = max(g.strength for g in rings)
    return min((g for g in rings if g.strength >= MIN_STRENGTH * strongest), key=lambda g: g.radius)


def find_ring(
    data: np.ndarray,
    invalid: np.ndarray | None,
    near: tuple[float, float] | None = None,
    fixed_centre: tuple[float, float] | None = None,
) -> CircleOutcome:
    """One ring found on the image with no clicks (or through the single click ``near`` = (row, col)),
    then fitted on points traced all along it.

    Rings are found from the image alone (:func:`~xcal.peaks.ring_finder.find_rings`); a click on a
    ring that search missed is followed about the rings' common centre (or ``fixed_centre``).

    :raises PickError: no ring found, with what to do instead.
    """
    search = find_rings(data, invalid)
    ring = _chosen_ring(search.rings, near)
    if ring is not None:
        centre = fixed_centre if fixed_centre is not None else (ring.row, ring.col)
        dist = np.hypot(ring.points[:, 0] - centre[0], ring.points[:, 1] - centre[1])
        radius = float(np.median(dist))
        half = max(8.0, 4 * float(np.std(dist - radius)))  # the search's points lie within a few binned pixels
        return fit_traced(data, invalid, Circle(*centre, radius), fixed_centre, half_width_px=half, rounds=2)
    if near is None or (fixed_centre is None and not search.rings):
        where = "through the click" if near is not None else "on the image"
        raise PickError(f"No clear ring was found {where}: click points on the ring (point selection), "
                        "or give the centre (fixed centre) and click the ring once.")
    centre = fixed_centre if fixed_centre is not None else search.centre  # where the rings found meet
    try:
        return fit_traced(data, invalid, Circle(*centre, float(np.hypot(near[0] - centre[0], near[1] - centre[1]))),
                          fixed_centre, rounds=2)
    except PickError as exc:
        raise PickError(f"No clear ring was found through the click. {exc} Click on the ring, or click points "
                        "on it (point selection).") from exc
