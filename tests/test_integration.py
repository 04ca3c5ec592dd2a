"""Patterns and cakes (``xcal.core.integration.integrator``): peaks where the calibrant lines are, straight cake
lines for the true geometry, integrator caching, masks, and a real high-pressure sample."""

from __future__ import annotations

import fabio
import numpy as np
import pytest
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry

from xcal.core.calibration.session import CalibrationSession
from xcal.core.calibration.synthetic import ring_image
from xcal.core.errors import XcalError
from xcal.core.integration.corrections import Corrections
from xcal.core.integration.integrator import (
    PATTERN_UNITS,
    IntegrationSettings,
    Integrator,
    azimuth_frame,
    calibrant_positions,
)
from xcal.core.io.calibrants import load_calibrant
from xcal.core.io.images import load_image
from xcal.core.io.poni import read_poni, write_poni

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


# -- integration mode: settings, the look-up-table engine, corrections ------------------------------

SETTINGS_CASES = [
    {},
    {"unit": "q_nm^-1", "npt": 1500},
    {"unit": "d_A"},
    {"azimuth_range": (-30.0, 60.0)},
    {"azimuth_range": (150.0, -150.0)},  # across ±180°
    {"polarization": 0.95, "solid_angle": False},
]


@pytest.fixture(scope="module")
def frame(case) -> dict:
    """The synthetic image with a few bad pixels of its own, and dark/flat/background images."""
    rng = np.random.default_rng(7)
    data = case["data"].copy()
    data[5, 5], data[100, 100], data[200, 30] = np.nan, -1, np.inf
    shape = data.shape
    corrections = Corrections(dark=rng.normal(5, 1, shape).astype(np.float32),
                              flat=rng.normal(1, 0.05, shape).astype(np.float32),
                              background=rng.poisson(20, shape).astype(np.float32), background_scale=0.7)
    with np.errstate(invalid="ignore"):
        invalid = ~np.isfinite(data) | (data < 0)
    return {"data": data, "invalid": invalid, "corrections": corrections}


