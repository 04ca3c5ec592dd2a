"""Calibrant registry: bundled files against pyFAI's, user folder, validation, packaging."""

from __future__ import annotations

import itertools
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pyFAI.calibrant import Calibrant
from pyFAI.utils import get_calibration_dir

from xcal.core.errors import CalibrantError, XcalError
from xcal.core.io.calibrants import (
    calibrant_dirs,
    calibrant_path,
    list_calibrants,
    load_calibrant,
    read_dspacing,
    user_calibrant_dir,
)

REPO = Path(__file__).resolve().parents[1]
PYFAI = sorted(Path(get_calibration_dir()).glob("*.D"))
# pyFAI lists these lines, but their space group forbids them (see calibrants/README.md).
FORBIDDEN = {"ZnO": [1.04130600], "TiO2": [1.07065805, 1.06398577], "Cr2O3": [0.93964441]}


@pytest.fixture(autouse=True)
def user_dir(tmp_path, monkeypatch) -> Path:
    """An empty user folder, so that the tester's own calibrants never change the results."""
    folder = tmp_path / "user"
    folder.mkdir()
    monkeypatch.setenv("XCAL_CALIBRANT_DIR", str(folder))
    return folder


def bundled(name: str) -> np.ndarray:
    return read_dspacing(REPO / "calibrants" / f"{name}.D")


def cubic_lines(a: float, allowed, d_min: float = 0.25) -> np.ndarray:
    """Distinct d = a/sqrt(h²+k²+l²) of the allowed (h k l), computed here independently."""
    n = int(a / d_min) + 1
    sums = {h * h + k * k + l * l for h, k, l in itertools.product(range(n + 1), repeat=3)
            if (h or k or l) and allowed(h, k, l) and a / math.sqrt(h * h + k * k + l * l) >= d_min}
    return np.sort(a / np.sqrt(np.array(sorted(sums))))[::-1]


def test_every_pyfai_calibrant_is_listed():
    names = list_calibrants()
    assert {p.stem for p in PYFAI} <= set(names)
    assert {"LaB6", "CeO2", "Si", "AgBh", "alpha_Al2O3", "Au", "Si_SRM640e", "LaB6_SRM660c"} <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize("source", PYFAI, ids=lambda p: p.stem)
def test_every_pyfai_dspacing_is_kept(source):
    """Regenerating never loses a ring of pyFAI's list (within the precision pyFAI gives)."""
    ours = bundled(source.stem)
    for d in read_dspacing(source):
        if d in FORBIDDEN.get(source.stem, []):
            assert np.abs(ours - d).min() > 1e-4
            continue
        four_decimals = abs(d * 1e4 - round(d * 1e4)) < 1e-6
        assert np.abs(ours - d).min() <= max(1e-5 * d, 5.1e-5 if four_decimals else 0), (source.stem, d)
    assert len(ours) >= len(read_dspacing(source))


@pytest.mark.parametrize("path", sorted((REPO / "calibrants").glob("*.D")), ids=lambda p: p.stem)
def test_pyfai_reads_our_files_alike(path):
    """The bundled files stay in pyFAI's format: pyFAI's own parser finds the same values."""
    ours = read_dspacing(path)
    assert np.all(np.diff(ours) <= 0)
    np.testing.assert_allclose(Calibrant(filename=str(path)).dspacing, ours, rtol=0, atol=0)


def test_lab6_and_ceo2_first_lines():
    assert bundled("LaB6")[0] == 4.15682600
    a = 5.411651
    assert bundled("CeO2")[0] == pytest.approx(a / math.sqrt(3), rel=1e-8)


def test_gold_extended_to_quarter_angstrom():
    ours = bundled("Au")
    pyfai = read_dspacing(Path(get_calibration_dir()) / "Au.D")
    assert len(pyfai) == 16 and len(ours) >= 60
    assert 0.25 <= ours[-1] < 0.26
    assert all(np.abs(ours - d).min() < 1e-5 * d for d in pyfai)
    np.testing.assert_allclose(ours, cubic_lines(4.0782, lambda h, k, l: len({h % 2, k % 2, l % 2}) == 1),
                               rtol=0, atol=5.1e-9)


