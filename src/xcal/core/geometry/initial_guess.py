"""First geometry from the user's picks: several starts, each refined, the best kept.

A single start fails in predictable ways (an ellipse fit on a short arc, a mistyped distance), so
the candidates are: the circle through the inner ring with the distance from its radius, the same
with the user's distance, the distance from the radii of several rings (independent of any typed
distance), and tilted starts from the ellipse of the ring (through pyFAI's Fit2D conversion). Each is refined on the picks; the one with
the lowest residual wins.
"""

from __future__ import annotations

import numpy as np
from pyFAI.geometry import Geometry

from ..errors import FitError, PickError
from .conics import fit_circle, fit_ellipse
from .detectors import pixel_size
from .refinement import ControlPoints, FitResult, check_fix, new_geometry, refine, ring_tth


def _circle_start(points: ControlPoints, ring: int, detector, wavelength: float, dspacing, distance: float | None) -> Geometry | None:
    sel = points.rings == ring
    if sel.sum() < 3:
        return None
    try:
        circle = fit_circle(points.rows[sel], points.cols[sel])
    except ValueError:
        return None
    tth = ring_tth(dspacing, np.array([ring]), wavelength)[0]
    if not np.isfinite(tth):
        return None
    dist = distance if distance else circle.radius * pixel_size(detector) / np.tan(tth)
    return new_geometry(
        detector,
        dist=dist,
        poni1=(circle.row + 0.5) * detector.pixel1,
        poni2=(circle.col + 0.5) * detector.pixel2,
        wavelength=wavelength,
    )


def _multi_ring_distance(points: ControlPoints, detector, wavelength: float, dspacing) -> float | None:
    """Distance from the radii of two or more rings about a common circle centre."""
    rings = np.unique(points.rings)
    if len(rings) < 2:
        return None
    try:
        centre = fit_circle(points.rows[points.rings == rings[0]], points.cols[points.rings == rings[0]])
    except ValueError:
        return None
    radii, tans = [], []
    for ring in rings:
        sel = points.rings == ring
        radii.append(np.median(np.hypot(points.rows[sel] - centre.row, points.cols[sel] - centre.col)))
        tans.append(np.tan(ring_tth(dspacing, np.array([ring]), wavelength)[0]))
    radii, tans = np.array(radii), np.array(tans)
    ok = np.isfinite(tans)
    if ok.sum() < 2:
        return None
    return float(np.sum(radii[ok] * tans[ok]) / np.sum(tans[ok] ** 2) * pixel_size(detector))


def _ellipse_starts(points: ControlPoints, ring: int, detector, wavelength: float, dspacing) -> list[Geometry]:
    """Tilted starts from the ellipse of one ring, through pyFAI's Fit2D conversion.

    The ring's axis ratio gives the tilt (b/a ≈ cos tilt) and its long axis the tilt plane; which
    end of that axis tilts towards the sample is ambiguous (θ or θ + 180°), and so is the sense of
    the angle between the image and Fit2D conventions, so all four are returned.
    """
    sel = points.rings == ring
    if sel.sum() < 12:
        return []
    try:
        e = fit_ellipse(points.rows[sel], points.cols[sel])
    except (ValueError, np.linalg.LinAlgError):
        return []
    tth = ring_tth(dspacing, np.array([ring]), wavelength)[0]
    if not (np.isfinite(tth) and e.b > 0.3 * e.a):
        return []
    pixel_um = np.array([detector.pixel1, detector.pixel2]) * 1e6
    direct = np.sqrt(e.a * e.b) * pixel_size(detector) / np.tan(tth)
    tilt = np.degrees(np.arccos(min(e.b / e.a, 1.0)))
    starts = []
    for plane in (np.degrees(e.angle), -np.degrees(e.angle), np.degrees(e.angle) + 180.0, 180.0 - np.degrees(e.angle)):
        g = new_geometry(detector, wavelength=wavelength)
        g.setFit2D(
            direct * 1e3, centerX=e.col + 0.5, centerY=e.row + 0.5,
            tilt=tilt, tiltPlanRotation=plane,
            pixelX=pixel_um[1], pixelY=pixel_um[0],
        )
        values = {k: getattr(g, k) for k in ("dist", "poni1", "poni2", "rot1", "rot2")}
        if all(np.isfinite(list(values.values()))) and values["dist"] > 0:
            starts.append(new_geometry(detector, wavelength=wavelength, **values))
    return starts


