"""The ``xcal`` command line, run in-process (``xcal.cli.main``) and once as the installed console script.

The calibration image is synthetic with a known geometry (CeO2 on a Pilatus 300k, 0.8° tilt,
Poisson noise): every result is compared with that truth. Bad input must give exit code 1, one
line on stderr naming what is wrong, no traceback, and must leave an existing output untouched.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import fabio
import numpy as np
import pyFAI
import pytest
from pyFAI.control_points import ControlPoints
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry
from scipy.optimize import brentq

from xcal.cli import main
from xcal.core.calibration.synthetic import ring_image
from xcal.core.geometry.beam import beam_centre
from xcal.core.integration.integrator import calibrant_positions
from xcal.core.io.calibrants import load_calibrant
from xcal.core.io.poni import write_poni

DETECTOR = "Pilatus300k"  # 619 x 487, 172 µm
SHAPE = (619, 487)
WAVELENGTH = 0.3e-10
HC_KEV_A = 12.398419843320026
TRUE = dict(dist=0.2, poni1=0.054, poni2=0.041, rot1=0.012, rot2=-0.008, rot3=0.0)
SENTINEL = b"# an earlier calibration that a failed run must not touch\nDistance: 0.123\n"


def true_geometry() -> Geometry:
    return Geometry(detector=detector_factory(DETECTOR), wavelength=WAVELENGTH, **TRUE)


def ring_tth(ring: int) -> float:
    return 2 * np.arcsin(WAVELENGTH / (2 * load_calibrant("CeO2").dspacing[ring] * 1e-10))


def crossing(geometry: Geometry, tth: float, azimuth: float) -> tuple[float, float]:
    """(row, col) where 2θ = ``tth`` on the ray at ``azimuth`` from the beam centre (pyFAI index convention)."""
    x, y = beam_centre(geometry, SHAPE)
    r0, c0 = y - 0.5, x - 0.5
    dr, dc = np.sin(azimuth), np.cos(azimuth)
    t = brentq(lambda t: geometry.tth(np.array([r0 + dr * t]), np.array([c0 + dc * t]))[0] - tth, 1.0, 3000.0)
    return r0 + dr * t, c0 + dc * t


def radial_offset_px(geometry: Geometry, rows, cols, tth: float) -> np.ndarray:
    rows, cols = np.asarray(rows, float), np.asarray(cols, float)
    h = 0.5
    grad = np.hypot(geometry.tth(rows + h, cols) - geometry.tth(rows - h, cols),
                    geometry.tth(rows, cols + h) - geometry.tth(rows, cols - h)) / (2 * h)
    return (geometry.tth(rows, cols) - tth) / grad


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("cli")
    g = true_geometry()
    calibrant = load_calibrant("CeO2")
    data = ring_image(g, calibrant, SHAPE, fwhm_deg=0.06, noise=True, seed=1)
    files = {"folder": folder}

    def tif(name: str, array: np.ndarray) -> Path:
        path = folder / name
        fabio.tifimage.TifImage(np.asarray(array, np.float32)).write(str(path))
        return path

    files["image"] = tif("ceo2.tif", data)
    spoiled = data.copy()
    spoiled[::7, ::5] = np.nan
    spoiled[3::11, ::3] = np.inf
    spoiled[100:110, 50:60] = -np.inf
    files["nanpix"] = tif("nanpix.tif", spoiled)
    files["zeros"] = tif("zeros.tif", np.zeros(SHAPE))
    files["nan"] = tif("nan.tif", np.full(SHAPE, np.nan))
    good = files["image"].read_bytes()
    files["truncated"] = folder / "truncated.tif"
    files["truncated"].write_bytes(good[: len(good) // 2])
    files["random"] = folder / "random.tif"
    files["random"].write_bytes(np.random.default_rng(7).bytes(40_000))
    files["empty_cal"] = folder / "empty.D"
    files["empty_cal"].write_text("# only a comment\n\n")
    files["bad_cal"] = folder / "bad.D"
    files["bad_cal"].write_text("3.1244\n2,7058\n1.9133\n")
    files["small_mask"] = folder / "small_mask.npy"
    np.save(files["small_mask"], np.ones((10, 12), np.uint8))
    files["truth"] = folder / "truth.poni"
    write_poni(files["truth"], g)
    start = Geometry(detector=detector_factory(DETECTOR), wavelength=WAVELENGTH,
                     **{**TRUE, "dist": 0.201, "poni1": TRUE["poni1"] + 1e-4, "poni2": TRUE["poni2"] - 1e-4,
                        "rot1": TRUE["rot1"] - 1e-3})
    files["start"] = folder / "start.poni"
    write_poni(files["start"], start)
    centre_off = Geometry(detector=detector_factory(DETECTOR), wavelength=WAVELENGTH,
                          **{**TRUE, "poni1": TRUE["poni1"] + 1e-4, "poni2": TRUE["poni2"] - 1e-4})
    files["start_true_dist"] = folder / "start_true_dist.poni"
    write_poni(files["start_true_dist"], centre_off)
    # clicks 1.5 px outside ring 1 (away from the module gaps), and one half way between rings 2 and 3
    for key, azimuth in (("click", 225.0), ("click_7deg", 7.0)):
        a = np.deg2rad(azimuth)
        row, col = crossing(g, ring_tth(0), a)
        files[key] = f"{col + 1.5 * np.cos(a):.3f},{row + 1.5 * np.sin(a):.3f}"
    row, col = crossing(g, 0.5 * (ring_tth(1) + ring_tth(2)), 0.0)
    files["background_click"] = f"{col:.3f},{row:.3f}"
    return files


@pytest.fixture(autouse=True)
def _fixed_global_rng():
    """pyFAI's Massif (ring picking) shuffles with the global numpy RNG: pin it so runs are repeatable.

    ``test_calibration_does_not_depend_on_global_rng`` checks xcal itself no longer depends on it.
    """
    np.random.seed(0)


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def run_quiet(*argv) -> tuple[int, str, str]:
    """``main`` with stdout/stderr captured, for module-scoped fixtures (no capsys there)."""
    np.random.seed(0)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def calibrate_args(synth, output, *extra, image=None, click=True, poni=None) -> list:
    args = ["calibrate", image or synth["image"], "--calibrant", "CeO2", "--wavelength", "0.3",
            "--detector", DETECTOR, "-o", output]
    if poni is not None:  # refine the geometry of a file: no clicks, no start distance
        return args + ["--poni", poni, *extra]
    args += ["--distance", "240"]  # 20 % off
    if click:
        args += ["--click", synth["click"]]
    return args + list(extra)


def assert_accurate(poni: Path, centre_px: float = 0.05, dist_pct: float = 0.02) -> Geometry:
    g = pyFAI.load(str(poni))
    truth = true_geometry()
    dx, dy = np.subtract(beam_centre(g, SHAPE), beam_centre(truth, SHAPE))
    assert abs(dx) < centre_px and abs(dy) < centre_px, (dx, dy)
    assert abs(g.dist / truth.dist - 1) * 100 < dist_pct, g.dist
    return g


@pytest.fixture(scope="module")
def text_run(synth) -> dict:
    """The plain calibration, text output, with its picks saved."""
    folder = synth["folder"] / "text_run"
    folder.mkdir()
    poni, npt = folder / "cal.poni", folder / "picks.npt"
    rc, out, err = run_quiet(*calibrate_args(synth, poni, "--picks-out", npt))
    return {"rc": rc, "out": out, "err": err, "poni": poni, "npt": npt, "folder": folder}


@pytest.fixture(scope="module")
def json_run(synth) -> dict:
    folder = synth["folder"] / "json_run"
    folder.mkdir()
    poni = folder / "cal.poni"
    rc, out, err = run_quiet(*calibrate_args(synth, poni, "--json"))
    return {"rc": rc, "out": out, "err": err, "poni": poni}


@pytest.fixture(scope="module")
def nan_run(synth) -> dict:
    folder = synth["folder"] / "nan_run"
    folder.mkdir()
    poni = folder / "cal.poni"
    rc, out, err = run_quiet(*calibrate_args(synth, poni, image=synth["nanpix"]))
    return {"rc": rc, "out": out, "err": err, "poni": poni}


# -- calibrate ----------------------------------------------------------------------------------------


def test_calibrate_text_output(text_run) -> None:
    assert text_run["rc"] == 0, text_run["err"]
    assert text_run["err"] == ""
    g = assert_accurate(text_run["poni"])
    assert g.rot1 == pytest.approx(TRUE["rot1"], abs=5e-4) and g.rot2 == pytest.approx(TRUE["rot2"], abs=5e-4)
    assert g.rot3 == 0.0 and g.wavelength == WAVELENGTH  # fixed by default
    out = text_run["out"]
    assert "RMS" in out
    assert out.startswith("Detector: Pilatus300k, 619 x 487 px, 172 x 172 µm (given by --detector)\nRefined geometry:")
    assert "fixed" in out
    assert "Warning" not in out
    assert sorted(os.listdir(text_run["folder"])) == ["cal.poni", "picks.npt"]  # no temporary file left


def test_calibrate_json(json_run) -> None:
    assert json_run["rc"] == 0, json_run["err"]
    summary = json.loads(json_run["out"])
    geometry = summary["geometry"]
    assert set(geometry) == {"dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"}
    assert geometry["dist"]["sigma"] > 0 and not geometry["dist"]["fixed"]
    assert geometry["dist"]["sigma"] < 1e-3 * TRUE["dist"]  # a well-determined distance
    assert geometry["rot3"]["fixed"] and geometry["wavelength"]["fixed"]
    assert geometry["dist"]["value"] == pytest.approx(pyFAI.load(str(json_run["poni"])).dist, rel=1e-12)
    assert abs(geometry["dist"]["value"] / TRUE["dist"] - 1) < 2e-4
    rings = summary["rings"]
    assert isinstance(rings, list) and len(rings) >= 10
    assert [r["ring"] for r in rings][:3] == [1, 2, 3]  # numbered from 1, as on the command line
    assert sum(r["points"] for r in rings) == summary["points"]
    assert summary["rms_px"] < 0.1 and all(r["rms_px"] < 0.2 for r in rings)
    assert summary["warnings"] == []
    truth_f2d = true_geometry().getFit2D()
    assert summary["fit2d"]["centerX"] == pytest.approx(truth_f2d["centerX"], abs=0.05)
    assert summary["fit2d"]["centerY"] == pytest.approx(truth_f2d["centerY"], abs=0.05)


def test_text_and_json_runs_agree(text_run, json_run) -> None:
    a, b = pyFAI.load(str(text_run["poni"])), pyFAI.load(str(json_run["poni"]))
    for p in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"):
        assert getattr(a, p) == getattr(b, p), p


def test_fixed_tilt_stays_zero(synth, tmp_path, capsys) -> None:
    """Tilts fixed at 0 on a detector tilted 0.8°: kept as asked, and the verdict says the rings sit off-centre."""
    out_poni = tmp_path / "cal.poni"
    rc, out, err = run(capsys, *calibrate_args(synth, out_poni, "--fix", "rot1,rot2,rot3,wavelength", "--json"))
    assert rc == 3, err  # check: written, with the warning
    g = pyFAI.load(str(out_poni))
    assert g.rot1 == 0.0 and g.rot2 == 0.0
    verdict = json.loads(out)["verdict"]
    assert verdict["level"] == "check" and "off-centre" in verdict["text"]


def test_fix_honoured_for_parameters_fixed_at_their_start(synth, tmp_path, capsys) -> None:
    out_poni = tmp_path / "cal.poni"
    rc, out, err = run(capsys, *calibrate_args(synth, out_poni, "--fix", "rot3,wavelength,dist", "--json",
                                               poni=synth["start_true_dist"]))
    assert rc == 0, err
    g = assert_accurate(out_poni)  # the beam centre was refined from 0.6 px off
    assert g.dist == TRUE["dist"] and g.rot3 == 0.0 and g.wavelength == WAVELENGTH  # exactly the start values
    geometry = json.loads(out)["geometry"]
    assert [n for n, p in geometry.items() if p["fixed"]] == ["dist", "rot3", "wavelength"]
    assert geometry["dist"]["sigma"] is None and geometry["poni1"]["sigma"] > 0


def test_free_wavelength_is_refined(synth, tmp_path, capsys) -> None:
    out_poni = tmp_path / "cal.poni"
    rc, out, err = run(capsys, *calibrate_args(synth, out_poni, "--fix", "rot3", "--json",
                                               poni=synth["start_true_dist"]))
    assert rc == 3, err  # written, but checked: at these angles the rings barely separate distance and wavelength
    summary = json.loads(out)
    assert "correlated" in summary["verdict"]["text"] and summary["wavelength_check"]["status"] == "refined"
    geometry = summary["geometry"]
    assert not geometry["wavelength"]["fixed"] and geometry["wavelength"]["sigma"] > 0
    g = pyFAI.load(str(out_poni))
    # distance and wavelength are strongly correlated at these angles; their product is what rings fix
    assert g.wavelength == pytest.approx(WAVELENGTH, rel=2e-3) and g.wavelength != WAVELENGTH
    assert g.dist == pytest.approx(TRUE["dist"], rel=2e-3)
    assert g.dist * g.wavelength == pytest.approx(TRUE["dist"] * WAVELENGTH, rel=2e-4)


def test_energy_is_equivalent_to_wavelength(synth, text_run, tmp_path, capsys) -> None:
    by_energy = tmp_path / "energy.poni"
    args = calibrate_args(synth, by_energy, "--picks-out", tmp_path / "picks.npt")
    i = args.index("--wavelength")
    args[i:i + 2] = ["--energy", repr(HC_KEV_A / 0.3)]
    rc, _, err = run(capsys, *args)
    assert rc == 0, err
    a, b = pyFAI.load(str(text_run["poni"])), pyFAI.load(str(by_energy))
    assert b.wavelength == pytest.approx(WAVELENGTH, rel=1e-12)
    for p in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3"):
        assert getattr(b, p) == pytest.approx(getattr(a, p), rel=1e-9, abs=1e-12), p
    assert_accurate(by_energy)


def test_picks_out_is_read_by_pyfai(text_run) -> None:
    assert text_run["rc"] == 0, text_run["err"]
    cp = ControlPoints(str(text_run["npt"]))
    points = np.array(cp.getListRing())
    assert len(points) > 60
    assert set(points[:, 2].astype(int)) == {0}  # all on ring 1 (0-based in pyFAI)
    offsets = radial_offset_px(true_geometry(), points[:, 0], points[:, 1], ring_tth(0))
    assert np.median(np.abs(offsets)) < 0.1 and np.abs(offsets).max() < 1.5
    assert np.allclose(cp.calibrant.dspacing[:3], load_calibrant("CeO2").dspacing[:3])
    assert cp.calibrant.wavelength == pytest.approx(WAVELENGTH, rel=1e-12)


def test_picks_out_reads_without_pyfai_errors(text_run, caplog) -> None:
    assert text_run["rc"] == 0, text_run["err"]
    caplog.clear()
    ControlPoints(str(text_run["npt"]))
    assert [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []


def test_poni_start_is_refined(synth, tmp_path, capsys) -> None:
    out_poni = tmp_path / "cal.poni"
    args = calibrate_args(synth, out_poni, "--json", poni=synth["start"])
    rc, out, err = run(capsys, *args)
    assert rc == 0, err
    assert_accurate(out_poni)
    summary = json.loads(out)
    assert len(summary["rings"]) >= 10 and summary["warnings"] == []
    start = pyFAI.load(str(synth["start"]))
    assert abs(start.dist / TRUE["dist"] - 1) > 4e-3  # the start really was off


def test_no_auto_fits_only_the_clicked_points(synth, tmp_path, capsys) -> None:
    npt = tmp_path / "picks.npt"
    out_poni = tmp_path / "cal.poni"
    rc, out, err = run(capsys, *calibrate_args(synth, out_poni, "--no-auto", "--picks-out", npt, "--json"))
    assert rc == 3, err  # one ring: written, with the warning that it cannot separate distance, tilt and centre
    summary = json.loads(out)
    assert summary["verdict"]["level"] == "check" and "Only one ring" in summary["verdict"]["text"]
    n_picks = len(ControlPoints(str(npt)).getListRing())
    assert summary["points"] == n_picks
    assert [r["ring"] for r in summary["rings"]] == [1]
    assert summary["rings"][0]["points"] == n_picks
    assert summary["iterations"] == 1
    # one ring pins the geometry only roughly, but it is the right one
    assert_accurate(out_poni, centre_px=1.0, dist_pct=0.2)


def test_two_clicks_on_two_rings(synth, tmp_path, capsys) -> None:
    g = true_geometry()
    a = np.deg2rad(225.0)
    row, col = crossing(g, ring_tth(2), a)
    out_poni = tmp_path / "cal.poni"
    rc, out, err = run(capsys, *calibrate_args(synth, out_poni, "--click", f"{col - 1:.2f},{row - 1:.2f},3",
                                               "--no-auto", "--json"))
    assert rc == 0, err
    summary = json.loads(out)
    assert [r["ring"] for r in summary["rings"]] == [1, 3]
    assert_accurate(out_poni, centre_px=0.5, dist_pct=0.05)


def test_nan_and_inf_pixels_still_calibrate(nan_run) -> None:
    assert nan_run["rc"] == 0, nan_run["err"]
    assert "Traceback" not in nan_run["err"]
    assert_accurate(nan_run["poni"])


def test_nan_pixels_leave_stderr_clean(synth, tmp_path) -> None:
    # a real process: in-process, pytest's log capture would hide what logging writes to stderr
    args = [str(a) for a in calibrate_args(synth, tmp_path / "cal.poni", "--no-auto", image=synth["nanpix"])]
    code = f"import sys, numpy; numpy.random.seed(0); from xcal.cli import main; sys.exit(main({args!r}))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3  # one ring only (--no-auto): written, checked
    assert proc.stderr == ""


def test_calibration_does_not_depend_on_global_rng(synth, tmp_path, capsys) -> None:
    bad = []
    for seed in (4, 6):  # with this click (seed 0 is fine), seeds 4 and 6 trace points of ring 2 as well
        np.random.seed(seed)
        out_poni = tmp_path / f"cal{seed}.poni"
        args = calibrate_args(synth, out_poni, click=False) + ["--click", synth["click_7deg"]]
        rc, out, err = run(capsys, *args)
        g = pyFAI.load(str(out_poni)) if rc == 0 else None
        if g is None or abs(g.dist / TRUE["dist"] - 1) > 2e-4:
            bad.append((seed, rc, None if g is None else g.dist))
    assert bad == []


# -- bad input ------------------------------------------------------------------------------------------


def _bad_cases(s: dict) -> dict[str, tuple[list, list[str]]]:
    folder = s["folder"]
    base = ["--calibrant", "CeO2", "--wavelength", "0.3", "--detector", DETECTOR, "--click", s["click"]]

    def cal(image, *args):
        return ["calibrate", image, *args]

    return {
        "missing image": (cal(folder / "nope.tif", *base), ["nope.tif", "not found"]),
        "truncated image": (cal(s["truncated"], *base), [str(s["truncated"]), "truncated"]),
        "random bytes": (cal(s["random"], *base), [str(s["random"]), "cannot be read"]),
        "wrong detector": (cal(s["image"], "--calibrant", "CeO2", "--wavelength", "0.3", "--detector", "Pilatus1M",
                               "--click", s["click"]), ["Pilatus1M", "1043 x 981", "619 x 487"]),
        "unknown calibrant": (cal(s["image"], "--calibrant", "CeO3", "--wavelength", "0.3", "--detector", DETECTOR,
                                  "--click", s["click"]), ["CeO3", "CeO2"]),
        "empty calibrant": (cal(s["image"], "--calibrant", s["empty_cal"], "--wavelength", "0.3", "--detector",
                                DETECTOR, "--click", s["click"]), [str(s["empty_cal"]), "empty"]),
        "malformed calibrant": (cal(s["image"], "--calibrant", s["bad_cal"], "--wavelength", "0.3", "--detector",
                                    DETECTOR, "--click", s["click"]), [str(s["bad_cal"]), "line 2", "2,7058"]),
        "ring beyond list": (cal(s["image"], *base[:-2], "--click", s["click"] + ",999"), ["Ring 999", "CeO2"]),
        "all zeros": (cal(s["zeros"], *base), [str(s["zeros"]), "zero"]),
        "all nan": (cal(s["nan"], *base), [str(s["nan"]), "finite"]),
        "missing start poni": (cal(s["image"], *base[:-2], "--poni", folder / "nope.poni"), ["nope.poni"]),
        "mask of other shape": (cal(s["image"], *base, "--mask", s["small_mask"]),
                                ["small_mask.npy", "10 x 12", "619 x 487"]),
        "wavelength too long": (cal(s["image"], "--calibrant", "CeO2", "--wavelength", "30", "--detector", DETECTOR,
                                    "--click", s["click"]), ["wavelength"]),
        "pattern without poni": (["pattern", s["image"], "--poni", folder / "nope.poni"], ["nope.poni"]),
        "cake of missing image": (["cake", folder / "nope.tif", "--poni", s["truth"]], ["nope.tif"]),
    }


BAD_CASES = list(_bad_cases({k: Path(k) if k != "click" else "1,1" for k in (
    "folder", "image", "truncated", "random", "zeros", "nan", "empty_cal", "bad_cal", "small_mask", "truth", "click",
    "nanpix", "start")}))


def assert_clean_failure(rc: int, out: str, err: str, fragments: list[str]) -> None:
    assert rc == 1, (out, err)
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err  # exactly one line
    assert err.startswith("xcal: error: ")
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_fails_cleanly(synth, tmp_path, capsys, case) -> None:
    argv, fragments = _bad_cases(synth)[case]
    output = tmp_path / ("out.xy" if argv[0] == "pattern" else "out.png" if argv[0] == "cake" else "out.poni")
    output.write_bytes(SENTINEL)
    rc, out, err = run(capsys, *argv, "-o", output, "--overwrite")
    assert_clean_failure(rc, out, err, fragments)
    assert output.read_bytes() == SENTINEL
    assert sorted(os.listdir(tmp_path)) == [output.name]


def test_unwritable_output_fails_cleanly(synth, tmp_path, capsys) -> None:
    output = tmp_path / "no_such_dir" / "cal.poni"
    rc, out, err = run(capsys, *calibrate_args(synth, output, "--no-auto"))
    assert_clean_failure(rc, out, err, ["cal.poni"])
    assert not output.parent.exists()


def test_malformed_click_is_an_argument_error(synth, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["calibrate", str(synth["image"]), "--calibrant", "CeO2", "--wavelength", "0.3", "--detector", DETECTOR,
              "--click", "12;34", "-o", str(tmp_path / "cal.poni")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--click '12;34': expected X,Y or X,Y,RING" in err and "Traceback" not in err
    assert not (tmp_path / "cal.poni").exists()


def test_click_on_background_fails_cleanly(synth, tmp_path, capsys) -> None:
    output = tmp_path / "cal.poni"
    output.write_bytes(SENTINEL)
    args = calibrate_args(synth, output, "--overwrite", click=False) + ["--click", synth["background_click"]]
    rc, out, err = run(capsys, *args)
    assert_clean_failure(rc, out, err, [])
    assert output.read_bytes() == SENTINEL


def test_unknown_fix_parameter_is_named(synth, tmp_path, capsys) -> None:
    output = tmp_path / "cal.poni"
    output.write_bytes(SENTINEL)
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in calibrate_args(synth, output, "--fix", "rot1,foo", "--overwrite")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --fix: unknown parameter(s) foo; choose among dist, poni1" in err and "Traceback" not in err
    assert output.read_bytes() == SENTINEL


def test_empty_mask_file_is_accepted(synth, tmp_path, capsys) -> None:
    mask = tmp_path / "nothing_masked.npy"
    np.save(mask, np.zeros(SHAPE, np.uint8))
    rc, out, err = run(capsys, *calibrate_args(synth, tmp_path / "cal.poni", "--mask", mask))
    assert rc == 0, err


@pytest.fixture(scope="module")
def half_mask_run(synth) -> dict:
    """Calibration with the right half of the image masked (the click is in the left half)."""
    folder = synth["folder"] / "mask_run"
    folder.mkdir()
    mask = np.zeros(SHAPE, np.uint8)
    mask[:, SHAPE[1] // 2:] = 1
    np.save(folder / "half.npy", mask)
    poni, npt = folder / "cal.poni", folder / "picks.npt"
    rc, out, err = run_quiet(*calibrate_args(synth, poni, "--mask", folder / "half.npy", "--picks-out", npt))
    return {"rc": rc, "out": out, "err": err, "poni": poni, "npt": npt}


def test_mask_file_is_honoured(half_mask_run) -> None:
    assert half_mask_run["rc"] == 0, half_mask_run["err"]
    cols = np.array(ControlPoints(str(half_mask_run["npt"])).getListRing())[:, 1]
    assert len(cols) > 20 and cols.max() < SHAPE[1] // 2 - 0.5  # no pick in the masked half


def test_half_masked_image_calibrates(half_mask_run) -> None:
    assert half_mask_run["rc"] == 0, half_mask_run["err"]
    points = np.array(ControlPoints(str(half_mask_run["npt"])).getListRing())
    offsets = radial_offset_px(true_geometry(), points[:, 0], points[:, 1], ring_tth(0))
    assert np.abs(offsets).max() < 3.0
    assert_accurate(half_mask_run["poni"], centre_px=0.15, dist_pct=0.05)


# -- cake and pattern -------------------------------------------------------------------------------


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Chunks of a PNG file, each CRC checked (no image library needed)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(data)
    return chunks


def test_cake_png(synth, tmp_path, capsys) -> None:
    out_png = tmp_path / "cake.png"
    rc, out, err = run(capsys, "cake", synth["image"], "--poni", synth["truth"], "--calibrant", "CeO2", "-o", out_png)
    assert rc == 0, err
    assert out.strip() == f"Wrote {out_png}"
    chunks = png_chunks(out_png.read_bytes())
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert width > 400 and height > 200 and depth == 8
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(pixels) == height * (1 + width * channels)  # the image data is complete


def test_cake_npy(synth, tmp_path, capsys) -> None:
    out_npy = tmp_path / "cake.npy"
    rc, out, err = run(capsys, "cake", synth["image"], "--poni", synth["truth"], "--npt", "500", "-o", out_npy)
    assert rc == 0, err
    cake = np.load(out_npy)
    assert cake.shape == (360, 500)
    # with the true geometry, the strongest ring is a straight vertical line in the cake
    column = int(np.argmax(cake.sum(axis=0)))
    window = cake[:, column - 6:column + 7]
    rows = (window > 0).all(axis=1)  # azimuths where the ring is on the detector, not in a module gap
    assert rows.sum() > 250
    peaks = np.argmax(window[rows], axis=1) + column - 6
    assert np.std(peaks) < 1.0


@pytest.mark.parametrize("unit", ["2th_deg", "q_A^-1", "q_nm^-1", "d_A"])
def test_pattern_peaks_at_calibrant_lines(synth, tmp_path, capsys, unit) -> None:
    out_xy = tmp_path / "pattern.xy"
    rc, out, err = run(capsys, "pattern", synth["image"], "--poni", synth["truth"], "--unit", unit, "-o", out_xy)
    assert rc == 0, err
    text = out_xy.read_text()
    header = [line for line in text.splitlines() if line.startswith("#")]
    wl_lines = [line for line in header if line.startswith("# Wavelength:")]
    assert len(wl_lines) == 1 and float(wl_lines[0].split()[2]) == pytest.approx(0.3, abs=1e-6)
    assert "# Geometry: truth.poni" in header and "# Image: ceo2.tif" in header
    xy = np.loadtxt(out_xy)
    assert xy.shape[1] == 2 and len(xy) > 1000
    x, y = xy[:, 0], xy[:, 1]
    lines = calibrant_positions(load_calibrant("CeO2").dspacing, WAVELENGTH, unit)
    # the strongest peak, and each of the 8 strongest local maxima, sit within one bin of a line
    maxima = np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:])) + 1
    maxima = maxima[np.argsort(y[maxima])[::-1][:8]]
    assert maxima[0] == np.argmax(y[1:-1]) + 1
    for k in maxima:
        bin_width = abs(x[k + 1] - x[k - 1]) / 2
        assert np.min(np.abs(lines - x[k])) <= bin_width, (unit, x[k])
    assert len({int(np.argmin(np.abs(lines - x[k]))) for k in maxima}) == 8  # eight different lines


# -- the installed console script ---------------------------------------------------------------------


def test_console_script(synth, tmp_path) -> None:
    script = Path(sys.executable).parent / "xcal"
    assert script.is_file()
    out_poni = tmp_path / "cal.poni"
    args = calibrate_args(synth, out_poni, "--json", poni=synth["start"])
    proc = subprocess.run([str(script), *map(str, args)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["geometry"]["dist"]["sigma"] > 0
    assert_accurate(out_poni)