def test_nist_silicon_and_lab6_match_their_lattices():
    def diamond(h, k, l):
        return len({h % 2, k % 2, l % 2}) == 1 and not (h % 2 == 0 and (h + k + l) % 4)

    def primitive(h, k, l):
        return True

    np.testing.assert_allclose(bundled("Si_SRM640c"), cubic_lines(5.4311946, diamond), rtol=0, atol=5.1e-9)
    np.testing.assert_allclose(bundled("LaB6_SRM660c"), cubic_lines(4.156826, primitive), rtol=0, atol=5.1e-9)


def test_zno_has_no_forbidden_rings():
    a, c = 3.249897, 5.20653

    def d(h, k, l):
        return 1 / math.sqrt(4 / 3 * (h * h + h * k + k * k) / a**2 + l * l / c**2)

    ours = bundled("ZnO")
    for hkl in [(0, 0, 1), (1, 1, 1), (0, 0, 5), (1, 1, 3)]:  # P6_3mc: 000l and hh-2hl need l even
        assert np.abs(ours - d(*hkl)).min() > 1e-4, hkl
    for hkl in [(1, 0, 0), (1, 1, 2), (2, 1, 1), (0, 0, 6)]:
        assert np.abs(ours - d(*hkl)).min() < 1e-6, hkl


def test_silver_behenate_has_60_orders():
    ours = bundled("AgBh")
    np.testing.assert_allclose(ours, 58.38 / np.arange(1, 61), rtol=0, atol=5.1e-9)


def test_user_file_is_seen_at_once_and_overrides_bundled(user_dir):
    assert "MyCal" not in list_calibrants()
    (user_dir / "MyCal.D").write_text("# Calibrant: mine\n3.0\n2.0 # (1 1 0)\n")
    assert "MyCal" in list_calibrants()
    assert calibrant_path("MyCal") == user_dir / "MyCal.D"

    (user_dir / "LaB6.D").write_text("5.0\n")
    assert calibrant_path("LaB6") == user_dir / "LaB6.D"
    assert load_calibrant("LaB6").dspacing == [5.0]
    assert list_calibrants().count("LaB6") == 1

    (user_dir / "LaB6.D").unlink()
    assert load_calibrant("LaB6").dspacing[0] == 4.15682600


def test_calibrant_dirs_lists_existing_folders_user_first(user_dir, monkeypatch):
    dirs = calibrant_dirs()
    assert dirs[0] == user_dir and len(dirs) == 2 and (dirs[1] / "Au.D").is_file()
    monkeypatch.setenv("XCAL_CALIBRANT_DIR", str(user_dir / "missing"))
    assert calibrant_dirs() == dirs[1:]
    assert "Au" in list_calibrants()


def test_user_dir_per_platform(monkeypatch, tmp_path):
    monkeypatch.delenv("XCAL_CALIBRANT_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert user_calibrant_dir() == tmp_path / "cfg" / "xcal" / "calibrants"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/is/ignored")
    assert user_calibrant_dir() == tmp_path / ".config" / "xcal" / "calibrants"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert user_calibrant_dir() == tmp_path / "Library" / "Application Support" / "xcal" / "calibrants"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming"))
    assert user_calibrant_dir() == tmp_path / "Roaming" / "xcal" / "calibrants"