@pytest.mark.parametrize("options", SETTINGS_CASES, ids=lambda o: ",".join(o) or "default")
@pytest.mark.parametrize("corrected", [False, True], ids=["raw", "corrected"])
def test_lookup_table_gives_pyfai_numbers(case, frame, options, corrected) -> None:
    """The CSR engine (integration mode, batch) and pyFAI's own integration agree to float precision."""
    settings = IntegrationSettings(**options)
    corrections = frame["corrections"] if corrected else None
    args = (frame["data"], case["geometry"], settings, case["mask"], corrections, frame["invalid"])
    plain = Integrator().integrate(*args, sigma=True)
    fast = Integrator(sparse=True, background=False).integrate(*args, sigma=True)
    np.testing.assert_array_equal(fast.radial, plain.radial)
    scale = np.abs(plain.intensity).max()
    np.testing.assert_allclose(fast.intensity, plain.intensity, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(fast.sigma, plain.sigma, rtol=0, atol=1e-5 * plain.sigma.max())
    assert np.all(np.isfinite(fast.intensity))


def test_lookup_table_cake_gives_pyfai_numbers(case, frame) -> None:
    settings = IntegrationSettings(cake_unit="q_A^-1", cake_npt=500, cake_npt_azimuth=180)
    args = (frame["data"], case["geometry"], settings, case["mask"], frame["corrections"], frame["invalid"])
    plain = Integrator().integrate_cake(*args)
    fast = Integrator(sparse=True, background=False).integrate_cake(*args)
    assert fast.intensity.shape == plain.intensity.shape == (180, 500)
    np.testing.assert_array_equal(fast.radial, plain.radial)
    np.testing.assert_allclose(fast.azimuth, plain.azimuth, atol=1e-9)
    np.testing.assert_allclose(fast.intensity, plain.intensity, rtol=0, atol=1e-5 * plain.intensity.max())


@pytest.mark.parametrize("unit", PATTERN_UNITS)
def test_lookup_table_peaks_at_calibrant_positions(case, unit) -> None:
    pattern = Integrator(sparse=True, background=False).pattern(case["data"], case["geometry"], case["mask"], 2000, unit)
    x, y = pattern.radial, pattern.intensity
    lines = calibrant_positions(case["dspacing"], WAVELENGTH, unit)
    for k in local_maxima(y, 8):
        j = int(np.argmin(np.abs(lines - x[k])))
        assert abs(lines[j] - x[k]) <= abs(x[k + 1] - x[k - 1]) / 2, (unit, x[k], lines[j])


def test_table_built_in_background_while_histogram_serves(case) -> None:
    """The first integration after a geometry change does not wait for the look-up table."""
    integ = Integrator(sparse=True)
    g, data, mask = case["geometry"], case["data"], case["mask"]
    settings = IntegrationSettings(npt=1234)
    first = integ.integrate(data, g, settings, mask)  # served by the histogram engine
    integ.wait()
    prep = integ._prepare(g, mask, data.shape)
    assert len(prep.tables) == 1 and next(iter(prep.tables.values())).done()
    second = integ.integrate(data, g, settings, mask)  # the table now
    np.testing.assert_allclose(second.intensity, first.intensity, rtol=0, atol=1e-5 * first.intensity.max())
    # prepare() builds both tables a new geometry needs before any image is integrated
    moved = true_geometry(dist=0.2001)
    futures = integ.prepare(moved, mask, data.shape, settings)
    assert len(futures) == 2
    integ.wait()
    assert all(f.done() and f.exception() is None for f in futures)
    assert integ._prepare(moved, mask, data.shape) is not prep
    integ.close()


def test_corrections_known_answers(case) -> None:
    """Dark and scaled background are subtracted, the flat divides: a constant image tells exactly."""
    g, mask = case["geometry"], case["mask"]
    shape = case["data"].shape
    ones = np.ones(shape, np.float32)
    data = 100 * ones
    corrections = Corrections(dark=10 * ones, flat=2 * ones, background=30 * ones, background_scale=0.5)
    for integ in (Integrator(), Integrator(sparse=True, background=False)):
        plain = integ.pattern(data, g, mask, 500, solid_angle=False)
        corrected = integ.pattern(data, g, mask, 500, solid_angle=False, corrections=corrections)
        filled = plain.intensity > 0
        np.testing.assert_allclose(plain.intensity[filled], 100, rtol=1e-5)
        # ((100 - 10) - 0.5 * (30 - 10)) / 2 = 40
        np.testing.assert_allclose(corrected.intensity[filled], 40, rtol=1e-5)
    # a flat of 0 or NaN masks the pixel instead of dividing by it
    flat = ones.copy()
    flat[:, :200] = 0
    spoiled = data.copy()
    spoiled[:, :200] = 1e9
    masked = Integrator().pattern(spoiled, g, mask, 500, solid_angle=False, corrections=Corrections(flat=flat))
    assert masked.intensity.max() < 101
    with pytest.raises(XcalError, match="flat image is 10 x 10"):
        Integrator().pattern(data, g, mask, 500, corrections=Corrections(flat=np.ones((10, 10), np.float32)))


def test_corrections_load_checks_files(tmp_path) -> None:
    path = tmp_path / "dark.tif"
    fabio.tifimage.TifImage(np.full((20, 30), 3, np.float32)).write(str(path))
    loaded = Corrections.load(dark=path, shape=(20, 30))
    assert loaded.dark.shape == (20, 30) and loaded.header() == ["Dark: dark.tif"]
    with pytest.raises(XcalError, match=r"dark image dark.tif is 20 x 30 pixels but the images to integrate are 40 x 30"):
        Corrections.load(dark=path, shape=(40, 30))
    with pytest.raises(XcalError, match="missing.tif: file not found"):
        Corrections.load(flat=tmp_path / "missing.tif")


def test_settings_are_checked() -> None:
    assert IntegrationSettings(azimuth_range=(10, 20)).azimuth_range == (10.0, 20.0)
    assert IntegrationSettings(npt=np.int64(500), polarization=np.float32(0.5)).polarization == 0.5
    for bad, message in (({"unit": "r_mm"}, "Unknown unit 'r_mm'"), ({"cake_unit": "d_A"}, "Unknown cake unit"),
                         ({"unit": None}, "Unknown unit None"),
                         ({"npt": 1}, r"npt\) must be an integer from 2 to 100000 \(got 1\)"), ({"npt": 2.5}, "integer"),
                         ({"npt": -5}, "got -5"), ({"npt": 10**12}, "from 2 to 100000"), ({"npt": True}, "got True"),
                         ({"npt": "2000"}, "got '2000'"), ({"cake_npt": 0}, r"cake_npt\)"),
                         ({"cake_npt_azimuth": 10_000}, r"cake_npt_azimuth\) must be an integer from 2 to 3600"),
                         ({"cake_npt": 100_000, "cake_npt_azimuth": 3600}, "too large"),
                         ({"polarization": 1.5}, "between -1 and 1"), ({"polarization": np.nan}, "between -1 and 1"),
                         ({"polarization": "0.99"}, "got '0.99'"), ({"polarization": True}, "got True"),
                         ({"solid_angle": "no"}, "solid_angle must be True or False"),
                         ({"azimuth_range": (10, 10)}, "is empty"), ({"azimuth_range": (0, np.nan)}, "finite"),
                         ({"azimuth_range": (0, "90")}, "two angles"), ({"azimuth_range": 90}, "two angles"),
                         ({"azimuth_range": (0, 30, 60)}, "two angles")):
        with pytest.raises(XcalError, match=message):
            IntegrationSettings(**bad)
    lines = IntegrationSettings(unit="q_A^-1", azimuth_range=(-30, 60), polarization=0.99).header()
    assert "Unit: q_A^-1, points: 2000, azimuth range: -30 to 60 deg" in lines
    assert "Polarization factor: 0.99, solid-angle correction: yes" in lines


def test_integrator_refuses_unusable_point_counts(case) -> None:
    """Direct calls (the GUI's views) get the settings' messages, not pyFAI's assertion or a memory error."""
    integrator = Integrator()
    with pytest.raises(XcalError, match=r"npt\) must be an integer from 2 to 100000 \(got -5\)"):
        integrator.pattern(case["data"], case["geometry"], npt=-5)
    with pytest.raises(XcalError, match=r"npt_azimuth\) must be an integer from 2 to 3600 \(got 0\)"):
        integrator.cake(case["data"], case["geometry"], npt_azimuth=0)


@pytest.mark.parametrize(("given", "expected"), [
    (None, (False, None)), ((-30, 60), (False, (-30, 60))), ((150, -150), (True, (150, 210))),
    ((170, 190), (True, (170, 190))), ((-190, -170), (True, (170, 190))), ((350, 370), (False, (-10, 10))),
    ((0, 360), (True, (0, 360))), ((-180, 180), (False, (-180, 180))),
])
def test_azimuth_frame(given, expected) -> None:
    disc, rng = azimuth_frame(given)
    assert disc == expected[0]
    assert rng == (None if expected[1] is None else pytest.approx(expected[1]))


def test_real_fe_sample_both_engines_agree(real_data) -> None:
    """The real Fe sample through the look-up table: the same pattern as pyFAI's, Fe(110) in place."""
    image = load_image(real_data / "sample_cpf_Fe-BCC-2GPa-DAC_Pilatus1M_30keV.tif")
    geometry = read_poni(real_data / "sample_cpf_Fe-BCC-2GPa-DAC_Pilatus1M_30keV.poni", shape=image.shape).geometry
    settings = IntegrationSettings(npt=2000)
    plain = Integrator().integrate(image.data, geometry, settings, invalid=image.invalid)
    fast = Integrator(sparse=True, background=False).integrate(image.data, geometry, settings, invalid=image.invalid)
    np.testing.assert_allclose(fast.intensity, plain.intensity, rtol=0, atol=1e-5 * plain.intensity.max())
    x, y = fast.radial, fast.intensity
    window = (x > 11.2) & (x < 11.9)
    assert x[np.flatnonzero(window)[np.argmax(y[window])]] == pytest.approx(11.545, abs=0.02)
