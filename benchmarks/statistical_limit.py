"""The photon-statistics limit of a synthetic case: how well *any* calibration could do.

A faint ring over a strong background holds only so much information about the geometry. The
Cramér–Rao bound turns the noise-free image model into the smallest standard deviation an
unbiased estimate of each quantity can have: Fisher information F = Σ_pixels J Jᵀ / μ for Poisson
pixels of mean μ, with J the derivative of μ with respect to the free geometry parameters, taken
by finite differences of the very image generator the case uses. The benchmark judges a case
against its fixed targets or, where photon statistics forbid those, against a few times this
bound. Nuisance parameters (ring heights, widths, background) count as known, which makes the
bound optimistic, so a target derived from it is if anything too strict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyFAI.geometry import Geometry

from benchmarks.synthetic_cases import SyntheticCase, make_detector, truth_geometry
from xcal.core.calibration.synthetic import ring_image
from xcal.core.geometry.beam import beam_centre
from xcal.core.geometry.refinement import geometry_values, make_geometry
from xcal.core.io.calibrants import load_calibrant

FREE = ("dist", "poni1", "poni2", "rot1", "rot2")  # what the calibration refines by default


@dataclass
class Limit:
    centre_px: float  # 1-sigma of the beam centre, root of the summed variance of x and y
    dist_pct: float
    tilt_deg: float  # the larger 1-sigma of rot1 and rot2


def _steps(geometry: Geometry) -> dict[str, float]:
    """Finite-difference steps that move the rings by about a hundredth of a pixel."""
    pixel = float(np.sqrt(geometry.detector.pixel1 * geometry.detector.pixel2))
    return {"dist": 0.01 * pixel, "poni1": 0.01 * pixel, "poni2": 0.01 * pixel,
            "rot1": 0.01 * pixel / geometry.dist, "rot2": 0.01 * pixel / geometry.dist}


def statistical_limit(case: SyntheticCase) -> Limit:
    """Cramér–Rao bound of the case's beam centre, distance and tilts (noise as the case draws it)."""
    detector = make_detector(case)
    truth = truth_geometry(case, detector)
    calibrant = load_calibrant(case.calibrant)
    shape = tuple(detector.shape)

    def model(geometry: Geometry) -> np.ndarray:
        return ring_image(geometry, calibrant, shape, fwhm_deg=case.fwhm_deg, max_rings=case.max_rings,
                          intensity=case.intensity, background=case.background, noise=False, seed=case.seed,
                          spots=case.spots).astype(np.float64)

    mean = model(truth)
    valid = np.ones(shape, bool) if detector.mask is None else ~detector.mask.astype(bool)
    values, steps = geometry_values(truth), _steps(truth)
    derivatives = []
    for name in FREE:
        moved = dict(values, **{name: values[name] + steps[name]})
        derivatives.append(((model(make_geometry(truth, moved)) - mean) / steps[name])[valid])
    jac = np.array(derivatives)
    fisher = (jac / np.maximum(mean[valid], 1.0)) @ jac.T
    cov = np.linalg.inv(fisher)
    # beam centre (x, y) as a function of the parameters, linearised
    b0 = np.array(beam_centre(truth, shape))
    db = np.array([(np.array(beam_centre(make_geometry(truth, dict(values, **{n: values[n] + steps[n]})), shape)) - b0)
                   / steps[n] for n in FREE]).T
    centre_cov = db @ cov @ db.T
    return Limit(
        centre_px=float(np.sqrt(np.trace(centre_cov))),
        dist_pct=float(100 * np.sqrt(cov[0, 0]) / truth.dist),
        tilt_deg=float(np.degrees(np.sqrt(max(cov[3, 3], cov[4, 4])))),
    )