def guess_geometries(
    points: ControlPoints,
    detector,
    wavelength: float,
    dspacing: np.ndarray,
    distance: float | None = None,
    fix: tuple[str, ...] = ("rot3", "wavelength"),
) -> list[FitResult]:
    """Distinct refined first geometries from picks on at least one ring, best residual first.

    One ring cannot tell a tilt from its mirror image (both fit it equally well), so every
    distinct solution is returned and the image decides (see ``calibration.choose_start``).

    :param distance: the user's sample-detector distance in metres, if known.
    :raises PickError: not enough picks.  :raises FitError: no start converged.
    """
    check_fix(fix)
    if len(points) < 3:
        raise PickError(f"{len(points)} picked points are not enough: pick at least one ring (3 points or more).")
    dspacing = np.asarray(dspacing, dtype=float)
    if points.rings.max() >= len(dspacing):
        raise PickError(f"Ring {points.rings.max() + 1} does not exist: the calibrant has {len(dspacing)} lines.")
    if not np.all(np.isfinite(ring_tth(dspacing, np.unique(points.rings), wavelength))):
        raise PickError("A picked ring cannot diffract at this wavelength: check the ring numbers and the wavelength.")
    rings, counts = np.unique(points.rings, return_counts=True)
    inner = int(rings[np.argmax(counts)])
    starts: list[Geometry] = []
    distances = {distance, None, _multi_ring_distance(points, detector, wavelength, dspacing)}
    if "dist" in fix and distance:  # a fixed distance keeps the user's value
        distances = {distance}
    for d in distances:
        g = _circle_start(points, inner, detector, wavelength, dspacing, d)
        if g is not None:
            starts.append(g)
    if not {"rot1", "rot2"} & set(fix):  # fixed tilts keep their start value, zero
        starts += _ellipse_starts(points, inner, detector, wavelength, dspacing)
    if not starts:
        raise FitError("No starting geometry could be made from the picks: pick more points on the ring.")
    centred_only = tuple(set(fix) | {"rot1", "rot2"})
    fits: list[FitResult] = []
    for start in starts:
        for fixed in (centred_only, tuple(fix)):
            try:
                fit = refine(start, points, dspacing, fix=fixed)
            except FitError:
                continue
            start = fit.geometry  # tilts are freed from the untilted optimum
            fits.append(fit)
    if not fits:
        raise FitError("The geometry fit did not converge from any start: check the wavelength, ring numbers and picks.")
    fits.sort(key=lambda f: f.rms_deg)
    best = fits[0].rms_deg
    distinct: list[FitResult] = []
    for fit in fits:
        if fit.rms_deg > 3.0 * best + 1e-4:  # clearly worse fits of the picks are not candidates
            continue
        if all(not _same_geometry(fit.geometry, other.geometry) for other in distinct):
            distinct.append(fit)
    return distinct


def _same_geometry(a: Geometry, b: Geometry) -> bool:
    pixel = pixel_size(a.detector)
    return (
        abs(a.poni1 - b.poni1) < 2 * pixel
        and abs(a.poni2 - b.poni2) < 2 * pixel
        and abs(a.rot1 - b.rot1) < np.deg2rad(0.3)
        and abs(a.rot2 - b.rot2) < np.deg2rad(0.3)
        and abs(a.dist - b.dist) < 0.003 * a.dist
    )
