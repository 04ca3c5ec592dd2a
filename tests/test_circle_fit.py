"""Robust circle fit of clicked ring points, image refinement, and circle ↔ geometry."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from pyFAI.detectors import Detector

from xcal.core.circle_calibration import (
    d_spacing_from,
    distance_from_radius,
    geometry_from_circle,
    ring_radius_px,
)
from xcal.core.circle_fit import fit_circle_robust, refine_clicks, trace_ring
from xcal.core.conics import Circle
from xcal.core.errors import PickError

TRUE = Circle(512.37, 498.71, 300.0)


def clicks(n, arc_deg=360.0, noise=0.0, outliers=0, seed=0, circle=TRUE, start_deg=10.0):
    """``n`` points spread over an arc (jittered), radial noise, and gross outliers 10-80 px off."""
    rng = np.random.default_rng(seed)
    phi = np.radians(start_deg + (np.arange(n) + rng.uniform(0.2, 0.8, n)) * arc_deg / n)
    r = circle.radius + rng.normal(0, noise, n)
    bad = rng.choice(n, outliers, replace=False)
    r[bad] += rng.choice([-1, 1], outliers) * rng.uniform(10, 80, outliers)
    return circle.row + r * np.sin(phi), circle.col + r * np.cos(phi)


def centre_error(fit, circle=TRUE) -> float:
    return float(np.hypot(fit.row - circle.row, fit.col - circle.col))


def test_exact_points_give_the_exact_circle():
    fit = fit_circle_robust(*clicks(5))
    assert abs(fit.row - TRUE.row) < 1e-9 and abs(fit.col - TRUE.col) < 1e-9 and abs(fit.radius - TRUE.radius) < 1e-9
    assert fit.inliers.all() and fit.rms_px < 1e-9


def test_noisy_full_ring():
    fit = fit_circle_robust(*clicks(8, noise=0.5, seed=1))
    assert centre_error(fit) < 0.3 and abs(fit.radius - TRUE.radius) < 0.3


def test_gross_outliers_are_rejected():
    rows, cols = clicks(10, noise=0.5, outliers=3, seed=2)
    fit = fit_circle_robust(rows, cols)
    assert centre_error(fit) < 1.0
    assert fit.inliers.sum() == 7


@pytest.mark.parametrize(("arc", "tol"), [(90.0, 1.5), (180.0, 0.5)])
def test_arcs(arc, tol):
    fit = fit_circle_robust(*clicks(12, arc_deg=arc, noise=0.3, seed=3))
    assert centre_error(fit) < tol and abs(fit.radius - TRUE.radius) < tol


def test_fixed_centre_fits_the_radius_only():
    rows, cols = clicks(10, arc_deg=60, noise=0.3, outliers=2, seed=4)
    fit = fit_circle_robust(rows, cols, fixed_centre=(TRUE.row, TRUE.col))
    assert (fit.row, fit.col) == (TRUE.row, TRUE.col)
    assert abs(fit.radius - TRUE.radius) < 0.3 and fit.inliers.sum() == 8


def test_too_few_points():
    with pytest.raises(PickError, match="at least 3 points"):
        fit_circle_robust([1.0, 2.0], [3.0, 4.0])


def test_tiny_arc():
    with pytest.raises(PickError, match=r"cover only \d+°"):
        fit_circle_robust(*clicks(8, arc_deg=10, noise=0.05, seed=5))


def test_mostly_outliers():
    rows, cols = clicks(10, noise=0.3, outliers=6, seed=6)
    with pytest.raises(PickError, match="(?i)click more points"):
        fit_circle_robust(rows, cols)


def test_collinear_points():
    with pytest.raises(PickError, match="straight line"):
        fit_circle_robust(np.arange(6.0), 2 * np.arange(6.0) + 1)


def test_history_and_csv(tmp_path):
    fit = fit_circle_robust(*clicks(10, noise=0.5, outliers=2, seed=7))
    stages = [h[1] for h in fit.history]
    assert stages[0] == "start0" and "reject" in stages and stages[-1] == "final"
    path = tmp_path / "fit.csv"
    fit.to_csv(path)
    with open(path) as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(fit.history) + 1
    assert table[-1]["stage"] == "result"
    assert float(table[-1]["row"]) == fit.row and float(table[-1]["radius"]) == fit.radius


def test_global_search_recovers_a_wrong_start():
    rows, cols = clicks(12, arc_deg=150, noise=0.5, outliers=3, seed=8)
    wrong = Circle(TRUE.row + 400, TRUE.col - 300, 60.0)
    fit = fit_circle_robust(rows, cols, start=wrong, global_search=True)
    assert "global" in [h[1] for h in fit.history]
    assert centre_error(fit) < 2.0 and fit.inliers.sum() == 9
    repeat = fit_circle_robust(rows, cols, start=wrong, global_search=True)
    assert (repeat.row, repeat.col, repeat.radius) == (fit.row, fit.col, fit.radius)


def test_fit_is_fast():
    import time

    rows, cols = clicks(30, noise=0.5, outliers=5, seed=9)
    fit_circle_robust(rows, cols)
    t0 = time.perf_counter()
    for _ in range(20):
        fit_circle_robust(rows, cols)
    assert (time.perf_counter() - t0) / 20 < 0.010


@pytest.fixture(scope="module")
def ring_image():
    """A Gaussian ring (R = 300 px, σ = 1.5 px) on a flat background, Poisson noise."""
    rng = np.random.default_rng(10)
    yy, xx = np.mgrid[0:1024, 0:1024]
    r = np.hypot(yy - TRUE.row, xx - TRUE.col)
    data = rng.poisson(1000 * np.exp(-((r - TRUE.radius) ** 2) / (2 * 1.5**2)) + 50).astype(float)
    invalid = np.zeros(data.shape, bool)
    invalid[:, 700:705] = True  # a module gap across the ring
    return data, invalid


def test_refine_clicks_makes_the_fit_accurate(ring_image):
    data, invalid = ring_image
    for seed in range(3):
        rows, cols = clicks(8, noise=2.0, seed=20 + seed)
        fit = fit_circle_robust(rows, cols)
        for _ in range(2):
            fit = fit_circle_robust(*refine_clicks(data, invalid, rows, cols, fit))
        assert centre_error(fit) < 0.05 and abs(fit.radius - TRUE.radius) < 0.05


def test_trace_ring(ring_image):
    data, invalid = ring_image
    rows, cols = trace_ring(data, invalid, Circle(TRUE.row + 1.5, TRUE.col - 1.0, TRUE.radius + 2.0))
    err = np.abs(np.hypot(rows - TRUE.row, cols - TRUE.col) - TRUE.radius)
    assert len(rows) > 200
    assert np.median(err) < 0.05 and np.percentile(err, 95) < 0.1
    fit = fit_circle_robust(rows, cols)
    assert centre_error(fit) < 0.02


DETECTOR = Detector(pixel1=75e-6, pixel2=75e-6, max_shape=(1024, 1024))


def test_distance_and_geometry_agree_with_pyfai():
    d_A, wavelength = 58.38, 1.0e-10  # silver behenate d001
    fit = fit_circle_robust(*clicks(8))
    geometry = geometry_from_circle(fit, d_A, wavelength, DETECTOR)
    assert geometry.dist == pytest.approx(distance_from_radius(TRUE.radius, d_A, wavelength, 75e-6), rel=1e-12)
    phi = np.linspace(0, 2 * np.pi, 7)
    tth = geometry.tth(fit.row + fit.radius * np.sin(phi), fit.col + fit.radius * np.cos(phi))
    assert np.abs(tth - 2 * np.arcsin(wavelength / (2 * d_A * 1e-10))).max() < 1e-9


def test_spacing_radius_round_trip():
    distance, wavelength, pixel = 2.5, 1.03e-10, 172e-6
    radius = ring_radius_px(58.38, distance, wavelength, pixel)
    assert d_spacing_from(radius, distance, wavelength, pixel) == pytest.approx(58.38, rel=1e-12)
    assert distance_from_radius(radius, 58.38, wavelength, pixel) == pytest.approx(distance, rel=1e-12)
