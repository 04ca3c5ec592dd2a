""".npt control-point files: good files read exactly, every damaged one refused naming file and line.

pyFAI's reader skipped lines it could not convert (a damaged point was silently lost), kept
NaN and infinite points and negative ring numbers, and raised a raw TypeError or IndexError on
some damage; xcal reads the format itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyFAI.calibrant import get_calibrant
from pyFAI.control_points import ControlPoints

from xcal.core.calibration.picks import PickSet
from xcal.core.errors import PickError

HEADER = "# set of control point used by pyFAI\n#angles are in radians\nwavelength: 1e-10\ndspacing: 4.15 2.93 2.4\n"
GROUP = "\nNew group of points: {index}\n2theta: 0.024\nring: {ring}\npoint: x={x} y={y}\npoint: x=12.5 y=40.25\n"


def _npt(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rings.npt"
    path.write_text(text)
    return path


def test_pyfai_and_xcal_files_read_exactly(tmp_path: Path) -> None:
    cp = ControlPoints(calibrant=get_calibrant("LaB6"), wavelength=1e-10)
    cp.append([[10.5, 20.25], [11.0, 21.0]], ring=0)
    cp.append([[300.125, 7.0]], ring=4)
    path = tmp_path / "pyfai.npt"
    cp.save(str(path))
    picks = PickSet.load_npt(path)
    assert [g.ring for g in picks.groups] == [0, 4]
    assert picks.groups[0].points.tolist() == [[10.5, 20.25], [11.0, 21.0]]
    assert picks.groups[1].points.tolist() == [[300.125, 7.0]]
    picks.save_npt(tmp_path / "again.npt", np.array([4.15, 2.93, 2.4, 2.07, 1.85]), 1e-10)
    again = PickSet.load_npt(tmp_path / "again.npt")
    assert [(g.ring, g.points.tolist()) for g in again.groups] == [(g.ring, g.points.tolist()) for g in picks.groups]


def test_group_without_ring_number_is_left_out(tmp_path: Path) -> None:
    text = HEADER + GROUP.format(index=0, ring="None", x=1, y=2) + GROUP.format(index=1, ring=2, x=3, y=4)
    picks = PickSet.load_npt(_npt(tmp_path, text))
    assert [g.ring for g in picks.groups] == [2] and picks.groups[0].points[0].tolist() == [4.0, 3.0]


@pytest.mark.parametrize(("ring", "x", "y", "problem"), [
    ("0", "nan", "2", "point"),
    ("0", "1", "inf", "point"),
    ("0", "-inf", "2", "point"),
    ("0", "1e400", "2", "point"),
    ("0", "1_000", "2", "point"),
    ("0", "0x10", "2", "point"),
    ("0", "1e3j", "2", "point"),
    ("0", "3e12", "2", "point"),
    ("0", "1", "", "point"),
    ("-1", "1", "2", "ring"),
    ("1000000000000", "1", "2", "ring"),
    ("1.5", "1", "2", "ring"),
    ("two", "1", "2", "ring"),
])
def test_damaged_points_and_rings_are_refused(tmp_path: Path, ring: str, x: str, y: str, problem: str) -> None:
    text = HEADER + GROUP.format(index=0, ring=0, x=5, y=6) + GROUP.format(index=1, ring=ring, x=x, y=y)
    with pytest.raises(PickError, match=rf"rings\.npt, line 1[45]: .*{problem}"):
        PickSet.load_npt(_npt(tmp_path, text))


@pytest.mark.parametrize("damage", [
    "dspacing: abc 2.93\n",  # raised a raw TypeError from pyFAI
    "dspacing: nan\n",
    "calibrant:\n",  # raised a raw IndexError from pyFAI
    "wavelength: -1e-10\n",
    "wavelength: 1e300\n",
    "2theta: ?\n",
    "point x=1 y=2\n",
    "colour: red\n",
    "point: x=1 y=2 z=3\n",
])
def test_damaged_lines_are_refused(tmp_path: Path, damage: str) -> None:
    text = HEADER + GROUP.format(index=0, ring=0, x=5, y=6) + damage
    with pytest.raises(PickError, match=r"rings\.npt, line 11: "):
        PickSet.load_npt(_npt(tmp_path, text))


def test_binary_and_empty_files(tmp_path: Path) -> None:
    path = tmp_path / "rings.npt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    with pytest.raises(PickError, match=r"rings\.npt: .*not a text file"):
        PickSet.load_npt(path)
    path.write_text(HEADER)
    with pytest.raises(PickError, match=r"rings\.npt holds no control points"):
        PickSet.load_npt(path)


@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028"])
def test_only_newlines_end_lines(tmp_path: Path, separator: str) -> None:
    """Python's splitlines also breaks at these; pyFAI does not: a damaged newline is not a line end."""
    text = HEADER + GROUP.format(index=0, ring=0, x=5, y=6).replace("\npoint: x=12.5", separator + "point: x=12.5")
    with pytest.raises(PickError, match=r"rings\.npt, line 9: the point"):
        PickSet.load_npt(_npt(tmp_path, text))
