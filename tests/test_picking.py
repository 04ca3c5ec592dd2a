"""Picking from a click on synthetic images of known geometry: rings, single peaks, refusals.

Points are judged by their *true* 2θ (the geometry the image was drawn with), so the tests
measure where the picked points really lie, not how well they fit each other.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from benchmarks.synthetic_cases import (
    CASES_BY_NAME,
    click_on_ring,
    dspacing_of,
    first_visible_ring,
    make_cached,
    ring_pixels,
)
from xcal.core.calibration.session import CalibrationSession
from xcal.core.errors import PickError
from xcal.core.geometry.refinement import ring_tth
from xcal.core.io.images import Image
from xcal.peaks.picking import RingPicker, pick_single_peak

RING_RMS_DEG = 0.005  # traced points on the true ring
SINGLE_PEAK_PX = 0.3  # single peak search, radial distance to the true ring


def _image(name: str):
    image, truth, detector = make_cached(name)
    return image, image < 0, truth, detector, dspacing_of(CASES_BY_NAME[name].calibrant)


def _true_residual_deg(truth, dspacing, ring: int, points: np.ndarray) -> np.ndarray:
    expected = ring_tth(dspacing, np.array([ring]), truth.wavelength)[0]
    return np.degrees(truth.tth(points[:, 0], points[:, 1]) - expected)


def _radial_px(truth, dspacing, ring: int, row: float, col: float) -> float:
    """Signed distance in pixels from (row, col) to the true ring, along the 2θ gradient."""
    expected = ring_tth(dspacing, np.array([ring]), truth.wavelength)[0]
    h = 0.5
    r, c = np.array([row]), np.array([col])
    g_r = (truth.tth(r + h, c) - truth.tth(r - h, c))[0] / (2 * h)
    g_c = (truth.tth(r, c + h) - truth.tth(r, c - h))[0] / (2 * h)
    return float((truth.tth(r, c)[0] - expected) / np.hypot(g_r, g_c))


def _pick(image, invalid, click, method="massif"):
    return RingPicker(image, invalid).pick_ring(click[0], click[1], method=method)


@pytest.mark.parametrize("method", ["massif", "blob"])
@pytest.mark.parametrize("ring", [0, 1])
def test_ring_pick_crosses_module_gaps_and_lies_on_the_ring(method, ring):
    """A click on a Pilatus 1M ring (gaps masked) traces it across the gaps, on the true ring."""
    image, invalid, truth, detector, dspacing = _image("LaB6_Pilatus1M_centred")
    modules, n_modules = ndimage.label(~detector.mask.astype(bool))
    assert n_modules == 10
    click = click_on_ring(truth, image.shape, dspacing, ring, np.random.default_rng(1), invalid=invalid)
    points = _pick(image, invalid, click, method)
    on_module = modules[np.round(points[:, 0]).astype(int), np.round(points[:, 1]).astype(int)]
    assert len(np.unique(on_module[on_module > 0])) >= 3, f"points on modules {np.unique(on_module)}"
    residual = _true_residual_deg(truth, dspacing, ring, points)
    rms = float(np.sqrt(np.mean(residual**2)))
    assert rms < RING_RMS_DEG, f"{len(points)} points, RMS {rms:.5f}°, worst {np.abs(residual).max():.4f}°"


def test_ring_pick_on_a_tilted_off_centre_ring():
    """The third ring of a tilted CeO2 image crosses the gaps at a slant; every traced point must be on the ring."""
    image, invalid, truth, _, dspacing = _image("CeO2_Pilatus1M_tilted")
    click = click_on_ring(truth, image.shape, dspacing, 2, np.random.default_rng(1), invalid=invalid)
    points = _pick(image, invalid, click)
    assert len(points) > 100
    residual = _true_residual_deg(truth, dspacing, 2, points)
    assert np.sqrt(np.mean(residual**2)) < RING_RMS_DEG


@pytest.mark.parametrize("name", ["LaB6_Pilatus1M_centred", "CeO2_Pilatus1M_tilted", "LaB6_Pilatus300k_outside"])
def test_single_peak_is_sub_pixel(name):
    """The single peak search lands within 0.3 px of the true ring crossing (radially), for 10 clicks."""
    image, invalid, truth, _, dspacing = _image(name)
    rng = np.random.default_rng(5)
    errors = []
    for _ in range(10):
        click = click_on_ring(truth, image.shape, dspacing, 0, rng, invalid=invalid)
        row, col = pick_single_peak(image, invalid, *click)
        assert not invalid[int(round(row)), int(round(col))]
        errors.append(_radial_px(truth, dspacing, 0, row, col))
    assert np.max(np.abs(errors)) < SINGLE_PEAK_PX, f"radial errors (px): {np.round(errors, 3)}"


def test_single_peak_through_the_session():
    image, invalid, truth, _, dspacing = _image("LaB6_Pilatus1M_centred")
    session = CalibrationSession()
    session.set_image(Image(image, "synthetic", 0, 1))
    session.set_detector("Pilatus1M")
    session.set_calibrant("LaB6")
    click = click_on_ring(truth, image.shape, dspacing, 1, np.random.default_rng(2), invalid=session.invalid)
    group = session.pick(click[0], click[1], 1, mode="peak")
    assert group.points.shape == (1, 2) and group.ring == 1
    assert abs(_radial_px(truth, dspacing, 1, *group.points[0])) < SINGLE_PEAK_PX


def _background_pick(image, invalid, click):
    """Points returned for a click on background; [] when the picker refuses (PickError)."""
    try:
        return _pick(image, invalid, click)
    except PickError:
        return np.empty((0, 2))


def test_click_on_background_gives_no_ring():
    """Inside the first ring of a centred LaB6 image: nothing within ~200 px but noisy background."""
    image, invalid, truth, _, dspacing = _image("LaB6_Pilatus1M_centred")
    cy, cx = 521.5, 490.5  # the beam centre (array pixels)
    points = _background_pick(image, invalid, (cy - 70.0, cx - 70.0))
    assert len(points) == 0, f"{len(points)} points returned, 2θ {np.round(np.degrees(truth.tth(points[:3, 0], points[:3, 1])), 2)}°"


def test_click_on_pure_noise_gives_no_ring():
    rng = np.random.default_rng(0)
    image = rng.poisson(100.0, (1043, 981)).astype(np.float32)
    invalid = np.zeros(image.shape, bool)
    points = _background_pick(image, invalid, (500.0, 400.0))
    assert len(points) == 0, f"{len(points)} points returned on pure noise"


def test_click_in_a_masked_region_is_refused():
    image, _, truth, _, dspacing = _image("LaB6_Pilatus1M_centred")
    session = CalibrationSession()
    session.set_image(Image(image, "synthetic", 0, 1))
    session.set_detector("Pilatus1M")
    session.set_calibrant("LaB6")
    click = click_on_ring(truth, image.shape, dspacing, 0, np.random.default_rng(0), invalid=session.invalid)
    mask = np.zeros(image.shape, bool)
    r, c = int(click[0]), int(click[1])
    mask[r - 30 : r + 31, c - 30 : c + 31] = True
    session.user_mask = mask
    for mode in ("ring", "peak"):
        with pytest.raises(PickError):
            session.pick(click[0], click[1], 0, mode=mode)
    assert len(session.picks) == 0


def test_click_outside_the_image_is_refused():
    image, invalid, *_ = _image("LaB6_Pilatus1M_centred")
    with pytest.raises(PickError):
        pick_single_peak(image, invalid, -50.0, 2000.0)


def _sector_coverage(truth, image, invalid, dspacing, ring, points, bins=144):
    """(visible sectors, sectors with a traced point): 2.5° sectors of χ about the true beam centre."""
    rows, cols = ring_pixels(truth, image.shape, dspacing, ring, invalid)
    chi = truth.chi(rows.astype(float), cols.astype(float))
    visible = np.bincount(((chi + np.pi) / (2 * np.pi) * bins).astype(int) % bins, minlength=bins) >= 3
    got = np.zeros(bins, bool)
    pchi = truth.chi(points[:, 0], points[:, 1])
    got[((pchi + np.pi) / (2 * np.pi) * bins).astype(int) % bins] = True
    return int(visible.sum()), int((got & visible).sum())


@pytest.mark.parametrize(("name", "ring"), [("LaB6_Pilatus300k_outside", 0), ("LaB6_Pilatus300k_outside", 1),
                                            ("AgBh_Pilatus1M_saxs_outside", 1), ("Si_Pilatus300k_edge", 0)])
def test_partial_arc_is_traced_end_to_end(name, ring):
    """Beam outside (or at the edge of) the image: the click traces >= 90 % of the arc's visible sectors."""
    image, invalid, truth, _, dspacing = _image(name)
    click = click_on_ring(truth, image.shape, dspacing, ring, np.random.default_rng(0), invalid=invalid)
    points = _pick(image, invalid, click)
    visible, covered = _sector_coverage(truth, image, invalid, dspacing, ring, points)
    assert visible >= 20
    assert covered >= 0.9 * visible, f"{covered}/{visible} visible 2.5° sectors traced"
    residual = _true_residual_deg(truth, dspacing, ring, points)
    assert np.sqrt(np.mean(residual**2)) < RING_RMS_DEG


