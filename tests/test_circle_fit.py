"""Robust circle fit of clicked ring points, the circle on the image (refined clicks, traced ring, a ring
found with no clicks), and circle ↔ geometry."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from pyFAI.calibrant import get_calibrant
from pyFAI.detectors import Detector

from xcal.core.calibration.synthetic import ring_image as calibrant_image
from xcal.core.circle.fit import fit_circle_robust, robust_cost
from xcal.core.circle.geometry import d_spacing_from, distance_from_radius, geometry_from_circle, ring_radius_px
from xcal.core.circle.image import find_ring, fit_clicks, fit_traced, trace_ring
from xcal.core.errors import PickError
from xcal.core.geometry.conics import Circle
from xcal.core.geometry.refinement import new_geometry

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


def test_far_outliers_on_a_small_ring_do_not_win():
    """R = 50 px, 8 clicks on 63° of arc, two wrong clicks 44 px out and 35 px in (a benchmark case):
    an unbounded loss preferred a circle that bent towards the inner wrong click."""
    phi = np.radians([148.8, 164.2, -4.7, -172.3, -167.1, -149.9, -138.5, -132.3])
    dr = np.array([43.86, 0.27, -34.54, -0.4, -0.15, 0.06, -0.02, 0.42])
    true = Circle(70.2, 69.8, 50.0)
    fit = fit_circle_robust(true.row + (50 + dr) * np.sin(phi), true.col + (50 + dr) * np.cos(phi))
    assert fit.inliers.tolist() == [False, True, False, True, True, True, True, True]
    assert centre_error(fit, true) < 5.0  # six clicks at 0.3 px on 63°: a few px is the noise


def test_bounded_cost():
    """Every outlier costs about the same, wherever it is: moving one from 40 to 8 px off gains nothing."""
    rows, cols = np.array([0.0, 40.0, 8.0]), np.array([110.0, 0.0, 0.0])
    near, far = robust_cost(rows[1:], cols[1:], 0.0, 0.0, 0.0)[()], robust_cost(rows[:2], cols[:2], 0.0, 0.0, 0.0)[()]
    assert 0.98 < near <= far < 1.0


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


def test_clicks_refined_on_the_image_are_accurate(ring_image):
    data, invalid = ring_image
    for seed in range(3):
        rows, cols = clicks(8, noise=2.0, seed=20 + seed)
        outcome = fit_clicks(data, invalid, rows, cols)
        assert outcome.source == "refined clicks"
        assert centre_error(outcome.fit) < 0.05 and abs(outcome.fit.radius - TRUE.radius) < 0.05


def test_the_image_decides_when_the_clicks_alone_cannot():
    """R = 50 px, 12 clicks at 2 px noise on 180°, four wrong ones 15-48 px off (a benchmark case): the
    clicks alone look like no circle, but their rough fit places the search windows well enough."""
    true = Circle(70.3, 69.6, 50.0)
    yy, xx = np.mgrid[0:140, 0:140]
    r = np.hypot(yy - true.row, xx - true.col)
    data = np.random.default_rng(3).poisson(1000 * np.exp(-((r - 50) ** 2) / (2 * 1.5**2)) + 50).astype(float)
    phi = np.radians([-29.5, -15.0, 6.6, 16.6, 28.8, 51.5, 66.5, 75.4, 91.0, 109.3, 126.0, 137.7])
    dr = np.array([-38.42, 3.64, -1.81, -1.96, -15.25, -47.99, 1.48, -14.75, 2.41, -4.14, -1.47, -1.14])
    rows, cols = true.row + (50 + dr) * np.sin(phi), true.col + (50 + dr) * np.cos(phi)
    with pytest.raises(PickError, match="rms"):
        fit_circle_robust(rows, cols)
    fit = fit_clicks(data, None, rows, cols).fit
    assert centre_error(fit, true) < 0.1 and abs(fit.radius - 50) < 0.1
    assert fit.inliers.sum() >= 8


def test_trace_ring(ring_image):
    data, invalid = ring_image
    rows, cols = trace_ring(data, invalid, Circle(TRUE.row + 1.5, TRUE.col - 1.0, TRUE.radius + 2.0))
    err = np.abs(np.hypot(rows - TRUE.row, cols - TRUE.col) - TRUE.radius)
    assert len(rows) > 200
    assert np.median(err) < 0.05 and np.percentile(err, 95) < 0.1
    fit = fit_circle_robust(rows, cols)
    assert centre_error(fit) < 0.02


def test_fit_traced_from_a_rough_circle(ring_image):
    data, invalid = ring_image
    outcome = fit_traced(data, invalid, Circle(TRUE.row - 3.0, TRUE.col + 2.0, TRUE.radius - 4.0), rounds=2)
    assert outcome.source == "traced ring" and len(outcome.rows) > 200
    assert centre_error(outcome.fit) < 0.02 and abs(outcome.fit.radius - TRUE.radius) < 0.02
    with pytest.raises(PickError, match="No ring was found along the circle"):
        fit_traced(data, invalid, Circle(TRUE.row, TRUE.col, 150.0))


# Silver behenate (d = 58.38 Å, 29.19 Å, ...) at 1.2 m, 1 Å, 172 µm pixels: rings at 119.5 and 239.1 px.
AGBH = dict(distance=1.2, wavelength=1e-10, pixel=172e-6, centre=(250.3, 230.6), shape=(500, 480))


@pytest.fixture(scope="module")
def agbh_image():
    """Three AgBh rings (pyFAI geometry, Poisson noise), a beamstop arm and a module gap masked."""
    p, (row, col) = AGBH["pixel"], AGBH["centre"]
    geometry = new_geometry(Detector(p, p, max_shape=AGBH["shape"]), dist=AGBH["distance"], poni1=(row + 0.5) * p,
                            poni2=(col + 0.5) * p, rot1=0.0, rot2=0.0, rot3=0.0, wavelength=AGBH["wavelength"])
    data = calibrant_image(geometry, get_calibrant("AgBh"), AGBH["shape"], noise=True, intensity=400, background=20,
                           max_rings=3)
    invalid = np.zeros(AGBH["shape"], bool)
    invalid[240:262, :235] = True
    invalid[:, 300:306] = True
    data[invalid] = 0
    radii = [ring_radius_px(d, AGBH["distance"], AGBH["wavelength"], p) for d in get_calibrant("AgBh").dspacing[:2]]
    return data, invalid, radii


def test_find_ring_from_the_image_alone(agbh_image):
    data, invalid, radii = agbh_image
    outcome = find_ring(data, invalid)
    fit = outcome.fit
    assert outcome.source == "traced ring" and len(outcome.rows) > 50
    assert centre_error(fit, Circle(*AGBH["centre"], 0)) < 0.05
    assert fit.radius == pytest.approx(radii[0], abs=0.05)  # the first ring, not the longer second one


def test_find_ring_through_a_click_and_about_a_fixed_centre(agbh_image):
    data, invalid, radii = agbh_image
    row, col = AGBH["centre"]
    click = (row + radii[1] * np.sin(1.0) - 2, col + radii[1] * np.cos(1.0) + 3)  # 3 px off ring 2
    fit = find_ring(data, invalid, near=click).fit
    assert centre_error(fit, Circle(row, col, 0)) < 0.05 and fit.radius == pytest.approx(radii[1], abs=0.05)
    fixed = find_ring(data, invalid, near=click, fixed_centre=(row + 0.3, col)).fit
    assert (fixed.row, fixed.col) == (row + 0.3, col) and fixed.radius == pytest.approx(radii[1], abs=0.2)
    with pytest.raises(PickError, match="through the click"):
        find_ring(data, invalid, near=(row + 180.0, col))  # between the rings


def test_find_ring_on_a_blank_image():
    blank = np.random.default_rng(0).poisson(100, (300, 300)).astype(float)
    with pytest.raises(PickError, match="No clear ring was found on the image: click points"):
        find_ring(blank, None)


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


def test_a_click_follows_a_ring_the_search_missed_about_a_fixed_centre():
    """A ring whose centre lies far outside the image shows 70° of arc, too little for the search's
    rings: with the centre given, one click on it is enough."""
    true = Circle(-255.3, 200.4, 300.0)
    yy, xx = np.mgrid[0:300, 0:400]
    r = np.hypot(yy - true.row, xx - true.col)
    data = np.random.default_rng(4).poisson(500 * np.exp(-((r - true.radius) ** 2) / (2 * 1.5**2)) + 30).astype(float)
    click = (true.row + 302 * np.sin(1.45), true.col + 302 * np.cos(1.45))
    fit = find_ring(data, None, near=click, fixed_centre=(true.row, true.col)).fit
    assert (fit.row, fit.col) == (true.row, true.col)
    assert fit.radius == pytest.approx(true.radius, abs=0.05) and len(fit.residuals) > 20
