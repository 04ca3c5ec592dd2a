"""Synthetic calibrant images of known geometry, for tests, benchmarks and the example.

pyFAI's ``Calibrant.fake_calibration_image`` puts ring maxima on a coarse 2θ grid (errors up to
~0.01°), too coarse to test a calibration at the 0.05 px level. Here every ring is drawn as a
Gaussian of each pixel's exact 2θ, as pyFAI computes it for the geometry.
"""

from __future__ import annotations

import numpy as np
from pyFAI.calibrant import Calibrant
from pyFAI.geometry import Geometry


def ring_image(
    geometry: Geometry,
    calibrant: Calibrant,
    shape: tuple[int, int],
    fwhm_deg: float = 0.05,
    max_rings: int | None = None,
    intensity: float = 1000.0,
    background: float = 10.0,
    noise: bool = False,
    seed: int = 0,
    spots: int = 0,
) -> np.ndarray:
    """Image of the calibrant's rings for ``geometry``.

    :param fwhm_deg: ring width in degrees 2θ.
    :param intensity: peak height of the first ring; later rings fade slowly with 2θ.
    :param background: flat background plus a gentle radial slope.
    :param noise: add Poisson noise.
    :param spots: if > 0, make the rings spotty: only that many random azimuthal
        patches per ring carry intensity (a coarse-grained powder).
    """
    rng = np.random.default_rng(seed)
    tth = geometry.center_array(shape, unit="2th_rad", scale=False)
    chi = geometry.center_array(shape, unit="chi_rad", scale=False)
    calibrant = Calibrant(dspacing=list(calibrant.dspacing), wavelength=geometry.wavelength)
    lines = np.asarray(calibrant.get_2th(), dtype=float)
    if max_rings is not None:
        lines = lines[:max_rings]
    lines = lines[lines < tth.max() + np.deg2rad(3 * fwhm_deg)]
    sigma = np.deg2rad(fwhm_deg) / 2.3548
    image = np.full(shape, float(background)) * (1.0 + 0.5 * np.exp(-tth / 0.2))
    for index, line in enumerate(lines):
        near = np.abs(tth - line) < 6 * sigma
        if not near.any():
            continue
        amplitude = intensity * (0.6 + 0.4 * np.exp(-index / 8.0))
        ring = amplitude * np.exp(-0.5 * ((tth[near] - line) / sigma) ** 2)
        if spots:
            centres = rng.uniform(-np.pi, np.pi, spots)
            width = rng.uniform(0.02, 0.08, spots)
            dphi = np.angle(np.exp(1j * (chi[near][:, None] - centres[None, :])))
            ring *= np.exp(-0.5 * (dphi / width) ** 2).max(axis=1)
        image[near] += ring
    if noise:
        image = rng.poisson(np.clip(image, 0, None)).astype(float)
    return image.astype(np.float32)
