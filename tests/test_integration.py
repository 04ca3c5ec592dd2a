"""Patterns and cakes (``xcal.core.integration``): peaks where the calibrant lines are, straight cake
lines for the true geometry, integrator caching, masks, and a real high-pressure sample."""

from __future__ import annotations

import fabio
import numpy as np
import pytest
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry

from xcal.core.calibrants import load_calibrant
from xcal.core.errors import XcalError
from xcal.core.images import load_image
from xcal.core.integration import PATTERN_UNITS, Integrator, calibrant_positions
from xcal.core.poni import read_poni, write_poni
from xcal.core.session import CalibrationSession
from xcal.core.synthetic import ring_image

DETECTOR = "Pilatus300k"
WAVELENGTH = 0.3e-10
WAVELENGTH_FE = 0.40663e-10  # m, the Fe sample's .poni (SOURCES.md)
TRUE = dict(dist=0.2, poni1=0.054, poni2=0.041, rot1=0.012, rot2=-0.008, rot3=0.0)


def true_geometry(**changes) -> Geometry:
    return Geometry(detector=detector_factory(DETECTOR), wavelength=WAVELENGTH, **{**TRUE, **changes})


@pytest.fixture(scope="module")
def case() -> dict:
    g = true_geometry()
    dspacing = np.asarray(load_calibrant("CeO2").dspacing)
    data = ring_image(g, load_calibrant("CeO2"), g.detector.shape, fwhm_deg=0.06, noise=True, seed=3)
    gaps = g.detector.mask.astype(bool)
    return {"geometry": g, "dspacing": dspacing, "data": data, "mask": gaps}