def test_click_on_a_spot_of_a_spotty_ring():
    """Spotty rings (40 crystallites): a click on a bright spot of the third ring traces that ring."""
    image, invalid, truth, _, dspacing = _image("CeO2_Pilatus1M_spotty")
    rows, cols = ring_pixels(truth, image.shape, dspacing, 2, invalid)
    brightest = np.argsort(image[rows, cols])[-200:]
    k = np.random.default_rng(0).choice(brightest)
    points = _pick(image, invalid, (float(rows[k]), float(cols[k])))
    residual = _true_residual_deg(truth, dspacing, 2, points)
    assert len(points) >= 20
    assert np.sqrt(np.mean(residual**2)) < RING_RMS_DEG, f"{len(points)} points, RMS {np.sqrt(np.mean(residual**2)):.4f}°"


def test_weak_ring_is_traced_from_a_few_clicks():
    """Too weak for a one-click trace (30 counts over 1000), a ring is followed from four clicks
    along it, as in pyFAI-calib2, and the calibration lands near the truth."""
    from xcal.core.geometry.beam import beam_centre

    image, invalid, truth, _, dspacing = _image("LaB6_Pilatus1M_weak")
    session = CalibrationSession()
    session.set_image(Image(image, "synthetic", 0, 1))
    session.set_detector("Pilatus1M")
    session.set_calibrant("LaB6")
    session.wavelength = truth.wavelength
    rng = np.random.default_rng(0)
    ring = first_visible_ring(truth, image.shape, dspacing, session.invalid)
    clicks = [click_on_ring(truth, image.shape, dspacing, ring, rng, invalid=session.invalid) for _ in range(4)]
    for row, col in clicks[:3]:
        session.pick(row, col, ring, mode="peak", search_size=1)
    group = session.pick(*clicks[3], ring, mode="ring")
    assert len(group.points) > 40 and len(session.picks.groups) == 1  # the trace replaced the clicks
    err = np.degrees(truth.tth(group.points[:, 0], group.points[:, 1]) - truth.tth(*np.array(clicks[3]).reshape(2, 1)))
    assert np.median(np.abs(err)) < 0.05
    result = session.calibrate()
    found, true = beam_centre(result.geometry, image.shape), beam_centre(truth, image.shape)
    assert np.hypot(found[0] - true[0], found[1] - true[1]) < 0.5
    assert abs(result.geometry.dist - truth.dist) / truth.dist < 5e-4
