"""The command line never prints a traceback: option values, output paths, existing outputs, library
noise, and the pattern formats of ``xcal pattern``/``xcal cake`` (run in-process, and as a real
process where only one shows what reaches the terminal).

Exit status 2: the command line is wrong (argparse's usage, then ``xcal <command>: error:
argument --option: …``). Exit status 1: the files are (one line ``xcal: error: …`` naming the
file). Either way an existing output is left as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys

import fabio
import h5py
import numpy as np
import pytest
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry
from test_pattern_files import full_disk, read_gsas_fxye

import xcal.cli
from xcal import __version__
from xcal.cli import main
from xcal.core.calibration.synthetic import ring_image
from xcal.core.errors import XcalError
from xcal.core.io.calibrants import load_calibrant
from xcal.core.io.poni import write_poni

DETECTOR = "Pilatus300k"
WAVELENGTH = 0.3e-10
TRUE = dict(dist=0.2, poni1=0.054, poni2=0.041, rot1=0.012, rot2=-0.008, rot3=0.0)
SENTINEL = b"an earlier result that a refused run must not touch\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("cli_errors")
    geometry = Geometry(detector=detector_factory(DETECTOR), wavelength=WAVELENGTH, **TRUE)
    data = ring_image(geometry, load_calibrant("CeO2"), geometry.detector.shape, fwhm_deg=0.06, noise=True, seed=1)
    image = folder / "ceo2.tif"
    fabio.tifimage.TifImage(data.astype(np.float32)).write(str(image))
    poni = folder / "truth.poni"
    write_poni(poni, geometry)
    mask = folder / "mask.edf"
    fabio.edfimage.EdfImage(np.zeros(data.shape, np.uint8)).write(str(mask))
    truncated_mask = folder / "truncated_mask.edf"
    truncated_mask.write_bytes(mask.read_bytes()[:3000])
    return {"folder": folder, "image": image, "poni": poni, "truncated_mask": truncated_mask, "geometry": geometry}


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def usage_error(capsys, *argv) -> str:
    """stderr of a command line refused by argparse (exit status 2)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert "Traceback" not in err and err.startswith("usage: xcal")
    return err