def local_maxima(y: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` highest local maxima, highest first."""
    k = np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:])) + 1
    return k[np.argsort(y[k])[::-1][:n]]


@pytest.mark.parametrize("unit", PATTERN_UNITS)
def test_pattern_peaks_at_calibrant_positions(case, unit) -> None:
    pattern = Integrator().pattern(case["data"], case["geometry"], case["mask"], 2000, unit)
    x, y = pattern.radial, pattern.intensity
    assert pattern.unit == unit
    assert np.all(np.diff(x) > 0)  # ascending, d included
    assert np.all(np.isfinite(y))
    lines = calibrant_positions(case["dspacing"], WAVELENGTH, unit)
    maxima = local_maxima(y, 10)
    assert maxima[0] == np.argmax(y)
    matched = set()
    for k in maxima:
        bin_width = abs(x[k + 1] - x[k - 1]) / 2
        j = int(np.argmin(np.abs(lines - x[k])))
        assert abs(lines[j] - x[k]) <= bin_width, (unit, x[k], lines[j])
        matched.add(j)
    assert len(matched) == 10
    # the other way round: each of the 6 innermost lines has a local maximum within one bin
    inner = np.sort(calibrant_positions(case["dspacing"], WAVELENGTH, "2th_deg"))[:6]
    all_max = np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:])) + 1
    for tth in inner:
        target = calibrant_positions(np.array([WAVELENGTH / (2 * np.sin(np.deg2rad(tth) / 2)) * 1e10]),
                                     WAVELENGTH, unit)[0]
        k = all_max[np.argmin(np.abs(x[all_max] - target))]
        assert abs(x[k] - target) <= abs(x[k + 1] - x[k - 1]) / 2, (unit, target)
        assert y[k] > 5 * np.median(y)  # a real peak, not a noise wiggle


def test_calibrant_positions_units_agree(case) -> None:
    d = case["dspacing"][:5]
    tth = calibrant_positions(d, WAVELENGTH, "2th_deg")
    np.testing.assert_allclose(tth, np.degrees(2 * np.arcsin(WAVELENGTH * 1e10 / (2 * d))), rtol=1e-12)
    np.testing.assert_allclose(calibrant_positions(d, WAVELENGTH, "q_A^-1"), 2 * np.pi / d, rtol=1e-12)
    np.testing.assert_allclose(calibrant_positions(d, WAVELENGTH, "q_nm^-1"), 20 * np.pi / d, rtol=1e-12)
    np.testing.assert_array_equal(calibrant_positions(d, WAVELENGTH, "d_A"), d)
    # lines that cannot diffract (d < λ/2) are dropped
    assert len(calibrant_positions(np.array([3.0, 0.1]), WAVELENGTH, "2th_deg")) == 1
    with pytest.raises(XcalError, match="Unknown unit"):
        calibrant_positions(d, WAVELENGTH, "chi_deg")
    with pytest.raises(XcalError, match="Unknown unit 'r_mm'"):
        Integrator().pattern(case["data"], case["geometry"], case["mask"], 100, "r_mm")


def test_cake_shape_and_straight_lines(case) -> None:
    npt = 800
    cake = Integrator().cake(case["data"], case["geometry"], case["mask"], npt)
    assert cake.intensity.shape == (360, npt)
    assert cake.azimuth.shape == (360,) and cake.radial.shape == (npt,)
    assert np.all(np.diff(cake.azimuth) > 0)
    assert cake.azimuth[0] < -179 and cake.azimuth[-1] > 179  # all the way round, about 1° per row
    bin_width = cake.radial[1] - cake.radial[0]
    lines = calibrant_positions(case["dspacing"], WAVELENGTH, "2th_deg")
    lines = lines[(lines > cake.radial[10]) & (lines < cake.radial[-10])]
    # the 3 strongest rings: highest mean intensity at their line
    columns = np.array([int(np.argmin(np.abs(cake.radial - t))) for t in lines])
    strongest = columns[np.argsort(cake.intensity[:, columns].mean(axis=0))[::-1][:3]]
    for column in strongest:
        window = cake.intensity[:, column - 5:column + 6]
        rows = (window > 0).all(axis=1)  # azimuths where the ring is on the detector, not in a gap
        assert rows.sum() > 200
        peak_tth = cake.radial[np.argmax(window[rows], axis=1) + column - 5]
        assert np.std(peak_tth) < bin_width
        assert abs(np.median(peak_tth) - lines[np.argmin(np.abs(lines - cake.radial[column]))]) <= bin_width


def test_cake_lines_bend_with_a_wrong_geometry(case) -> None:
    """The straightness check above can fail: a 2 px beam-centre error bends the lines."""
    wrong = true_geometry(poni2=TRUE["poni2"] + 2 * 172e-6)
    cake = Integrator().cake(case["data"], wrong, case["mask"], 800)
    bin_width = cake.radial[1] - cake.radial[0]
    line = calibrant_positions(case["dspacing"], WAVELENGTH, "2th_deg")[0]
    column = int(np.argmin(np.abs(cake.radial - line)))
    window = cake.intensity[:, column - 12:column + 13]
    rows = (window > 0).all(axis=1)
    peak_tth = cake.radial[np.argmax(window[rows], axis=1) + column - 12]
    assert np.std(peak_tth) > 2 * bin_width


def test_integrator_reused_until_geometry_or_mask_changes(case) -> None:
    integ = Integrator()
    g, mask, shape = case["geometry"], case["mask"], case["data"].shape
    first = integ.integrator(g, mask, shape)
    assert integ.integrator(g, mask, shape) is first
    integ.pattern(case["data"], g, mask, 500)
    integ.cake(case["data"], g, mask, 300)
    assert integ.integrator(g, mask, shape) is first
    # same numbers on the same detector, in a new Geometry object and a new mask array: still unchanged
    same = Geometry(detector=g.detector, wavelength=g.wavelength, **TRUE)
    assert integ.integrator(same, mask.copy(), shape) is first

    moved = Geometry(detector=g.detector, wavelength=g.wavelength, **{**TRUE, "dist": TRUE["dist"] + 1e-6})
    second = integ.integrator(moved, mask, shape)
    assert second is not first
    assert second.dist == TRUE["dist"] + 1e-6
    assert integ.integrator(moved, mask, shape) is second

    other_mask = mask.copy()
    other_mask[300, 300] = True
    third = integ.integrator(moved, other_mask, shape)
    assert third is not second
    assert integ.integrator(moved, None, shape) is not third

    for name, value in (("poni1", 1e-6), ("rot2", 1e-6), ("rot3", 1e-6)):
        before = integ.integrator(g, mask, shape)
        changed = Geometry(detector=g.detector, wavelength=g.wavelength, **{**TRUE, name: TRUE[name] + value})
        assert integ.integrator(changed, mask, shape) is not before, name


def test_session_views_reuse_the_integrator(case, tmp_path) -> None:
    path = tmp_path / "img.tif"
    fabio.tifimage.TifImage(case["data"]).write(str(path))
    poni = tmp_path / "true.poni"
    write_poni(poni, case["geometry"])
    s = CalibrationSession()
    s.load_image(path)
    s.set_detector(DETECTOR)
    s.load_poni(poni)
    s.pattern(1000)
    ai = s.integrator.integrator(s.geometry, s.invalid, s.data.shape)
    s.cake(400)
    s.pattern(1000, "q_A^-1")
    assert s.integrator.integrator(s.geometry, s.invalid, s.data.shape) is ai
    s.set_geometry_values(dist=0.2001)
    s.pattern(1000)
    assert s.integrator.integrator(s.geometry, s.invalid, s.data.shape) is not ai


def test_masked_pixels_change_nothing(case) -> None:
    data, mask, g = case["data"], case["mask"].copy(), case["geometry"]
    mask[250:350, 100:200] = True  # a block over several rings, on top of the module gaps
    spoiled = data.copy()
    spoiled[mask] = 1e9
    integ = Integrator()
    for unit in ("2th_deg", "d_A"):
        a = integ.pattern(data, g, mask, 1500, unit)
        b = integ.pattern(spoiled, g, mask, 1500, unit)
        np.testing.assert_array_equal(a.radial, b.radial)
        np.testing.assert_allclose(b.intensity, a.intensity, rtol=1e-6, atol=1e-6)
        assert b.intensity.max() < 2e3
    a = integ.cake(data, g, mask, 500)
    b = integ.cake(spoiled, g, mask, 500)
    np.testing.assert_allclose(b.intensity, a.intensity, rtol=1e-6, atol=1e-6)
    # without the mask the 1e9 pixels do show: the comparison above is not trivially true
    c = integ.pattern(spoiled, g, None, 1500)
    assert c.intensity.max() > 1e6


def test_real_fe_sample_110_peak(real_data) -> None:
    """bcc Fe at ~2 GPa (Pilatus 1M, 30 keV): Fe(110) at 11.545° 2θ (shared/data/real/SOURCES.md)."""
    image = load_image(real_data / "sample_cpf_Fe-BCC-2GPa-DAC_Pilatus1M_30keV.tif")
    geometry = read_poni(real_data / "sample_cpf_Fe-BCC-2GPa-DAC_Pilatus1M_30keV.poni", shape=image.shape).geometry
    assert geometry.wavelength == pytest.approx(WAVELENGTH_FE, rel=1e-3)
    with np.errstate(invalid="ignore"):
        mask = ~np.isfinite(image.data) | (image.data < 0)
    assert mask.sum() > 10_000  # the module gaps (-1) and dead pixels (-2)
    pattern = Integrator().pattern(image.data, geometry, mask, 2000, "2th_deg")
    x, y = pattern.radial, pattern.intensity
    window = (x > 11.2) & (x < 11.9)
    k = np.flatnonzero(window)[np.argmax(y[window])]
    # parabola through the top three bins
    y0, y1, y2 = y[k - 1:k + 2]
    peak = x[k] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2) * (x[k + 1] - x[k])
    assert peak == pytest.approx(11.545, abs=0.02)
    assert y[k] > 3 * np.median(y[(x > 10.5) & (x < 12.5)])  # a clear peak over the local level
    # bcc: (200) and (211) follow at d/√2 and d/√3 of (110)
    d110 = WAVELENGTH_FE / (2 * np.sin(np.deg2rad(peak) / 2))
    for ratio in (np.sqrt(2), np.sqrt(3)):
        expected = np.degrees(2 * np.arcsin(WAVELENGTH_FE / (2 * d110 / ratio)))
        near = (x > expected - 0.15) & (x < expected + 0.15)
        j = np.flatnonzero(near)[np.argmax(y[near])]
        assert abs(x[j] - expected) < 0.03, (ratio, x[j], expected)
        assert y[j] > 1.5 * np.median(y[(x > expected - 1) & (x < expected + 1)])
