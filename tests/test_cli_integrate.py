"""``xcal integrate`` (run in-process through ``xcal.cli.main``): folders with a corrupt file, every
output format, skipping existing results, JSON, watch mode, one-line errors, and the real sample
images with their .poni files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import fabio
import numpy as np
import pytest
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry

from xcal.cli import main
from xcal.core.calibration.synthetic import ring_image
from xcal.core.io.calibrants import load_calibrant
from xcal.core.io.poni import write_poni

WAVELENGTH = 0.3e-10


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("integrate")
    g = Geometry(detector=detector_factory("Pilatus100k"), wavelength=WAVELENGTH, dist=0.1, poni1=0.017, poni2=0.04)
    image = ring_image(g, load_calibrant("CeO2"), g.detector.shape, fwhm_deg=0.08, noise=True, seed=5)
    good = root / "good"
    good.mkdir()
    for k in range(3):
        fabio.tifimage.TifImage(image).write(str(good / f"s_{k}.tif"))
    mixed = root / "mixed"
    mixed.mkdir()
    for k in range(3):
        fabio.tifimage.TifImage(image).write(str(mixed / f"m_{k}.tif"))
    (mixed / "m_1b.tif").write_bytes(b"II*\x00 truncated")
    poni = root / "g.poni"
    write_poni(poni, g)
    return {"root": root, "good": good, "mixed": mixed, "poni": poni}


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["integrate", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_folder_with_corrupt_file(setup, capsys, tmp_path) -> None:
    rc, out, err = run(capsys, setup["mixed"], "--poni", setup["poni"], "-o", tmp_path, "--workers", "1", "--progress")
    assert rc == 1  # something failed; the rest is done
    assert "Integrated 3, skipped 0, failed 1" in out
    assert "m_1b.tif: cannot be read as an image" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m_0.xy", "m_1.xy", "m_2.xy"]
    assert "100.0%" in err  # the progress bar
    header = (tmp_path / "m_0.xy").read_text().splitlines()[:6]
    assert header[0] == "# Image: m_0.tif" and header[1] == "# Geometry: g.poni"
    assert any(line.startswith("# Distance: 100.0000 mm") for line in header)


def test_every_format_units_and_skip(setup, capsys, tmp_path) -> None:
    args = [setup["good"], "--poni", setup["poni"], "-o", tmp_path, "--unit", "q_A^-1", "--npt", "700",
            "--format", "xy,dat,chi", "--cake", "--cake-format", "npy", "--cake-npt", "300", "90",
            "--azimuth-range", "-90", "90", "--polarization", "0.99"]
    rc, out, _ = run(capsys, *args)
    assert rc == 0 and "Integrated 3, skipped 0, failed 0" in out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"s_{k}.{ext}" for k in range(3) for ext in ("xy", "dat", "chi", "cake.npy"))
    xy = np.loadtxt(tmp_path / "s_0.xy")
    assert xy.shape == (700, 2)
    q_lines = 2 * np.pi / np.asarray(load_calibrant("CeO2").dspacing)
    assert np.min(np.abs(q_lines - xy[np.argmax(xy[:, 1]), 0])) < 2 * (xy[1, 0] - xy[0, 0])
    assert np.load(tmp_path / "s_1.cake.npy").shape == (90, 300)
    assert "azimuth range: -90 to 90 deg" in (tmp_path / "s_0.dat").read_text()
    rc, out, _ = run(capsys, *args)
    assert rc == 0 and "Integrated 0, skipped 3, failed 0" in out and "results exist" in out


def test_json_report(setup, capsys, tmp_path) -> None:
    rc, out, _ = run(capsys, setup["mixed"], "--poni", setup["poni"], "-o", tmp_path, "--json", "--glob", "m_1*")
    report = json.loads(out)
    assert rc == 1
    assert [Path(d["source"]).name for d in report["done"]] == ["m_1.tif"]
    assert [Path(d["source"]).name for d in report["failed"]] == ["m_1b.tif"]
    assert report["done"][0]["outputs"] == [str(tmp_path / "m_1.xy")]


def test_watch_mode_stops_when_idle(setup, capsys, tmp_path) -> None:
    rc, out, _ = run(capsys, setup["good"], "--poni", setup["poni"], "-o", tmp_path, "--watch", "--poll", "0.05",
                     "--idle", "0.3", "--workers", "1")
    assert rc == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s_0.xy", "s_1.xy", "s_2.xy"]
    assert "Integrated 3" in out


@pytest.mark.parametrize(("extra", "message"), [
    (["--format", "fxye", "--unit", "q_A^-1"], "--format fxye: the GSAS .fxye format needs the pattern in 2θ"),
    (["--format", "xy,nxs", "--unit", "d_A"], "--format nxs: a NeXus (NXazint1d) pattern is in 2θ or q"),
    (["--poni", "missing.poni"], "missing.poni: file not found"),
    (["--mask", "nomask.npy"], "Mask nomask.npy: no such file"),
    (["--dark", "nodark.tif"], "nodark.tif: file not found"),
    (["--watch"], "--watch needs exactly one folder"),
])
def test_errors_are_one_line(setup, capsys, tmp_path, extra, message) -> None:
    files = [setup["good"] / "s_0.tif", setup["good"] / "s_1.tif"] if "--watch" in extra else [setup["good"]]
    rc, out, err = run(capsys, *files, "--poni", setup["poni"], "-o", tmp_path / "out", *extra)
    assert rc == 1
    lines = [line for line in err.splitlines() if line.startswith("xcal: error:")]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


def test_bad_format_is_a_usage_error(setup, capsys, tmp_path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["integrate", str(setup["good"]), "--poni", str(setup["poni"]), "-o", str(tmp_path), "--format", "xy,tiff"])
    assert exit_info.value.code == 2
    assert "choose among xy, dat, chi, fxye" in capsys.readouterr().err


def test_real_sample_images_with_their_poni(real_data, capsys, tmp_path) -> None:
    """bcc Fe at 2 GPa: Fe(110) at 11.545° 2θ (SOURCES.md); the GIWAXS film integrates with its .poni."""
    fe = "sample_cpf_Fe-BCC-2GPa-DAC_Pilatus1M_30keV"
    rc, out, err = run(capsys, real_data / f"{fe}.tif", "--poni", real_data / f"{fe}.poni", "-o", tmp_path,
                       "--format", "xy,fxye")
    assert rc == 0, out + err
    xy = np.loadtxt(tmp_path / f"{fe}.xy")
    window = (xy[:, 0] > 11.2) & (xy[:, 0] < 11.9)
    assert xy[window][np.argmax(xy[window, 1]), 0] == pytest.approx(11.545, abs=0.02)
    fxye = np.loadtxt(tmp_path / f"{fe}.fxye", skiprows=2)
    assert fxye[:, 0].max() == pytest.approx(100 * xy[:, 0].max(), rel=1e-6)
    film = "sample_cms_GIWAXS-perovskite-film_Pilatus800k_12p7keV"
    rc, out, _ = run(capsys, real_data / f"{film}.tiff", "--poni", real_data / f"{film}.poni", "-o", tmp_path,
                     "--unit", "q_A^-1")
    assert rc == 0
    q, intensity = np.loadtxt(tmp_path / f"{film}.xy", unpack=True)
    assert np.all(np.diff(q) > 0) and np.isfinite(intensity).all() and intensity.max() > 0


def unusable_outputs(tmp_path: Path) -> list[tuple[Path, str]]:
    """Output folders that cannot be used: a regular file, a path below one, places not writable."""
    (tmp_path / "a_file.txt").write_text("not a folder")
    places = [(tmp_path / "a_file.txt", "a file, not a folder"), (tmp_path / "a_file.txt" / "out", "Not a directory")]
    if os.geteuid() != 0:  # permissions bind everyone but root
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        places += [(locked, "Permission denied"), (locked / "out", "Permission denied")]
    elif Path("/sys/kernel").is_dir():  # sysfs refuses new files even to root
        places += [(Path("/sys/kernel"), "denied"), (Path("/sys/xcal-out"), "not permitted")]
    return places


def test_unusable_output_folder_is_one_line(setup, capsys, tmp_path) -> None:
    for output, problem in unusable_outputs(tmp_path):
        rc, out, err = run(capsys, setup["good"], "--poni", setup["poni"], "-o", output, "--workers", "1")
        lines = [line for line in err.splitlines() if line.startswith("xcal: error:")]
        assert rc == 1 and "Traceback" not in err, err
        assert len(lines) == 1 and f"{output}:" in lines[0] and problem in lines[0], err


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--npt", "0", "a number of points from 2 to 1e+06"),
    ("--npt", "1.5", "a number of points"),
    ("--workers", "0", "a number of workers from 1 to 1024"),
    ("--poll", "-1", "a time above 0"),
    ("--idle", "nan", "a time above 0"),
    ("--background-scale", "inf", "a scale from -1e+06 to 1e+06"),
    ("--polarization", "2", "a polarization factor from -1 to 1"),
    ("--azimuth-range", "400", "an angle from -360 to 360 degrees"),
])
def test_numeric_options_are_checked(setup, capsys, tmp_path, option, value, message) -> None:
    """A number out of range is a usage error naming the option, before any file is read or written."""
    extra = [option, value, "90"] if option == "--azimuth-range" else [option, value]
    with pytest.raises(SystemExit) as exit_info:
        main(["integrate", str(setup["good"]), "--poni", str(setup["poni"]), "-o", str(tmp_path / "out"),
              *(str(a) for a in extra)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: must be {message}" in err and f"(got {value})" in err
    assert not (tmp_path / "out").exists()


def test_nexus_patterns_carry_the_geometry_and_the_mask_is_said(setup, capsys, tmp_path) -> None:
    """--format nxs writes NXazint1d files holding the .poni's geometry; every header says what was masked."""
    import h5py

    mask = np.zeros(detector_factory("Pilatus100k").shape, dtype=np.uint8)
    mask[:10, :20] = 1
    np.save(tmp_path / "beamstop.npy", mask)
    out = tmp_path / "out"
    rc, text, _ = run(capsys, setup["good"], "--poni", setup["poni"], "-o", out, "--format", "xy,nxs",
                      "--mask", tmp_path / "beamstop.npy", "--workers", "1")
    assert rc == 0 and "Integrated 3, skipped 0, failed 0" in text, text
    assert sorted(p.name for p in out.iterdir()) == sorted(f"s_{k}.{e}" for k in range(3) for e in ("xy", "nxs"))
    truth = Geometry()
    truth.load(str(setup["poni"]))
    with h5py.File(out / "s_1.nxs", "r") as h5:
        params = h5["entry/reduction/input"]
        config = json.loads(params["poni"][()].decode() if isinstance(params["poni"][()], bytes) else params["poni"][()])
        stored = Geometry()
        stored.set_config(config)
        assert h5["entry/data/I_errors"].shape == h5["entry/data/I"].shape  # the errors NeXus carries
    for name in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"):
        assert getattr(stored, name) == pytest.approx(getattr(truth, name), rel=1e-12), name
    mask_lines = [line for line in (out / "s_0.xy").read_text().splitlines() if line.startswith("# Mask:")]
    assert mask_lines == ["# Mask: beamstop.npy (200 px), negative or non-finite pixels of each image; "
                          "the Pilatus 100k has no module gaps"]
