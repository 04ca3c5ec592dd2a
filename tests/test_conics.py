"""Algebraic circle and ellipse fits recover known shapes."""

import numpy as np
import pytest

from xcal.core.geometry.conics import circles_through, fit_circle, fit_ellipse
from xcal.peaks.coordinates import EllipseCoordinate


@pytest.mark.parametrize("arc_deg", [360, 90, 30])
def test_circle_fit_on_arcs(arc_deg):
    rng = np.random.default_rng(3)
    phi = rng.uniform(0, np.deg2rad(arc_deg), 40)
    rows, cols = EllipseCoordinate.circle(120.0, -40.0, 800.0).points(phi)
    c = fit_circle(rows + rng.normal(0, 0.05, 40), cols + rng.normal(0, 0.05, 40))
    tol = 0.05 if arc_deg == 360 else 2.0
    assert abs(c.row - 120.0) < tol and abs(c.col + 40.0) < tol and abs(c.radius - 800.0) < tol


def test_circle_fit_rejects_degenerate_input():
    with pytest.raises(ValueError):
        fit_circle([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        fit_circle([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0])  # collinear


@pytest.mark.parametrize("angle", [-1.2, 0.0, 0.4, 1.5])
def test_ellipse_fit_recovers_axes_and_angle(angle):
    rng = np.random.default_rng(1)
    truth = EllipseCoordinate(500.0, 400.0, 300.0, 200.0, angle)
    rows, cols = truth.points(rng.uniform(0, 2 * np.pi, 200))
    e = fit_ellipse(rows, cols)
    assert abs(e.row - 500) < 1e-6 and abs(e.col - 400) < 1e-6
    assert abs(e.a - 300) < 1e-6 and abs(e.b - 200) < 1e-6
    assert abs(np.angle(np.exp(2j * (e.angle - angle)))) < 1e-6  # axis direction, modulo π


def test_ellipse_coordinate_is_one_on_its_curve():
    e = EllipseCoordinate(10.0, 20.0, 50.0, 30.0, 0.7)
    rows, cols = e.points(np.linspace(-3, 3, 25), 1.3)
    assert np.allclose(e.radial(rows, cols), 1.3)


def test_circles_through_three_points_many_at_once():
    rng = np.random.default_rng(5)
    phi = rng.uniform(0, 2 * np.pi, (50, 3))
    rows, cols = EllipseCoordinate.circle(120.0, -40.0, 800.0).points(phi.ravel())
    pts = np.column_stack([rows, cols]).reshape(50, 3, 2)
    r, c, radius = circles_through(pts[:, 0], pts[:, 1], pts[:, 2])
    assert np.allclose(r, 120.0) and np.allclose(c, -40.0) and np.allclose(radius, 800.0)
    r, c, radius = circles_through([0.0, 0.0], [[1.0, 1.0], [0.0, 3.0]], [[2.0, 2.0], [4.0, 3.0]])
    assert radius[0] == np.inf and (r[1], c[1], radius[1]) == pytest.approx((2.0, 1.5, 2.5))
