"""Fuzzing the readers: damaged copies of small valid files of every format xcal reads.

Each example cuts, overwrites or flips bytes of a good file and reads it in-process. It must
end in xcal's own error naming the file, or in data that is provably the file's content:

* raw pixel formats (TIFF, EDF, NumPy, HDF5, masks): the pixels are the bytes found where the
  good file keeps its pixels, read with its type, in whatever shape the header now states; or,
  when a damaged header moved or retyped them, consecutive numbers of one type from the file's
  bytes (never zeros padded past its end, a row repeated, or memory that is not the file's);
* CBF and Dioptas' deflate masks: the original pixels (the CBF data has an MD5, deflate a
  checksum, so a damaged stream is an error; a mask's rows may flip with a damaged description);
* mar345: the original pixels unless the packed stream itself was hit (any decode of a whole
  stream is the file's content; a cut or ill-formed one must be refused);
* .poni and .npt: every number read is the one written in the damaged text.

No example may hang (an alarm fails it) or crash the process. The settings keep the whole
module to about 10 s; the examples are derandomized, so a run is repeatable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import fabio
import fabio.cbfimage
import fabio.edfimage
import fabio.fabioutils
import fabio.mar345image
import fabio.tifimage
import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry
from test_readers_files import deadline

from xcal.core.calibration.picks import PickSet
from xcal.core.errors import XcalError
from xcal.core.io.images import load_image
from xcal.core.io.poni import poni_text, read_poni
from xcal.core.masks.model import read_mask, write_mask

SHAPE = (16, 20)
FUZZ = settings(max_examples=150, deadline=3000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # PIL's notes on the damaged TIFF tags it skips


@dataclass(frozen=True)
class Damage:
    """Bytes from ``start`` on replaced by ``new`` (``cut``: the file ends at ``start``)."""

    start: int
    new: bytes
    cut: bool

    def apply(self, raw: bytes) -> bytes:
        return raw[:self.start] if self.cut else raw[:self.start] + self.new + raw[self.start + len(self.new):]

    def hits(self, first: int, end: int) -> bool:
        """Whether the damage touches bytes first..end-1 of the good file."""
        return self.start < end and (self.cut or self.start + len(self.new) > first)


@st.composite
def damages(draw: st.DrawFn, raw: bytes) -> Damage:
    """A cut, a flipped bit or a few overwritten bytes; half of them in the first kilobyte, where headers are."""
    start = draw(st.integers(0, min(len(raw), 1024) - 1) | st.integers(0, len(raw) - 1))
    kind = draw(st.sampled_from(["cut", "bit", "bytes"]))
    if kind == "cut":
        return Damage(start, b"", True)
    if kind == "bit":
        return Damage(start, bytes([raw[start] ^ 1 << draw(st.integers(0, 7))]), False)
    return Damage(start, draw(st.binary(min_size=1, max_size=4)), False)


# --- the good files ------------------------------------------------------------------------------------


def _pixels(dtype: str = "int32") -> np.ndarray:
    return np.random.default_rng(7).integers(1, 3000, SHAPE).astype(dtype)


@dataclass
class Good:
    path: Path
    raw: bytes = field(repr=False)
    pixels: np.ndarray = field(repr=False)  # as written (a mask: the boolean mask)
    read: Callable[[Path], np.ndarray] = field(repr=False)


def _image(path: Path) -> np.ndarray:
    return load_image(path).data


def _mask(path: Path) -> np.ndarray:
    return read_mask(path)


def _good(folder: Path, name: str, write: Callable[[Path, np.ndarray], None], pixels: np.ndarray,
          read: Callable[[Path], np.ndarray] = _image) -> Good:
    path = folder / name
    write(path, pixels)
    return Good(path, path.read_bytes(), pixels, read)


def _mar345(path: Path, data: np.ndarray) -> None:
    image = fabio.mar345image.Mar345Image(data=data)
    image.byteorder = fabio.fabioutils.ENDIANNESS.LITTLE  # fabio's writer fails on its default ("|")
    image.write(str(path))


def _dioptas_mask(path: Path, mask: np.ndarray) -> None:
    """As Dioptas saves a mask: PIL, deflate, int8, in its up-down flipped rows."""
    PILImage.fromarray(mask[::-1].astype(np.int8)).save(path, "tiff", compression="tiff_deflate")


def _h5(path: Path, data: np.ndarray) -> None:
    with h5py.File(path, "w") as h5:
        h5.create_dataset("entry/data", data=data)


@pytest.fixture(scope="module")
def goods(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Good]:
    folder = tmp_path_factory.mktemp("good")
    mar = _pixels("uint32")
    mar[3, 4] = 100_000  # one overflow record
    mask = _pixels() % 3 == 0
    return {
        "tif": _good(folder, "frame.tif", lambda p, d: fabio.tifimage.TifImage(data=d).write(str(p)), _pixels()),
        "edf": _good(folder, "frame.edf", lambda p, d: fabio.edfimage.EdfImage(data=d).write(str(p)), _pixels()),
        "cbf": _good(folder, "frame.cbf", lambda p, d: fabio.cbfimage.CbfImage(data=d).write(str(p)), _pixels()),
        "mar345": _good(folder, "frame.mar2300", _mar345, mar),
        "npy": _good(folder, "frame.npy", lambda p, d: np.save(p, d), _pixels()),
        "h5": _good(folder, "frame.h5", _h5, _pixels()),
        "mask": _good(folder, "beamstop.mask", write_mask, mask, _mask),
        "edf mask": _good(folder, "beamstop.edf", write_mask, mask, _mask),
        "npy mask": _good(folder, "beamstop.npy", write_mask, mask, _mask),
        "deflate mask": _good(folder, "dioptas.mask", _dioptas_mask, mask, _mask),
    }


# --- what a damaged file may read as -------------------------------------------------------------------

RAW = ("tif", "edf", "npy", "h5", "mask", "edf mask", "npy mask")


def _stored(good: Good) -> np.ndarray:
    """The pixels as the good file stores them (a mask as 0/1 bytes; a .mask in Dioptas' flipped rows)."""
    if good.path.suffix == ".npy":
        return np.load(good.path)
    return fabio.open(str(good.path)).data if good.read is _mask else good.pixels


_NUMBER_TYPES = [np.dtype(f"{order}{code}") for code in ("i1", "u1", "i2", "u2", "i4", "u4", "i8", "f4", "f8")
                 for order in "<>"]


def _is_run_of(damaged: bytes, values: np.ndarray, compare: Callable[[np.ndarray], bool]) -> bool:
    """Whether ``values`` are consecutive numbers of one fixed-size type somewhere in ``damaged``."""
    for dtype in _NUMBER_TYPES:
        for offset in range(len(damaged) - values.size * dtype.itemsize + 1):
            if compare(np.frombuffer(damaged, dtype, count=values.size, offset=offset).reshape(values.shape)):
                return True
    return False


def _assert_raw_content(kind: str, good: Good, damaged: bytes, result: np.ndarray) -> None:
    """The pixels read are the file's bytes: where the good file keeps them, in its type, in the shape
    read; or, when a damaged header moved or retyped them, a run of the file's bytes as some number type.
    Never zeros padded past the end of the file or memory that is not the file's."""
    stored = _stored(good)
    offset = good.raw.find(stored.tobytes())
    assert offset > 0, "the good file keeps its pixels in one block"
    if good.read is _mask:
        flips = (False, True) if kind == "mask" else (False,)  # a damaged TIFF description may lose the row order
        def same(found: np.ndarray) -> bool:
            return any(np.array_equal(result, (found[::-1] if flip else found) != 0) for flip in flips)
    else:
        def same(found: np.ndarray) -> bool:
            return np.array_equal(result, found.astype(np.float32))
    if offset + result.size * stored.itemsize <= len(damaged):
        if same(np.frombuffer(damaged, stored.dtype, count=result.size, offset=offset).reshape(result.shape)):
            return
    assert _is_run_of(damaged, result, same), "pixels that are not the file's bytes"


def _assert_content(kind: str, good: Good, damage: Damage, damaged: bytes, result: np.ndarray) -> None:
    if kind in RAW:
        _assert_raw_content(kind, good, damaged, result)
    elif kind == "mar345" and damage.hits(4096, len(good.raw)):
        assert result.shape == SHAPE  # overflow records or packed stream hit: still a whole decoded stream
    elif kind == "deflate mask":
        assert np.array_equal(result, good.pixels) or np.array_equal(result, good.pixels[::-1])
    else:  # CBF (its data has an MD5), or a mar345 whose header only was hit
        np.testing.assert_array_equal(result, good.pixels.astype(np.float32))


@pytest.mark.parametrize("kind", ["tif", "edf", "cbf", "mar345", "npy", "h5", "mask", "edf mask", "npy mask",
                                  "deflate mask"])
@FUZZ
@given(data=st.data())
def test_damaged_image_or_mask(goods: dict[str, Good], tmp_path: Path, kind: str, data: st.DataObject) -> None:
    good = goods[kind]
    damage = data.draw(damages(good.raw), label="damage")
    damaged = damage.apply(good.raw)
    path = tmp_path / good.path.name
    path.write_bytes(damaged)
    with deadline(10):
        try:
            result = good.read(path)
        except XcalError as error:
            assert path.name in str(error)
            return
    _assert_content(kind, good, damage, damaged, result)


# --- text files ------------------------------------------------------------------------------------------

GEOMETRY = dict(dist=0.2134567891, poni1=0.0871234567, poni2=0.0791234567, rot1=-0.0184422457,
                rot2=0.0041376008, rot3=-2.776e-08, wavelength=4.066e-11)
PONI_KEYS = {"Distance": "dist", "Poni1": "poni1", "Poni2": "poni2", "Rot1": "rot1", "Rot2": "rot2",
             "Rot3": "rot3", "Wavelength": "wavelength"}


def _lines(text: str) -> str:
    """The text as read in Python's text mode (and by pyFAI): a lone carriage return ends a line too."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _written(text: str, key: str) -> str | None:
    """The value of the last ``key:`` line of a .poni text (keys are case-insensitive, as pyFAI reads them)."""
    values = re.findall(rf"^[ \t]*{key}[ \t]*:(.*)$", _lines(text), re.IGNORECASE | re.MULTILINE)
    return values[-1].strip() if values else None


@FUZZ
@given(data=st.data())
def test_damaged_poni(tmp_path: Path, data: st.DataObject) -> None:
    raw = poni_text(Geometry(detector=detector_factory("Pilatus1M"), **GEOMETRY), ["fuzz"]).encode()
    damaged = data.draw(damages(raw), label="damage").apply(raw)
    path = tmp_path / "geometry.poni"
    path.write_bytes(damaged)
    with deadline(10):
        try:
            geometry = read_poni(path).geometry
        except XcalError as error:
            assert path.name in str(error)
            return
    text = damaged.decode()
    for key, attribute in PONI_KEYS.items():
        written = _written(text, key)  # only the wavelength may be missing
        assert getattr(geometry, attribute) == (None if written is None else float(written)), key
    assert type(geometry.detector) is type(detector_factory(_written(text, "Detector")))


def _written_points(text: str) -> list[tuple[int, float, float]]:
    """(ring, row, col) of every point line of an .npt text, with the ring line of its group."""
    points, ring = [], None
    for line in _lines(text).split("\n"):
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key.startswith("new") and points:
            ring = None
        elif key == "ring":
            ring = int(value)
        elif key == "point":
            x, y = re.fullmatch(r"\s*x=(\S+)\s+y=(\S+)\s*", value).groups()
            points.append((ring, float(y), float(x)))
    return points


@FUZZ
@given(data=st.data())
def test_damaged_npt(tmp_path: Path, data: st.DataObject) -> None:
    picks = PickSet()
    picks.add(0, np.array([[10.5, 20.25], [11.0, 21.125]]))
    picks.add(3, np.array([[300.125, 7.0], [301.5, 8.25]]))
    good = tmp_path / "good.npt"
    picks.save_npt(good, np.array([4.15, 2.93, 2.4, 2.07, 1.85]), 1e-10)
    raw = good.read_bytes()
    damaged = data.draw(damages(raw), label="damage").apply(raw)
    path = tmp_path / "rings.npt"
    path.write_bytes(damaged)
    with deadline(10):
        try:
            read = PickSet.load_npt(path)
        except XcalError as error:
            assert path.name in str(error)
            return
    got = [(group.ring, float(row), float(col)) for group in read.groups for row, col in group.points]
    assert got == _written_points(damaged.decode())