@pytest.mark.parametrize("text, line", [
    ("3.0\n2.0\nabc\n", 3),
    ("# header\n\n2,5\n", 3),
    ("3.0 2.0\n", 1),
    ("3.0\n-1.5 # (1 1 1)\n", 2),
    ("0\n", 1),
    ("3.0\nnan\n", 2),
    ("inf\n", 1),
])
def test_malformed_line_is_reported_with_file_and_line(user_dir, text, line):
    path = user_dir / "Bad.D"
    path.write_text(text)
    with pytest.raises(CalibrantError, match=rf"Bad\.D, line {line}:"):
        read_dspacing(path)
    with pytest.raises(CalibrantError, match=rf"Bad\.D, line {line}:"):
        load_calibrant("Bad")


@pytest.mark.parametrize("text", ["", "# only a comment\n\n   \n"])
def test_file_without_dspacing_is_refused(user_dir, text):
    path = user_dir / "Empty.D"
    path.write_text(text)
    with pytest.raises(CalibrantError, match=r"Empty\.D(: the file is empty| holds no d-spacing)"):
        read_dspacing(path)


def test_missing_file_is_a_calibrant_error(tmp_path):
    with pytest.raises(CalibrantError, match="Nope.D"):
        load_calibrant(tmp_path / "Nope.D")


def test_a_pipe_or_a_folder_is_refused_without_blocking(tmp_path):
    """A FIFO named .D would block the read forever; a folder named .D would raise IsADirectoryError."""
    import os

    os.mkfifo(tmp_path / "Pipe.D")
    with pytest.raises(CalibrantError, match=r"Pipe\.D: is a named pipe \(FIFO\), not a regular file"):
        read_dspacing(tmp_path / "Pipe.D")
    (tmp_path / "Folder.D").mkdir()
    with pytest.raises(CalibrantError, match=r"Folder\.D: is a folder, not a regular file"):
        read_dspacing(tmp_path / "Folder.D")


def test_unsorted_values_are_sorted(user_dir):
    path = user_dir / "Shuffled.D"
    path.write_text("1.0\n3.0 # (1 0 0)\n2.0\n")
    d = read_dspacing(path)
    assert d.dtype == np.float64 and d.tolist() == [3.0, 2.0, 1.0]
    assert load_calibrant(str(path)).dspacing == [3.0, 2.0, 1.0]


def test_unknown_name_suggests_close_matches():
    with pytest.raises(CalibrantError, match="Did you mean: LaB6") as info:
        calibrant_path("LaB7")
    assert isinstance(info.value, XcalError) and "'LaB7'" in str(info.value)
    with pytest.raises(CalibrantError, match="Si_SRM640c"):
        load_calibrant("si_srm640c")


def test_load_by_name_with_wavelength():
    wavelength = 1e-10
    calibrant = load_calibrant("LaB6", wavelength)
    assert calibrant.name == "LaB6"
    assert calibrant.wavelength == wavelength
    assert calibrant.get_2th()[0] == pytest.approx(2 * math.asin(wavelength / (2 * 4.15682600e-10)), rel=1e-12)


def test_load_by_path_keeps_the_stem_as_name(user_dir):
    path = user_dir / "Mine.D"
    path.write_text("2.0\n1.0\n")
    for given in (path, str(path)):
        calibrant = load_calibrant(given)
        assert calibrant.name == "Mine" and calibrant.dspacing == [2.0, 1.0]


def test_wavelength_in_angstrom_is_refused():
    with pytest.raises(ValueError, match="metres"):
        load_calibrant("LaB6", 1.0)


def test_package_ships_the_calibrant_files(tmp_path):
    """What a wheel would install: build_py lays out the packages with their data files."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "pyproject.toml", project)
    for folder in ("src", "calibrants"):
        shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py",
                    "--build-lib", str(tmp_path / "lib")], cwd=project, check=True, capture_output=True)
    shipped = tmp_path / "lib" / "xcal" / "calibrants"
    assert {p.name for p in shipped.glob("*.D")} == {p.name for p in (REPO / "calibrants").glob("*.D")}
    assert (shipped / "__init__.py").is_file() and (shipped / "README.md").is_file()
    assert (tmp_path / "lib" / "xcal" / "core" / "io" / "calibrants.py").is_file()
