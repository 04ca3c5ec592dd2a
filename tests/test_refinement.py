"""Refinement on exact control points of a known geometry: recovery, fixing, uncertainties, errors."""

import numpy as np
import pytest
from pyFAI.calibrant import get_calibrant
from pyFAI.detectors import detector_factory

from xcal.core.errors import FitError
from xcal.core.geometry.refinement import ControlPoints, PointModel, mad_outliers, new_geometry, refine, ring_tth

DET = detector_factory("Pilatus1M")
CEO2 = np.array(get_calibrant("CeO2").dspacing)
TRUTH = dict(dist=0.2, poni1=0.09, poni2=0.08, rot1=0.03, rot2=-0.02, rot3=0.0, wavelength=0.4e-10)


def ring_points(geometry, rings, n=200, noise_deg=0.0, seed=0):
    """Points exactly on the rings of ``geometry`` (found by bisection along rays from the beam)."""
    rng = np.random.default_rng(seed)
    rows, cols, idx = [], [], []
    f2d = geometry.getFit2D()
    cy, cx = f2d["centerY"] - 0.5, f2d["centerX"] - 0.5
    for ring in rings:
        target = ring_tth(CEO2, np.array([ring]), geometry.wavelength)[0] + np.deg2rad(rng.normal(0, noise_deg, n) if noise_deg else np.zeros(n))
        phi = rng.uniform(-np.pi, np.pi, n)
        lo, hi = np.zeros(n), np.full(n, 3000.0)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            t = PointModel(geometry, cy + mid * np.sin(phi), cx + mid * np.cos(phi)).tth()
            lo, hi = np.where(t < target, mid, lo), np.where(t < target, hi, mid)
        rows.append(cy + lo * np.sin(phi))
        cols.append(cx + lo * np.cos(phi))
        idx.append(np.full(n, ring))
    return ControlPoints(np.concatenate(rows), np.concatenate(cols), np.concatenate(idx))


@pytest.mark.parametrize("orientation", [1, 2, 3, 4])
def test_point_model_matches_pyfai(orientation):
    det = detector_factory("Pilatus1M", config={"orientation": orientation})
    rng = np.random.default_rng(orientation)
    rows, cols = rng.uniform(-50, 1100, (2, 500))
    for _ in range(5):
        values = dict(dist=rng.uniform(0.05, 1.0), poni1=rng.uniform(-0.05, 0.2), poni2=rng.uniform(-0.05, 0.2),
                      rot1=rng.uniform(-0.3, 0.3), rot2=rng.uniform(-0.3, 0.3), rot3=rng.uniform(-3, 3), wavelength=1e-10)
        g = new_geometry(det, **values)
        m = PointModel(g, rows, cols)
        assert np.allclose(m.tth(), g.tth(rows, cols), atol=1e-13, rtol=0)
        chi_diff = np.angle(np.exp(1j * (m.chi() - g.chi(rows, cols))))
        assert np.abs(chi_diff).max() < 1e-12
        trial = (0.3, 0.01, 0.02, 0.1, -0.05, 0.2)
        assert np.allclose(m.tth(trial), g.tth(rows, cols, param=list(trial)), atol=1e-13, rtol=0)


def test_refine_recovers_truth_from_a_rough_start():
    truth = new_geometry(DET, **TRUTH)
    pts = ring_points(truth, [0, 1, 2, 4, 6])
    start = new_geometry(DET, **(TRUTH | dict(dist=0.21, poni1=0.092, poni2=0.079, rot1=0.0, rot2=0.0)))
    fit = refine(start, pts, CEO2)
    for name in ("dist", "poni1", "poni2", "rot1", "rot2"):
        assert getattr(fit.geometry, name) == pytest.approx(TRUTH[name], abs=1e-9)
    assert fit.rms_deg < 1e-8
    assert [r.ring for r in fit.rings] == [0, 1, 2, 4, 6] and all(r.count == 200 for r in fit.rings)


def test_fixed_parameters_stay_and_wavelength_can_be_refined():
    truth = new_geometry(DET, **TRUTH)
    pts = ring_points(truth, [0, 2, 5, 9, 14])
    start = new_geometry(DET, **(TRUTH | dict(rot1=0.0, wavelength=0.401e-10)))
    fixed = refine(start, pts, CEO2, fix=("rot1", "rot3", "wavelength"))
    assert fixed.geometry.rot1 == 0.0 and fixed.geometry.wavelength == 0.401e-10
    assert "rot1" not in fixed.free and "rot1" not in fixed.sigma
    free = refine(start, pts, CEO2, fix=("rot3",))
    assert free.geometry.wavelength == pytest.approx(0.4e-10, rel=1e-7)


def test_uncertainties_are_honest():
    """With 0.002° noise on the points, the true error stays within a few reported sigmas."""
    truth = new_geometry(DET, **TRUTH)
    pts = ring_points(truth, [0, 1, 2, 4, 6, 9], n=300, noise_deg=0.002, seed=5)
    fit = refine(truth, pts, CEO2)
    for name in ("dist", "poni1", "poni2", "rot1", "rot2"):
        error = abs(getattr(fit.geometry, name) - TRUTH[name])
        assert 0 < fit.sigma[name] and error < 5 * fit.sigma[name]
    assert fit.rms_deg == pytest.approx(0.002, rel=0.15)


def test_fit_errors_are_clear():
    g = new_geometry(DET, **TRUTH)
    pts = ring_points(g, [0], n=3)
    with pytest.raises(FitError, match="too few"):
        refine(g, pts, CEO2)
    far = ControlPoints(pts.rows, pts.cols, np.full(3, 5000))
    with pytest.raises(FitError, match="does not exist"):
        refine(g, ControlPoints.concatenate([far, ring_points(g, [0, 1])]), CEO2)
    with pytest.raises(FitError, match="Unknown parameter"):
        refine(g, ring_points(g, [0, 1]), CEO2, fix=("distance",))
    with pytest.raises(FitError, match="wavelength"):
        refine(new_geometry(DET, **(TRUTH | dict(wavelength=0.0))), ring_points(g, [0, 1]), CEO2)


def test_poorly_determined_parameters_are_reported():
    """One short arc cannot pin down distance and tilt together."""
    truth = new_geometry(DET, **TRUTH)
    pts = ring_points(truth, [0], n=200, noise_deg=0.01, seed=2)
    f2d = truth.getFit2D()
    keep = np.arctan2(pts.rows - f2d["centerY"], pts.cols - f2d["centerX"]) > 0.5  # about 150° of one ring
    fit = refine(truth, pts.subset(keep), CEO2)
    assert any("poorly determined" in w for w in fit.warnings)


def test_mad_outliers():
    r = np.concatenate([np.random.default_rng(0).normal(0, 1, 200), [50.0, -40.0]])
    out = mad_outliers(r, 5.0)
    assert out[-2:].all() and out[:-2].sum() == 0
