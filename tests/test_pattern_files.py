"""Pattern and cake files (``xcal.core.integration.outputs``): every format written and read back."""

from __future__ import annotations

import errno
import os
import tempfile

import fabio
import matplotlib.image
import numpy as np
import pytest

import xcal.core.io.atomic
from xcal.core.errors import XcalError
from xcal.core.integration.integrator import Cake, Pattern
from xcal.core.integration.outputs import cake_format, check_output_path, pattern_format, write_cake, write_pattern

RADIAL = np.linspace(1.0, 30.0, 300)
INTENSITY = 100 + 50 * np.sin(RADIAL)
SIGMA = np.sqrt(INTENSITY) / 10
HEADER = ["Image: sample.tif", "Wavelength: 0.400000 A"]


def pattern(unit: str = "2th_deg", sigma: np.ndarray | None = SIGMA) -> Pattern:
    return Pattern(RADIAL.copy(), INTENSITY.copy(), unit, None if sigma is None else sigma.copy())


def test_xy_has_header_and_two_columns(tmp_path) -> None:
    path = tmp_path / "p.xy"
    write_pattern(path, pattern("q_A^-1"), HEADER)
    lines = path.read_text().splitlines()
    assert lines[:3] == ["# Image: sample.tif", "# Wavelength: 0.400000 A", "# q_A^-1  intensity"]
    data = np.loadtxt(path)
    np.testing.assert_allclose(data[:, 0], RADIAL, rtol=1e-7)
    np.testing.assert_allclose(data[:, 1], INTENSITY, rtol=1e-7)


def test_dat_has_sigma_column(tmp_path) -> None:
    path = tmp_path / "p.dat"
    write_pattern(path, pattern(), HEADER)
    assert "# 2theta_deg  intensity  sigma" in path.read_text()
    data = np.loadtxt(path)
    np.testing.assert_allclose(data[:, 2], SIGMA, rtol=1e-7)
    write_pattern(path, pattern(sigma=None))  # no errors known: zeros, still three columns
    assert np.all(np.loadtxt(path)[:, 2] == 0)


def test_chi_fit2d_layout(tmp_path) -> None:
    path = tmp_path / "p.chi"
    write_pattern(path, pattern(), title="sample.tif")
    lines = path.read_text().splitlines()
    assert lines[:3] == ["sample.tif", "2-Theta Angle (Degrees)", "Intensity"]
    assert int(lines[3]) == len(RADIAL)
    data = np.loadtxt(path, skiprows=4)
    np.testing.assert_allclose(data, np.column_stack([RADIAL, INTENSITY]), rtol=1e-7)


def test_fxye_centidegrees(tmp_path) -> None:
    path = tmp_path / "p.fxye"
    p = pattern()
    p.intensity[:5] = 0
    p.sigma[:5] = 0  # bins no pixel reaches are left out
    write_pattern(path, p, title="sample.tif")
    lines = path.read_text().splitlines()
    assert lines[0] == "sample.tif"
    bank = lines[1].split()
    assert bank[:5] == ["BANK", "1", str(len(RADIAL) - 5), str(len(RADIAL) - 5), "CONS"] and bank[-1] == "FXYE"
    assert float(bank[5]) == pytest.approx(100 * RADIAL[5], abs=1e-4)
    assert float(bank[6]) == pytest.approx(100 * (RADIAL[1] - RADIAL[0]), rel=1e-6)
    data = np.loadtxt(path, skiprows=2)
    np.testing.assert_allclose(data[:, 0] / 100, RADIAL[5:], atol=1e-8)
    np.testing.assert_allclose(data[:, 1:], np.column_stack([INTENSITY[5:], SIGMA[5:]]), rtol=1e-7)
    with pytest.raises(XcalError, match=r"p.fxye: the GSAS .fxye format needs the pattern in 2θ"):
        write_pattern(path, pattern("q_nm^-1"))