def assert_one_line(rc: int, err: str, *fragments: str) -> None:
    assert rc == 1 and "Traceback" not in err
    assert err.startswith("xcal: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def calibrate(files, output, *extra) -> list:
    return ["calibrate", files["image"], "--calibrant", "CeO2", "--wavelength", "0.3", "--detector", DETECTOR,
            "-o", output, *extra]


def pattern(files, output, *extra) -> list:
    return ["pattern", files["image"], "--poni", files["poni"], "-o", output, *extra]


# -- option values: exit 2, the option named ---------------------------------------------------------------

OPTION_CASES = {
    "click nan": (["--click", "nan,nan,1"], "argument --click: --click 'nan,nan,1': X and Y must be finite"),
    "click inf": (["--click", "10,inf"], "X and Y must be finite"),
    "click ring 0": (["--click", "10,20,0"], "--click '10,20,0': ring numbers start at 1"),
    "click ring 1.5": (["--click", "10,20,1.5"], "expected X,Y or X,Y,RING"),
    "fix bogus": (["--fix", "bogus"], "argument --fix: unknown parameter(s) bogus; choose among dist, poni1"),
    "wavelength inf": (["--wavelength", "inf"], "argument --wavelength: must be a wavelength from 0.001 to 100 Å (got inf)"),
    "wavelength 0": (["--wavelength", "0"], "must be a wavelength from 0.001 to 100 Å (got 0)"),
    "wavelength -0.3": (["--wavelength", "-0.3"], "(got -0.3)"),
    "energy 0": (["--wavelength", None, "--energy", "0"], "argument --energy: must be an energy from 0.124 to 12398 keV"),
    "energy -30": (["--wavelength", None, "--energy", "-30"], "(got -30)"),
    "energy nan": (["--wavelength", None, "--energy", "nan"], "(got nan)"),
    "distance nan": (["--distance", "nan"], "argument --distance: must be a distance from 1 to 100000 mm (got nan)"),
    "distance -200": (["--distance", "-200"], "(got -200)"),
    "distance 1e9": (["--distance", "1e9"], "(got 1e9)"),
    "pixel -172": (["--detector", None, "--pixel", "-172"], "argument --pixel: must be a pixel size above 0 and at most 10000 µm"),
    "pixel three": (["--detector", None, "--pixel", "172", "172", "172"], "argument --pixel: one value, or two"),
    "frame -1": (["--frame", "-1"], "argument --frame: must be a frame index of at least 0 (got -1)"),
    "rings 0": (["--rings", "0"], "argument --rings: must be a number of rings from 1 to 1000 (got 0)"),
    "delta-tth 0": (["--delta-tth", "0"], "argument --delta-tth: must be an angle above 0 and at most 10 degrees"),
    "min-snr nan": (["--min-snr", "nan"], "argument --min-snr: must be a ratio above 0"),
    "max-intensity -1": (["--max-intensity", "-1"], "argument --max-intensity: must be an intensity above 0 (got -1)"),
    "report suffix": (["--report", "report.txt"], "argument --report: Cannot write a report to report.txt"),
    "empty picks-out": (["--picks-out", ""], "argument --picks-out: the file name is empty"),
    "click with poni": (["--click", "10,20", "--poni", "start.poni"], "argument --click: not with --poni"),
    "distance with poni": (["--distance", "200", "--poni", "start.poni"], "argument --distance: not with --poni"),
    "picks-out with poni": (["--picks-out", "p.npt", "--poni", "start.poni"], "argument --picks-out: not with --poni"),
    "no-auto without click": (["--no-auto"], "argument --no-auto: fits the clicked points only, and there is no --click"),
}


def _with(args: list, extra: list) -> list:
    """``args`` with ``extra``: an option followed by None is removed from ``args`` (with its value)."""
    args, extra = list(args), list(extra)
    while None in extra:
        i = extra.index(None)
        option = extra.pop(i - 1)
        extra.pop(i - 1)
        j = args.index(option)
        del args[j:j + 2]
    return args + extra


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_calibrate_option_values_are_refused(files, tmp_path, capsys, case) -> None:
    extra, message = OPTION_CASES[case]
    output = tmp_path / "cal.poni"
    output.write_bytes(SENTINEL)
    err = usage_error(capsys, *_with(calibrate(files, output, "--overwrite"), extra))
    assert "xcal calibrate: error: argument --" in err and message in err, err
    assert output.read_bytes() == SENTINEL


@pytest.mark.parametrize(("command", "extra", "message"), [
    ("pattern", ["--npt", "0"], "argument --npt: The number of points (npt) must be an integer from 2 to 100000 (got 0)"),
    ("pattern", ["--npt", "-5"], "(got -5)"),
    ("pattern", ["--npt", "1000000000000"], "(got 1000000000000)"),
    ("pattern", ["--npt", "1e12"], "argument --npt: must be an integer (got 1e12)"),
    ("cake", ["--npt", "100000"], "argument --npt: The cake of 100000 x 360 bins is too large"),
    ("pattern", ["--frame", "x"], "argument --frame: must be a frame index of at least 0 (got x)"),
    ("pattern", ["--unit", "q_A^-1", "-o", "out.fxye"], "argument -o/--output: out.fxye: the GSAS .fxye format needs "
                                                        "the pattern in 2θ"),
    ("pattern", ["--unit", "d_A", "-o", "out.h5"], "argument -o/--output: out.h5: a NeXus (NXazint1d) pattern is in 2θ or q"),
    ("pattern", ["-o", "out.txt"], "argument -o/--output: out.txt: unknown pattern format; use .xy, .dat, .chi, .fxye, "
                                   ".nxs, .h5"),
    ("cake", ["-o", "out.jpg"], "argument -o/--output: out.jpg: unknown cake format; use .tif, .tiff, .npy, .png"),
])
def test_view_option_values_are_refused(files, tmp_path, capsys, command, extra, message) -> None:
    output = tmp_path / ("out.xy" if command == "pattern" else "out.png")
    argv = [command, files["image"], "--poni", files["poni"], "-o", output, *extra]
    err = usage_error(capsys, *argv)
    assert f"xcal {command}: error: argument " in err and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"xcal {__version__}\n"


# -- output paths: exit 1, one line naming the path ---------------------------------------------------------


@pytest.mark.parametrize("command", ["pattern", "cake"])
def test_output_path_problems_are_one_line(files, tmp_path, capsys, command) -> None:
    name = "out.xy" if command == "pattern" else "out.png"
    view = [command, files["image"], "--poni", files["poni"], "-o"]
    for output, fragments in (
            (tmp_path / "missing" / name, [f"-o {tmp_path / 'missing' / name}: the folder", "does not exist"]),
            (tmp_path / "folder.xy", ["folder.xy: is a folder"]),
            (f"/sys/{name}", [f"-o /sys/{name}: cannot write in the folder /sys: Permission denied"]),
            (f"/proc/{name}", [f"-o /proc/{name}: cannot write in the folder /proc"])):
        if str(output).endswith("folder.xy"):
            output.mkdir(exist_ok=True)
        rc, out, err = run(capsys, *view, output)
        assert_one_line(rc, err, *fragments)
    assert sorted(os.listdir(tmp_path)) == ["folder.xy"] and not os.listdir(tmp_path / "folder.xy")


def test_devices_are_never_replaced(files, capsys) -> None:
    """The atomic replace would swap /dev/null for a regular file: refused, even with --overwrite."""
    rc, out, err = run(capsys, *calibrate(files, "/dev/null", "--overwrite", "--click", "10,10"))
    assert_one_line(rc, err, "-o /dev/null: exists and is not a regular file")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_full_disk_is_one_line(files, tmp_path, capsys, monkeypatch) -> None:
    """A real ENOSPC (the temporary file is /dev/full) while the pattern is written."""
    full_disk(monkeypatch, tmp_path, "out.xy")
    rc, out, err = run(capsys, *pattern(files, tmp_path / "out.xy", "--npt", "300"))
    assert_one_line(rc, err, f"Cannot write {tmp_path / 'out.xy'}: No space left on device")
    assert os.listdir(tmp_path) == []


# -- existing outputs: refused before any work, unless --overwrite -----------------------------------------


@pytest.mark.parametrize(("option", "name"), [("-o", "cal.poni"), ("--picks-out", "picks.npt"),
                                              ("--report", "report.html")])
def test_calibrate_refuses_to_overwrite(files, tmp_path, capsys, option, name) -> None:
    existing = tmp_path / name
    existing.write_bytes(SENTINEL)
    outputs = {"-o": tmp_path / "new.poni", option: existing}
    argv = ["calibrate", tmp_path / "no_such_image.tif", "--calibrant", "CeO2", "--wavelength", "0.3",
            "--detector", DETECTOR, "--click", "10,10"]
    for opt, path in outputs.items():
        argv += [opt, path]
    rc, out, err = run(capsys, *argv)
    # refused before the image is even read (its absence is not what is reported)
    assert_one_line(rc, err, f"{option} {existing}: the file exists; add --overwrite to replace it")
    assert existing.read_bytes() == SENTINEL


@pytest.mark.parametrize("command", ["pattern", "cake"])
def test_view_refuses_to_overwrite_then_replaces_with_overwrite(files, tmp_path, capsys, command) -> None:
    existing = tmp_path / ("out.xy" if command == "pattern" else "out.npy")
    existing.write_bytes(SENTINEL)
    argv = [command, files["image"], "--poni", files["poni"], "--npt", "300", "-o", existing]
    rc, out, err = run(capsys, *argv)
    assert_one_line(rc, err, f"-o {existing}: the file exists; add --overwrite to replace it")
    assert existing.read_bytes() == SENTINEL
    rc, out, err = run(capsys, *argv, "--overwrite")
    assert rc == 0 and err == "" and out == f"Wrote {existing}\n"
    assert existing.read_bytes() != SENTINEL


def test_inputs_and_twin_outputs_are_refused(files, tmp_path, capsys) -> None:
    rc, out, err = run(capsys, "cake", files["image"], "--poni", files["poni"], "-o", files["image"], "--overwrite")
    assert_one_line(rc, err, f"-o {files['image']}: is an input of this run")
    assert fabio.open(str(files["image"])).data.shape == (619, 487)  # the image is still there
    twin = tmp_path / "same.poni"
    rc, out, err = run(capsys, *calibrate(files, twin, "--picks-out", twin, "--click", "10,10"))
    assert_one_line(rc, err, f"--picks-out {twin}: -o names the same file")


def test_wavelength_must_be_the_start_files(files, tmp_path, capsys) -> None:
    """With --poni the refinement keeps the file's wavelength: another --wavelength is not silently dropped."""
    argv = _with(calibrate(files, tmp_path / "cal.poni", "--poni", files["poni"]), ["--wavelength", None])
    rc, out, err = run(capsys, *argv, "--wavelength", "0.31")
    assert_one_line(rc, err, "--wavelength 0.31 Å differs from the wavelength of truth.poni (0.3 Å")
    assert list(tmp_path.iterdir()) == []


# -- pattern and cake formats follow the extension ----------------------------------------------------------


def test_pattern_fxye_is_gsas(files, tmp_path, capsys) -> None:
    output = tmp_path / "out.fxye"
    rc, out, err = run(capsys, *pattern(files, output, "--npt", "800"))
    assert rc == 0, err
    title, bank, rows = read_gsas_fxye(output)
    assert title == "ceo2.tif" and bank[-1] == "FXYE" and int(bank[2]) == len(rows) > 700
    assert np.all(rows[:, 2] > 0)  # Poisson errors, not zeros
    lines = np.degrees(2 * np.arcsin(WAVELENGTH / (2e-10 * np.asarray(load_calibrant("CeO2").dspacing[:3]))))
    peak = rows[np.argmax(rows[:, 1]), 0]
    assert np.min(np.abs(lines - peak)) < 0.1  # the strongest peak on a CeO2 line, in degrees


@pytest.mark.parametrize("suffix", ["nxs", "h5"])
def test_pattern_nexus(files, tmp_path, capsys, suffix) -> None:
    output = tmp_path / f"out.{suffix}"
    rc, out, err = run(capsys, *pattern(files, output, "--npt", "800", "--unit", "q_A^-1"))
    assert rc == 0, err
    with h5py.File(output, "r") as h5:
        assert h5["entry"].attrs["NX_class"] == "NXentry" and h5["entry/definition"][()].decode() == "NXazint1d"
        assert h5["entry/data"].attrs["NX_class"] == "NXdata" and h5["entry/data/I"].shape == (1, 800)
        assert h5["entry/data/radial_axis"].attrs["units"] == "1/angstrom"
        assert h5["entry/instrument/monochromator/wavelength"][()] == pytest.approx(0.3)
        f2d = files["geometry"].getFit2D()
        assert h5["entry/instrument/detector/beam_center_x"][()] == pytest.approx(f2d["centerX"])
        assert h5["entry/sample/name"][()].decode() == "ceo2.tif"


def test_cake_tif_is_a_tiff(files, tmp_path, capsys) -> None:
    output = tmp_path / "cake.tif"
    rc, out, err = run(capsys, "cake", files["image"], "--poni", files["poni"], "--npt", "400", "-o", output)
    assert rc == 0, err
    assert fabio.open(str(output)).data.shape == (360, 400)  # not a PNG named .tif


# -- nothing but the one line: library log lines and warnings only with --verbose ----------------------------

NOISY = """
import logging, sys, warnings
import xcal.cli
from xcal.core.errors import XcalError

def noisy(args):
    logging.getLogger("fabio.edfimage").error("Data stream is incomplete: 2488 < expected 301453 bytes")
    warnings.warn("invalid value encountered in divide", RuntimeWarning)
    raise XcalError("mask.edf: the mask is truncated.")

xcal.cli.view.cmd_view = noisy
sys.exit(xcal.cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_library_noise_only_with_verbose(tmp_path, verbose) -> None:
    # a real process: in-process, pytest's own log and warning capture would hide what reaches stderr
    argv = ["pattern", "image.tif", "--poni", "g.poni", "-o", str(tmp_path / "p.xy")] + (["--verbose"] if verbose else [])
    proc = subprocess.run([sys.executable, "-c", NOISY, *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    last = "xcal: error: mask.edf: the mask is truncated.\n"
    if verbose:
        assert proc.stderr.endswith(last)
        assert "fabio.edfimage: ERROR: Data stream is incomplete" in proc.stderr
        assert "RuntimeWarning: invalid value encountered in divide" in proc.stderr
    else:
        assert proc.stderr == last


def test_fabio_log_lines_stay_off_the_terminal(files, tmp_path) -> None:
    """A truncated mask made fabio print 'Data stream is incomplete' beside xcal's own output."""
    script = os.path.join(os.path.dirname(sys.executable), "xcal")
    argv = [script, *map(str, pattern(files, tmp_path / "p.xy", "--npt", "300", "--mask", files["truncated_mask"]))]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert "Data stream is incomplete" not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr == "" if proc.returncode == 0 else proc.stderr.count("\n") == 1, proc.stderr
    verbose = subprocess.run([*argv, "--verbose", "--overwrite"], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in verbose.stderr


def test_internal_errors_are_one_line(files, tmp_path, capsys, monkeypatch) -> None:
    def broken(args):
        raise ValueError("cannot convert float NaN to integer")

    monkeypatch.setattr(xcal.cli.view, "cmd_view", broken)
    argv = pattern(files, tmp_path / "p.xy")
    rc, out, err = run(capsys, *argv)
    assert_one_line(rc, err, "internal error (ValueError: cannot convert float NaN to integer); run again with "
                             "--verbose for the traceback")
    rc, out, err = run(capsys, *argv, "--verbose")
    assert rc == 1 and "Traceback (most recent call last)" in err and err.endswith("for the traceback\n")

    def unreadable(args):
        raise PermissionError(13, "Permission denied", "/data/ceo2.tif")

    monkeypatch.setattr(xcal.cli.view, "cmd_view", unreadable)
    rc, out, err = run(capsys, *argv)
    assert_one_line(rc, err, "xcal: error: /data/ceo2.tif: Permission denied")


def test_multi_line_messages_become_one_line(files, tmp_path, capsys, monkeypatch) -> None:
    def two_lines(args):
        raise XcalError("first line\nsecond line")

    monkeypatch.setattr(xcal.cli.view, "cmd_view", two_lines)
    rc, out, err = run(capsys, *pattern(files, tmp_path / "p.xy"))
    assert_one_line(rc, err, "xcal: error: first line second line")
