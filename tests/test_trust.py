"""Never silently wrong: every user mistake ends in the right answer, a stated correction, or a refusal.

The image is xcal's example (CeO2 on a Pilatus 1M, 30 keV, 200 mm, slightly tilted, Poisson
noise, gaps at -1), whose true geometry is known; each test makes one mistake a user makes and
checks the outcome against that truth: the geometry (beam centre within 0.05 px, distance within
0.02 %), or the verdict and the message, and for the CLI the exit status and whether the .poni
was written.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import fabio
import numpy as np
import pyFAI
import pytest

from xcal.cli import main
from xcal.core.calibration.session import CalibrationSession
from xcal.core.errors import FitError, PickError
from xcal.core.geometry.beam import beam_centre
from xcal.core.geometry.refinement import ring_tth
from xcal.core.io.images import Image, load_image
from xcal.core.masks.dead_regions import find_dead
from xcal.core.masks.saturation import find_saturated
from xcal.gui.example import EXAMPLE, example_geometry, make_example
from xcal.peaks.ring_profile import ring_profile

TRUTH = example_geometry()
SHAPE = tuple(TRUTH.detector.shape)


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    return make_example(tmp_path_factory.mktemp("trust"))


@pytest.fixture(scope="module")
def data(example) -> np.ndarray:
    return fabio.open(str(example)).data.astype(np.float32)


def session_for(data: np.ndarray, calibrant: str = "CeO2", energy: float = EXAMPLE.energy_kev) -> CalibrationSession:
    session = CalibrationSession()
    session.set_image(Image(data, "example", 0, 1))
    session.set_detector(EXAMPLE.detector)
    session.set_calibrant(calibrant)
    session.set_energy(energy)
    return session


def on_ring(ring: int, azimuth_deg: float = 0.0) -> tuple[float, float]:
    """(row, col) of a pixel on the true ring ``ring`` (0-based), along the first ray from the beam
    centre at or after ``azimuth_deg`` (5° steps) that meets the ring away from the module gaps."""
    gaps = TRUTH.detector.mask.astype(bool)
    x, y = beam_centre(TRUTH, SHAPE)
    target = ring_tth(np.asarray(session_for_dspacing()), np.array([ring]), TRUTH.wavelength)[0]
    t = np.arange(5.0, 1500.0, 0.25)
    for step in range(72):
        a = np.deg2rad(azimuth_deg + 5.0 * step)
        rows, cols = y - 0.5 + np.sin(a) * t, x - 0.5 + np.cos(a) * t
        inside = (rows >= 4) & (rows < SHAPE[0] - 5) & (cols >= 4) & (cols < SHAPE[1] - 5)
        k = int(np.argmin(np.abs(TRUTH.tth(rows[inside], cols[inside]) - target)))
        r, c = int(round(rows[inside][k])), int(round(cols[inside][k]))
        if not gaps[r - 4: r + 5, c - 4: c + 5].any():
            return float(rows[inside][k]), float(cols[inside][k])
    raise AssertionError(f"ring {ring} meets no valid pixel")


def session_for_dspacing() -> np.ndarray:
    from xcal.core.io.calibrants import load_calibrant

    return np.asarray(load_calibrant("CeO2").dspacing)


def assert_true_geometry(geometry, centre_px: float = 0.05, dist_rel: float = 2e-4) -> None:
    dx, dy = np.subtract(beam_centre(geometry, SHAPE), beam_centre(TRUTH, SHAPE))
    assert np.hypot(dx, dy) < centre_px, (dx, dy)
    assert geometry.dist == pytest.approx(TRUTH.dist, rel=dist_rel)


def run_cli(*args) -> tuple[int, dict | None, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    text = out.getvalue()
    return code, (json.loads(text) if text.strip().startswith("{") else None), err.getvalue()


def cli_args(image: Path, output: Path, *extra, energy: float = EXAMPLE.energy_kev, calibrant: str = "CeO2") -> list:
    return ["calibrate", image, "--calibrant", calibrant, "--energy", energy, "--detector", EXAMPLE.detector,
            "-o", output, "--json", *extra]


def click_arg(row: float, col: float, ring: int | None) -> str:
    return f"{col:.1f},{row:.1f}" + ("" if ring is None else f",{ring}")


# -- ring numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("clicked, typed", [(2, 1), (3, 1), (1, 2)])
def test_mistyped_ring_number_is_corrected_and_said(data, clicked, typed) -> None:
    session = session_for(data)
    session.pick(*on_ring(clicked - 1, 30.0), typed - 1)
    result = session.calibrate()
    assert_true_geometry(result.geometry)
    assert session.trust.level == "good"
    assert session.trust.ring_shift == clicked - typed
    assert f"You clicked ring {clicked} but typed {typed}: ring {clicked} was used" in session.trust.corrections[0].message
    assert session.picks.rings() == [clicked - 1]  # the picks carry the corrected number


def test_going_back_to_the_typed_number_is_judged_bad(data) -> None:
    session = session_for(data)
    session.pick(*on_ring(1, 30.0), 0)
    session.calibrate()
    result = session.revert_ring_numbers()
    assert session.picks.rings() == [0]
    assert abs(result.geometry.dist / TRUTH.dist - 1) > 0.05  # the typed number gives a wrong distance...
    assert session.trust.level == "bad"  # ...and the verdict says so
    assert "contradicts" in session.trust.reasons[0]
    with pytest.raises(FitError, match="judged bad"):
        session.geometry_for_masks()  # no hot-pixel search on a bad geometry
    with pytest.raises(PickError):
        session.revert_ring_numbers()  # nothing left to go back to


def test_cli_click_on_the_wrong_ring_with_no_number_is_corrected(example, tmp_path) -> None:
    out = tmp_path / "c.poni"
    code, summary, err = run_cli(*cli_args(example, out, "--click", click_arg(*on_ring(2, 200.0), None)))
    assert code == 0, err
    assert summary["corrections"] and "You clicked ring 3 but typed 1" in summary["corrections"][0]
    assert summary["verdict"]["level"] == "good"
    assert_true_geometry(pyFAI.load(str(out)))


# -- wavelength ---------------------------------------------------------------------------------------


def test_gross_energy_is_refused_with_the_right_suggestion(example, tmp_path) -> None:
    out = tmp_path / "c.poni"
    out.write_text("an earlier calibration\n")
    code, summary, err = run_cli(*cli_args(example, out, "--click", click_arg(*on_ring(0), 1), "--overwrite", energy=500.0))
    assert code == 1
    assert out.read_text() == "an earlier calibration\n"  # nothing written over it, although allowed
    assert "was not written" in err and "--force" in err
    check = summary["wavelength_check"]
    assert summary["verdict"]["level"] == "bad" and check["status"] == "wrong"
    assert check["fitted_A"] == pytest.approx(TRUTH.wavelength * 1e10, rel=0.02)
    assert "Check the energy" in summary["verdict"]["reasons"][0]
    forced = tmp_path / "forced.poni"
    code, _, _ = run_cli(*cli_args(example, forced, "--click", click_arg(*on_ring(0), 1), "--force", energy=500.0))
    assert code == 1 and forced.exists()  # written on request, still reported as bad


def test_wavelength_20_percent_off_is_refused(data) -> None:
    session = session_for(data, energy=EXAMPLE.energy_kev * 1.2)
    session.pick(*on_ring(0), 0)
    session.calibrate()
    assert session.trust.level == "bad"
    assert session.trust.wavelength.status == "wrong"
    assert session.trust.wavelength.fitted == pytest.approx(TRUTH.wavelength, rel=0.01)


def test_energy_one_percent_off_is_measured_and_warned(example, tmp_path) -> None:
    out = tmp_path / "c.poni"
    code, summary, err = run_cli(*cli_args(example, out, "--click", click_arg(*on_ring(0), 1), energy=EXAMPLE.energy_kev * 1.01))
    assert code == 3, err  # check: written, with the warning
    assert out.exists()
    check = summary["wavelength_check"]
    assert check["status"] == "differs"
    assert check["fitted_A"] == pytest.approx(TRUTH.wavelength * 1e10, rel=5e-4)
    assert "check the energy" in summary["verdict"]["reasons"][0]


def test_energy_one_percent_off_on_a_real_image_is_warned(real_data, tmp_path) -> None:
    """aps1idc (CeO2, 61.332 keV, Pilatus 2M): 1 % too much energy moved the distance by 1.03 %
    behind a 'good' verdict, because the rings' spacing alone cannot confirm a 1 % λ shift. The
    free-λ fit can, and its answer must stand as a warning."""
    image = f"{real_data / 'aps1idc_CeO2_Pilatus2M_61keV.hdf5'}::/imageseries/images"
    out = tmp_path / "c.poni"
    args = ["calibrate", image, "--calibrant", "CeO2", "--energy", 61.9456, "--detector", "Pilatus2M",
            "--click", "1033.23,697.37,1", "-o", out, "--json"]
    code, summary, err = run_cli(*args)
    assert code == 3, err
    check = summary["wavelength_check"]
    assert check["status"] == "differs"
    assert check["fitted_A"] == pytest.approx(0.202152, rel=0.005)  # the reference wavelength
    assert "check the energy" in " ".join(summary["verdict"]["reasons"])


def test_right_inputs_give_a_good_verdict_and_an_agreeing_wavelength(example, tmp_path) -> None:
    out = tmp_path / "c.poni"
    code, summary, err = run_cli(*cli_args(example, out, "--click", click_arg(*on_ring(0), 1)))
    assert code == 0, err
    assert summary["verdict"]["level"] == "good" and summary["corrections"] == []
    assert summary["wavelength_check"]["status"] == "agrees"
    assert_true_geometry(pyFAI.load(str(out)))


# -- calibrant ------------------------------------------------------------------------------------------


def test_wrong_calibrant_is_refused_naming_the_right_one(data) -> None:
    session = session_for(data, calibrant="LaB6")
    session.pick(*on_ring(0), 0)
    session.calibrate()
    assert session.trust.level == "bad"
    assert "CeO2" in session.trust.matching_calibrants
    assert "choose the right calibrant" in session.trust.reasons[0]


def test_wrong_calibrant_without_clicks_is_refused(example, tmp_path) -> None:
    out = tmp_path / "c.poni"
    code, summary, err = run_cli(*cli_args(example, out, calibrant="LaB6"))
    assert code == 1 and not out.exists()
    assert "CeO2" in summary["matching_calibrants"]


# -- bad clicks and bad regions ---------------------------------------------------------------------------


def gap_pixel_on_ring(data: np.ndarray, ring: int) -> tuple[int, int]:
    tth = TRUTH.center_array(SHAPE, unit="2th_rad", scale=False)
    target = ring_tth(session_for_dspacing(), np.array([ring]), TRUTH.wavelength)[0]
    rows, cols = np.nonzero((data < 0) & (np.abs(tth - target) < np.deg2rad(0.03)))
    return int(rows[len(rows) // 2]), int(cols[len(cols) // 2])


def test_click_in_a_gap_is_refused_and_the_good_click_calibrates(data, example, tmp_path) -> None:
    session = session_for(data)
    gap = gap_pixel_on_ring(data, 0)
    with pytest.raises(PickError, match="detector gap"):
        session.pick(*gap, 0)
    out = tmp_path / "c.poni"
    code, summary, err = run_cli(*cli_args(example, out, "--click", click_arg(*gap, 1), "--click", click_arg(*on_ring(0), 1)))
    assert code == 0, err
    assert any("detector gap" in c for c in summary["corrections"])
    assert_true_geometry(pyFAI.load(str(out)))


def test_half_the_image_saturated_is_masked_and_said(data) -> None:
    saturated = data.copy()
    left = saturated[:, : SHAPE[1] // 2]
    left[left >= 0] = 2**20 - 1  # a Pilatus counter's full scale
    session = session_for(saturated)
    with pytest.raises(PickError, match="saturated"):
        session.pick(*on_ring(0, 180.0), 0)
    session.pick(*on_ring(0, 0.0), 0)
    result = session.calibrate()
    assert_true_geometry(result.geometry)
    assert session.trust.level == "good"
    assert any(c.kind == "saturated pixels" for c in session.trust.corrections)


def test_a_dead_module_is_masked_and_said(data) -> None:
    """A zeroed 120 × 120 px patch across ring 1 (a dead module, a blanked channel)."""
    dead = data.copy()
    row, col = (int(round(v)) for v in on_ring(0, 180.0))
    patch = dead[row - 60:row + 60, col - 60:col + 60]
    patch[patch >= 0] = 0
    session = session_for(dead)
    with pytest.raises(PickError, match="dead region"):
        session.pick(row, col, 0)
    session.pick(*on_ring(0, 0.0), 0)
    result = session.calibrate()
    assert_true_geometry(result.geometry)
    assert session.trust.level == "good"
    assert session.dead is not None and session.dead.mask[row - 60:row + 60, col - 60:col + 60][patch == 0].all()
    assert any(c.kind == "dead pixels" for c in session.trust.corrections)


def test_dead_regions_are_found_only_where_they_are(data, real_data) -> None:
    assert find_dead(data, data < 0) is None  # a clean image with low counts between its rings
    thresholded = np.where(data >= 60, data, 0)  # a floor, as in dark-subtracted, thresholded images
    thresholded[data < 0] = -1
    assert find_dead(thresholded, thresholded < 0) is None
    for name in ("cpf_CeO2_Pilatus1M_30keV.tif", "chess_CeO2_Dexela2923_29p8keV.h5"):  # 86 % of chess is 0
        image = load_image(real_data / name)
        assert find_dead(image.data, image.invalid) is None, name


def test_saturation_is_found_only_where_it_is(data) -> None:
    assert find_saturated(data) is None  # a clean image: nothing at a full scale, no flat top
    plateau = data.copy()
    plateau[100:110, 200:220] = 5000.0  # a flat blob at the maximum, not at a counter's full scale
    found = find_saturated(plateau, plateau < 0)
    assert found is not None and found.count == 200 and found.mask[105, 210] and found.mask.sum() == 200
    flat = np.ones((50, 50))
    assert find_saturated(flat) is None  # a flat frame: its maximum is its typical value, not saturation


def test_five_clicks_on_a_weak_ring_with_one_off(tmp_path) -> None:
    from benchmarks.synthetic_cases import CASES_BY_NAME, click_on_ring, make

    case = CASES_BY_NAME["LaB6_Pilatus1M_weak"]
    image, truth, _ = make(case)
    session = CalibrationSession()
    session.set_image(Image(image, "weak", 0, 1))
    session.set_detector(case.detector)
    session.set_calibrant(case.calibrant)
    session.wavelength = case.wavelength_m
    rng = np.random.default_rng(3)
    dspacing = np.asarray(session.dspacing)
    clicks = [click_on_ring(truth, image.shape, dspacing, 1, rng, noise_px=0.5, invalid=session.invalid) for _ in range(5)]
    x, y = beam_centre(truth, image.shape)
    r, c = clicks[2]
    away = np.array([r - (y - 0.5), c - (x - 0.5)])
    clicks[2] = tuple(np.array([r, c]) + 2.9 * away / np.linalg.norm(away))  # 2.9 px off the ring
    session.pick_clicks([(r, c, 1) for r, c in clicks])
    result = session.calibrate()
    dx, dy = np.subtract(beam_centre(result.geometry, image.shape), beam_centre(truth, image.shape))
    assert np.hypot(dx, dy) < 0.3 and result.geometry.dist == pytest.approx(truth.dist, rel=5e-4)


# -- what one image cannot determine ---------------------------------------------------------------------------


def test_one_arc_strip_is_refused_with_what_would_work(real_data, tmp_path) -> None:
    """ssrl72: a Pilatus 300K-W strip on a 2θ arm shows one partial arc of LaB6 100."""
    image = real_data / "ssrl72_LaB6_Pilatus300kw_scan2_0009.tif"
    out = tmp_path / "c.poni"
    args = ["calibrate", image, "--calibrant", "LaB6", "--wavelength", 0.885601, "--detector", "Pilatus300kw", "-o", out, "--json"]
    code, summary, err = run_cli(*args)
    assert code == 1 and not out.exists()
    reasons = " ".join(summary["verdict"]["reasons"]) if summary else err
    assert "does not determine the geometry" in reasons and "series of images" in reasons


# -- the profile the checks rely on ------------------------------------------------------------------------------


def test_ring_profile_shows_every_ring_at_its_radius(data) -> None:
    invalid = data < 0
    profile = ring_profile(data, invalid, TRUTH)
    expected = TRUTH.dist * np.tan(ring_tth(session_for_dspacing(), np.arange(20), TRUTH.wavelength)) / 172e-6
    expected = expected[expected < 760]  # rings that cross a good part of the detector
    nearest = np.min(np.abs(profile.radii[:, None] - expected[None, :]), axis=0)
    assert np.all(nearest < 0.3), nearest


def test_a_verdict_does_not_outlive_its_inputs(data) -> None:
    session = session_for(data)
    session.pick(*on_ring(1, 30.0), 0)
    session.calibrate()
    assert session.verdict is not None and session.trust.ring_shift == 1
    session.pick(*on_ring(3, 100.0), 3)  # a new pick, typed with the corrected numbers
    with pytest.raises(PickError, match="picks changed"):
        session.revert_ring_numbers()  # would renumber the new pick too
    session.set_calibrant("LaB6")
    assert session.verdict is None  # judged with CeO2: says nothing of LaB6
    session.set_calibrant("CeO2")
    assert session.verdict is not None
    session.set_image(Image(data.copy(), "next", 0, 1))
    assert session.verdict is None  # another image