def read_gsas_fxye(path) -> tuple[str, list[str], np.ndarray]:
    """(title, BANK fields, x y esd rows) read the way GSAS-II's importer reads an FXYE file.

    First line: the title; an optional 'Instrument parameter file:' line; '#' comments; the BANK
    line; then x/100 (degrees), y, esd, one point per line, up to the end or the next BANK.
    """
    lines = path.read_text(encoding="latin-1").splitlines()
    title, rest = lines[0], lines[1:]
    if rest and rest[0][:4].lower() == "inst" and ":" in rest[0]:
        rest = rest[1:]
    rest = [line for line in rest if not line.startswith("#")]
    banks = [i for i, line in enumerate(rest) if line.startswith("BANK")]
    assert len(banks) == 1, "GSAS-II: 'No BANK records found'" if not banks else "one bank expected"
    bank = rest[banks[0]].split()
    rows = np.array([[float(v) for v in line.split()[:3]] for line in rest[banks[0] + 1:]])
    rows[:, 0] /= 100  # CW: centidegrees to degrees
    return title, bank, rows


def test_fxye_is_a_gsas_file(tmp_path) -> None:
    """The layout GSAS-II writes and reads: title, BANK 1 NCHAN NREC CONS START STEP 0 0 FXYE (centidegrees)."""
    path = tmp_path / "p.fxye"
    p = pattern()
    p.intensity[100] = np.nan  # a non-finite value is no point
    p.sigma[200:210] = 0  # empty bins inside the range: left out, the others keep their own x
    write_pattern(path, p, HEADER, title="sample.tif\nsecond line")
    title, bank, rows = read_gsas_fxye(path)
    assert title == "sample.tif second line"
    keep = np.ones(len(RADIAL), bool)
    keep[100] = False
    keep[200:210] = False
    assert bank[0] == "BANK" and bank[1] == "1" and bank[4] == "CONS" and bank[-1] == "FXYE" and len(bank) == 10
    assert int(bank[2]) == int(bank[3]) == len(rows) == keep.sum()  # NCHAN = NREC = one record per point
    assert float(bank[5]) == pytest.approx(100 * RADIAL[0], abs=1e-4)
    assert float(bank[6]) == pytest.approx(100 * (RADIAL[1] - RADIAL[0]), rel=1e-6)  # the bin width, not a gap
    np.testing.assert_allclose(rows[:, 0], RADIAL[keep], atol=1e-8)
    np.testing.assert_allclose(rows[:, 1:], np.column_stack([INTENSITY[keep], SIGMA[keep]]), rtol=1e-7)
    assert max(len(line) for line in path.read_text().splitlines()) <= 80  # GSAS's 80-column records
    no_sigma = tmp_path / "no_sigma.fxye"
    write_pattern(no_sigma, pattern(sigma=None))
    np.testing.assert_allclose(read_gsas_fxye(no_sigma)[2][:, 2], np.sqrt(INTENSITY), rtol=1e-7)  # Poisson


def test_unknown_formats_refused(tmp_path) -> None:
    with pytest.raises(XcalError, match=r"p.txt: unknown pattern format; use .xy, .dat, .chi, .fxye, .nxs, .h5"):
        write_pattern(tmp_path / "p.txt", pattern())
    cake = Cake(np.ones((4, 5)), np.arange(5.0), np.arange(4.0), "2th_deg")
    with pytest.raises(XcalError, match=r"c.jpg: unknown cake format; use .tif, .tiff, .npy, .png"):
        write_cake(tmp_path / "c.jpg", cake)
    with pytest.raises(XcalError, match=r"p.nxs: a NeXus \(NXazint1d\) pattern is in 2θ or q, not d_A"):
        write_pattern(tmp_path / "p.nxs", pattern("d_A"))
    with pytest.raises(XcalError, match="p.nxs: a NeXus pattern holds the geometry"):
        write_pattern(tmp_path / "p.nxs", pattern())
    assert list(tmp_path.iterdir()) == []  # nothing half-written


@pytest.mark.parametrize(("name", "unit", "expected"), [
    ("a.xy", "d_A", "xy"), ("a.DAT", None, "dat"), ("a.chi", "q_A^-1", "chi"), ("a.fxye", "2th_deg", "fxye"),
    ("a.nxs", "q_nm^-1", "nxs"), ("a.h5", "2th_deg", "nxs"), ("a.hdf", None, "nxs"),
])
def test_pattern_format_follows_the_extension(name, unit, expected) -> None:
    assert pattern_format(name, unit) == expected


