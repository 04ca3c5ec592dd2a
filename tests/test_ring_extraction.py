"""Sub-pixel ring points from a slightly wrong geometry sit on the true rings."""

import numpy as np
import pytest
from pyFAI.calibrant import get_calibrant
from pyFAI.detectors import detector_factory

from xcal.core.calibration.synthetic import ring_image
from xcal.core.geometry.refinement import PointModel, new_geometry, refine, ring_tth
from xcal.peaks.ring_extraction import ExtractionOptions, extract_rings, search_windows

DET = detector_factory("Pilatus300k")
CAL = get_calibrant("LaB6")
DS = np.array(CAL.dspacing)
TRUTH = new_geometry(DET, dist=0.15, poni1=0.045, poni2=0.04, rot1=0.04, rot2=-0.03, wavelength=0.7e-10)


@pytest.fixture(scope="module")
def image():
    return ring_image(TRUTH, CAL, DET.shape, fwhm_deg=0.05, noise=True, seed=4)


def test_points_lie_on_true_rings(image):
    rough = new_geometry(DET, dist=0.1505, poni1=0.0452, poni2=0.0399, rot1=0.038, rot2=-0.03, wavelength=0.7e-10)
    pts = extract_rings(image, None, rough, DS, ExtractionOptions(delta_tth_deg=0.2))
    assert len(np.unique(pts.rings)) >= 6  # rings 0-5 cross the detector; 6 and 7 only touch corners
    err = np.degrees(PointModel(TRUTH, pts.rows, pts.cols).tth() - ring_tth(DS, pts.rings, TRUTH.wavelength))
    assert abs(np.mean(err)) < 2e-4 and np.sqrt(np.mean(err**2)) < 5e-3
    fit = refine(rough, pts, DS)
    assert abs(fit.geometry.dist - TRUTH.dist) / TRUTH.dist < 2e-5


def test_masked_pixels_give_no_points(image):
    invalid = np.zeros(DET.shape, bool)
    invalid[:, : DET.shape[1] // 2] = True
    pts = extract_rings(image, invalid, TRUTH, DS)
    assert len(pts) > 100 and pts.cols.min() >= DET.shape[1] // 2 - 1


def test_saturated_sectors_are_dropped(image):
    hot = image.copy()
    hot[hot > 300] = 70000
    assert len(extract_rings(hot, None, TRUTH, DS, ExtractionOptions(max_intensity=55000))) < 0.2 * len(extract_rings(image, None, TRUTH, DS))


def test_windows_never_hold_two_lines():
    centres, half = search_windows(TRUTH, DS, np.arange(20), np.deg2rad(1.0))
    all_lines = np.sort(ring_tth(DS, np.arange(len(DS)), TRUTH.wavelength))
    for c, h in zip(centres, half):
        assert np.sum(np.abs(all_lines - c) < h) == 1


@pytest.mark.parametrize("method", ["massif", "blob"])
def test_dioptas_style_methods_find_ring_points(image, method):
    pts = extract_rings(image, None, TRUTH, DS, ExtractionOptions(method=method, min_snr=1.0))
    assert len(pts) > 20
    err = np.degrees(PointModel(TRUTH, pts.rows, pts.cols).tth() - ring_tth(DS, pts.rings, TRUTH.wavelength))
    assert np.median(np.abs(err)) < 0.02


def test_blank_image_gives_no_points():
    assert len(extract_rings(np.ones(DET.shape, np.float32), None, TRUTH, DS)) == 0


def test_thinned_search_gives_fewer_points_all_round_each_ring(image):
    """An intermediate pass asks for about 200 points: it gets about that, spread over every ring's
    azimuth (a fit needs the whole circle), and each point as accurate as in the full search."""
    full = extract_rings(image, None, TRUTH, DS)
    thin = extract_rings(image, None, TRUTH, DS, max_points=200)
    assert 100 < len(thin) < 0.35 * len(full)
    crossing = range(6)  # rings 0-5 cross the detector; 6 only touches corners
    assert set(crossing) <= set(np.unique(thin.rings))

    def arcs(points, ring):  # 30° bins of χ holding points of the ring
        sel = points.rings == ring
        return set(np.floor(np.degrees(PointModel(TRUTH, points.rows[sel], points.cols[sel]).chi()) / 30))

    for ring in crossing:
        assert len(arcs(thin, ring)) >= 0.6 * len(arcs(full, ring))
    err = np.degrees(PointModel(TRUTH, thin.rows, thin.cols).tth() - ring_tth(DS, thin.rings, TRUTH.wavelength))
    assert abs(np.mean(err)) < 2e-4 and np.sqrt(np.mean(err**2)) < 5e-3
    assert len(extract_rings(image, None, TRUTH, DS, max_points=10 * len(full))) == len(full)  # enough: not thinned


def test_thinned_search_of_sparse_rings_searches_them_whole():
    """Spotty rings (3 crystallite patches each): the same windows as above would be thinned, but
    their bands hold too few points for a fit, so the rings are searched whole."""
    spotty = ring_image(TRUTH, CAL, DET.shape, fwhm_deg=0.05, noise=True, seed=4, spots=3)
    full = extract_rings(spotty, None, TRUTH, DS)
    assert len(extract_rings(spotty, None, TRUTH, DS, max_points=200, whole_if_sparse=False)) < 100
    thin = extract_rings(spotty, None, TRUTH, DS, max_points=200)
    assert np.array_equal(thin.rows, full.rows) and np.array_equal(thin.rings, full.rings)
