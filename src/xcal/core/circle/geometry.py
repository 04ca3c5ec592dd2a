"""Circle ↔ geometry for an untilted detector (SAXS, fibre): beam centre from the circle's centre,
distance from its radius and the ring's known spacing, and the reverse (spacing, or the ring's
radius, from a set distance).

Zero tilt: a ring of scattering angle 2θ, with 2θ = 2 asin(λ / 2d), is a circle of radius
R = D tan 2θ / pixel about the beam centre.
"""

from __future__ import annotations

import numpy as np
from pyFAI.geometry import Geometry

from xcal.core.errors import FitError
from xcal.core.geometry.conics import Circle
from xcal.core.geometry.refinement import new_geometry


def _two_theta(d_spacing_A: float, wavelength_m: float) -> float:
    """Bragg angle 2θ of spacing d (Å), refusing a spacing the wavelength cannot reach."""
    s = wavelength_m / (2 * d_spacing_A * 1e-10)
    if not (0 < s < 1 / np.sqrt(2)):  # beyond 2θ = 90° the ring never reaches a flat detector
        raise FitError(f"A d-spacing of {d_spacing_A} Å gives no ring on a flat detector at λ = {wavelength_m * 1e10:.4f} Å.")
    return 2 * float(np.arcsin(s))


def distance_from_radius(radius_px: float, d_spacing_A: float, wavelength_m: float, pixel_m: float) -> float:
    """Sample-detector distance (m) at which a ring of spacing d has the given radius."""
    if not radius_px > 0:
        raise FitError(f"The ring radius must be positive, not {radius_px} px.")
    return radius_px * pixel_m / np.tan(_two_theta(d_spacing_A, wavelength_m))


def ring_radius_px(d_spacing_A: float, distance_m: float, wavelength_m: float, pixel_m: float) -> float:
    """Radius (px) of the ring of spacing d at a given distance: where to expect it."""
    return distance_m * np.tan(_two_theta(d_spacing_A, wavelength_m)) / pixel_m


def d_spacing_from(radius_px: float, distance_m: float, wavelength_m: float, pixel_m: float) -> float:
    """Spacing (Å) of the ring of this radius at a known distance (e.g. d₁₀ of a fibre)."""
    two_theta = np.arctan(radius_px * pixel_m / distance_m)
    return wavelength_m / (2 * np.sin(two_theta / 2)) * 1e10


def geometry_from_circle(circle: Circle, d_spacing_A: float, wavelength_m: float, detector) -> Geometry:
    """Untilted pyFAI geometry: PONI at the circle's centre, distance from its radius.

    pyFAI puts pixel i's centre at (i + 0.5) pixel sizes, hence the half pixel.
    """
    p1, p2 = float(detector.pixel1), float(detector.pixel2)
    if abs(p1 - p2) > 1e-6 * p1:
        raise FitError(f"The detector's pixels are not square ({p1 * 1e6:.2f} × {p2 * 1e6:.2f} µm): a ring is not a circle on it.")
    return new_geometry(
        detector,
        dist=distance_from_radius(circle.radius, d_spacing_A, wavelength_m, p1),
        poni1=(circle.row + 0.5) * p1,
        poni2=(circle.col + 0.5) * p2,
        rot1=0.0,
        rot2=0.0,
        rot3=0.0,
        wavelength=wavelength_m,
    )