def test_format_checks_before_any_work() -> None:
    for name, unit, message in (("out.fxye", "q_A^-1", "out.fxye: the GSAS .fxye format needs the pattern in 2θ"),
                                ("out.h5", "d_A", "out.h5: a NeXus"), ("out", None, "out: unknown pattern format"),
                                ("out.xye", None, "out.xye: unknown pattern format")):
        with pytest.raises(XcalError, match=message):
            pattern_format(name, unit)
    assert cake_format("c.TIFF") == "tif"


def test_output_path_problems_are_named(tmp_path) -> None:
    for path, message in ((tmp_path / "missing" / "p.xy", r"missing/p.xy: the folder .*missing does not exist"),
                          (tmp_path, "is a folder; give the name of the file"),
                          ("/dev/null", "/dev/null: exists and is not a regular file"),  # never replaced by a file
                          ("/sys/p.xy", r"/sys/p.xy: cannot write in the folder /sys: Permission denied"),
                          ("/proc/p.xy", r"/proc/p.xy: cannot write in the folder /proc"),
                          ("", "empty")):
        with pytest.raises(XcalError, match=message):
            check_output_path(path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(XcalError, match=r"file/p.xy: the folder .*file is not a folder"):
        check_output_path(tmp_path / "file" / "p.xy")
    assert check_output_path(tmp_path / "p.xy") == tmp_path / "p.xy"
    assert sorted(os.listdir(tmp_path)) == ["file"]  # the write test leaves nothing behind


def full_disk(monkeypatch, tmp_path, name: str) -> None:
    """The atomic writer's temporary file for ``name`` is /dev/full: every write of it fails with a real ENOSPC."""
    real = tempfile.mkstemp

    def mkstemp(*args, prefix=None, **kwargs):
        if prefix and prefix.startswith(f".{name}."):
            return os.open("/dev/full", os.O_WRONLY), str(tmp_path / f".{name}.full.tmp")  # that name is never created
        return real(*args, prefix=prefix, **kwargs)

    monkeypatch.setattr(xcal.core.io.atomic.tempfile, "mkstemp", mkstemp)


def test_full_disk_is_named(tmp_path, monkeypatch) -> None:
    with pytest.raises(OSError) as raw:  # what the disk says
        with open("/dev/full", "w") as handle:
            handle.write("x")
    assert raw.value.errno == errno.ENOSPC
    full_disk(monkeypatch, tmp_path, "p.xy")
    full_disk(monkeypatch, tmp_path, "c.png")
    (tmp_path / "p.xy").write_text("an earlier pattern")
    with pytest.raises(XcalError, match=r"Cannot write .*p.xy: No space left on device") as info:
        write_pattern(tmp_path / "p.xy", pattern(), HEADER)
    assert info.value.__cause__.errno == errno.ENOSPC
    with pytest.raises(XcalError, match=r"Cannot write .*c.png: No space left on device"):
        write_cake(tmp_path / "c.png", Cake(np.ones((4, 5)), np.arange(5.0), np.arange(4.0), "2th_deg"))
    assert (tmp_path / "p.xy").read_text() == "an earlier pattern"
    assert sorted(os.listdir(tmp_path)) == ["p.xy"]


def test_cake_files_read_back(tmp_path) -> None:
    rng = np.random.default_rng(0)
    intensity = rng.uniform(1, 100, (36, 80)).astype(np.float32)
    cake = Cake(intensity, np.linspace(1, 20, 80), np.linspace(-175, 175, 36), "2th_deg")
    write_cake(tmp_path / "c.tif", cake)
    write_cake(tmp_path / "c.npy", cake)
    write_cake(tmp_path / "c.png", cake, lines=np.array([5.0, 10.0]), title="sample")
    np.testing.assert_array_equal(fabio.open(str(tmp_path / "c.tif")).data, intensity)
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), intensity)
    png = matplotlib.image.imread(tmp_path / "c.png")
    assert png.ndim == 3 and png.shape[0] > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npy", "c.png", "c.tif"]  # no temporary left
