"""Pattern and cake files (``xcal.core.outputs``): every format written and read back."""

from __future__ import annotations

import fabio
import matplotlib.image
import numpy as np
import pytest

from xcal.core.errors import XcalError
from xcal.core.integration import Cake, Pattern
from xcal.core.outputs import write_cake, write_pattern

RADIAL = np.linspace(1.0, 30.0, 300)
INTENSITY = 100 + 50 * np.sin(RADIAL)
SIGMA = np.sqrt(INTENSITY) / 10
HEADER = ["Image: sample.tif", "Wavelength: 0.400000 A"]


def pattern(unit: str = "2th_deg", sigma: np.ndarray | None = SIGMA) -> Pattern:
    return Pattern(RADIAL.copy(), INTENSITY.copy(), unit, sigma)


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


def test_unknown_formats_refused(tmp_path) -> None:
    with pytest.raises(XcalError, match=r"p.txt: unknown pattern format; use .xy, .dat, .chi, .fxye"):
        write_pattern(tmp_path / "p.txt", pattern())
    cake = Cake(np.ones((4, 5)), np.arange(5.0), np.arange(4.0), "2th_deg")
    with pytest.raises(XcalError, match="unknown cake format"):
        write_cake(tmp_path / "c.jpg", cake)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


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
