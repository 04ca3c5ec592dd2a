"""Load detector images from any format fabio reads, and from HDF5/NeXus via h5py.

Every image comes back as a 2D float32 array with its invalid pixels (Pilatus gaps = -1/-2,
NaN, inf) flagged, and every failure as an :class:`ImageError` naming the file and the problem.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import math
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import BinaryIO, NoReturn

import fabio
import fabio.cbfimage
import fabio.edfimage
import fabio.fabioformats
import fabio.mar345image
import fabio.numpyimage
import fabio.openimage
import fabio.tifimage
import h5py
import hdf5plugin  # noqa: F401  (registers the compression filters used by detectors)
import numpy as np
from fabio.fabioimage import FabioImage
from PIL import Image as PILImage

from xcal.core.errors import ImageError
from xcal.core.io.file_checks import file_problem, npy_problem

HDF5_EXTENSIONS = frozenset({"h5", "hdf5", "hdf", "nxs", "nx5", "cxi"})
# fabio claims these extensions too, but they hold headers or arbitrary bytes, not images.
_NOT_IMAGES = frozenset({"xml", "xsd", "bin", "map"})
_COMPRESSED = (".gz", ".bz2")
_NUMERIC = "biuf"  # numpy dtype kinds that can be pixel values


def _fabio_extensions() -> frozenset[str]:
    exts: set[str] = set()
    for cls in fabio.fabioformats.get_all_classes():
        exts.update(e.lower() for e in getattr(cls, "DEFAULT_EXTENSIONS", ()))
    return frozenset(exts - _NOT_IMAGES)


IMAGE_EXTENSIONS = _fabio_extensions() | HDF5_EXTENSIONS


class _DropTiffTagNoise(logging.Filter):
    """fabio warns about a short private tag (65000) in many Pilatus/EPICS TIFFs; it is harmless."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Data at tag id")


logging.getLogger("fabio.TiffIO").addFilter(_DropTiffTagNoise())


@dataclass(eq=False)
class Image:
    """One 2D frame, as loaded: the pixel values are those of the file, only cast to float32.

    ``invalid`` is computed once from ``data``: treat ``data`` as read-only.
    """

    data: np.ndarray = field(repr=False)
    source: str
    frame: int
    nframes: int
    header: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape  # type: ignore[return-value]

    @cached_property
    def invalid(self) -> np.ndarray:
        """Pixels no calculation may use: not finite, or negative (Pilatus gaps -1, dead -2)."""
        with np.errstate(invalid="ignore"):
            return ~np.isfinite(self.data) | (self.data < 0)

    @property
    def name(self) -> str:
        """Short label for titles and messages: file name, dataset, frame when there are several."""
        path, dataset = split_hdf5_source(self.source)
        label = Path(path).name + (f"::{dataset}" if dataset else "")
        return f"{label} [frame {self.frame}]" if self.nframes > 1 else label


def split_hdf5_source(source: str | os.PathLike) -> tuple[str, str | None]:
    """Split ``"file.h5::/entry/data"`` into the file and the dataset path (None if absent)."""
    text = os.fspath(source)
    path, sep, dataset = text.partition("::")
    if not sep:
        return text, None
    dataset = dataset.strip()
    return path, ("/" + dataset.lstrip("/")) if dataset else None


def load_image(source: str | os.PathLike, frame: int = 0) -> Image:
    """Read one frame of an image file (``file.h5::/dataset`` for HDF5) and check it is usable."""
    path, dataset = split_hdf5_source(source)
    _check_file(path)
    if _is_hdf5(path, dataset):
        image = _load_hdf5(path, dataset, frame)
    else:
        image = _load_fabio(path, frame)
    _check_content(image)
    return image


def read_pixels(path: str | os.PathLike) -> np.ndarray:
    """The first frame of a file fabio reads, as stored (type kept): every completeness check of
    :func:`load_image`, none on the values (for masks, where all zeros is a valid file)."""
    path = os.fspath(path)
    _check_file(path)
    with _read_with_fabio(path) as img:
        return np.asarray(img.data)


def frame_count(source: str | os.PathLike) -> int:
    """Number of frames in a file (or HDF5 dataset) without checking the pixel values."""
    path, dataset = split_hdf5_source(source)
    _check_file(path)
    if _is_hdf5(path, dataset):
        with _open_hdf5(path) as h5:
            name, ds = _select_dataset(path, h5, dataset)
            return _frames_of(f"{path}::{name}", ds)
    with _read_with_fabio(path) as img:
        return int(img.nframes)


def hdf5_datasets(path: str | os.PathLike) -> list[tuple[str, tuple[int, ...], str]]:
    """Every dataset of 2 or more dimensions: (path, shape, dtype), to let the user choose."""
    path = split_hdf5_source(path)[0]
    _check_file(path)
    with _open_hdf5(path) as h5:
        return [(name, ds.shape, str(ds.dtype)) for name, ds in _walk_datasets(h5) if ds.ndim >= 2]


def image_files_in_folder(path: str | os.PathLike) -> list[Path]:
    """Image files next to ``path`` (or in it, if a folder), in natural order, for previous/next."""
    folder = Path(split_hdf5_source(path)[0])
    if not folder.is_dir():
        folder = folder.parent
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and _is_image_name(p.name)]
    return sorted(files, key=_natural_key)


# --- checks ------------------------------------------------------------------------------------


def _check_file(path: str) -> None:
    problem = file_problem(path)
    if problem:
        raise ImageError(f"{path}: {problem}.")


def _check_content(image: Image) -> None:
    """Refuse images no calibration can use; NaN/inf pixels alone are fine (they are masked)."""
    data = image.data
    where = image.source + (f" [frame {image.frame}]" if image.nframes > 1 else "")
    if data.ndim != 2:
        raise ImageError(f"{where}: holds a {_dims(data.shape)} array, not a 2D detector image.")
    usable = ~image.invalid
    if np.any(data[usable]):
        return
    finite = np.isfinite(data)
    if not finite.any():
        raise ImageError(f"{where}: no pixel has a finite value (all NaN or infinite).")
    if not np.any(data[finite]):
        raise ImageError(f"{where}: every pixel is zero; the frame is empty (no exposure?).")
    if not usable.any():
        raise ImageError(
            f"{where}: no usable pixel; all {data.size} pixels are negative (gap/bad-pixel markers) or not finite."
        )
    raise ImageError(f"{where}: every pixel outside the negative (gap) markers is zero; the frame is empty.")


def _dims(shape: tuple[int, ...]) -> str:
    return f"{len(shape)}D " + " x ".join(map(str, shape))


# --- fabio -------------------------------------------------------------------------------------


class _FabioErrorCollector(logging.Handler):
    """fabio logs (instead of raising) some read failures, e.g. a truncated EDF it pads with zeros."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


@contextmanager
def _read_with_fabio(path: str) -> Iterator[FabioImage]:
    """Open with fabio, turning any failure (raised, or only logged) into an ImageError."""
    collector = _FabioErrorCollector()
    logger = logging.getLogger("fabio")
    logger.addHandler(collector)
    try:
        with _fabio_errors(path, collector):
            img = _open_fabio(path)
        if img is None:
            _raise_unreadable(path, collector.messages or ["no pixel data"])
        with img:
            with _fabio_errors(path, collector):
                _check_edf_frame(path, img)
                data = img.data
            if data is None or collector.messages:
                _raise_unreadable(path, collector.messages or ["no pixel data"])
            yield img
        if collector.messages:
            _raise_unreadable(path, collector.messages)
    finally:
        logger.removeHandler(collector)


@contextmanager
def _fabio_errors(path: str, collector: _FabioErrorCollector) -> Iterator[None]:
    try:
        yield
    except ImageError:
        raise
    except Exception as exc:  # fabio raises anything from OSError to AssertionError
        _raise_unreadable(path, collector.messages or [_reason(exc)], exc)


def _open_fabio(path: str) -> FabioImage | None:
    """``fabio.open``, with the checks its reader for the format lacks made before it reads.

    ``fabio.open`` chooses the reader (from the magic bytes, else the name) and then reads; the
    two steps are taken apart here so that fabio's CBF reader (which loops forever on a binary
    section without its start marker), TIFF reader (which follows a looping directory chain
    forever), mar345 decoder (which writes past its array on a damaged stream) and NumPy reader
    (which allocates whatever a damaged header states) only get files whose structure was
    checked. None: fabio has no pixels for it.
    """
    img = fabio.openimage._openimage(path)
    if isinstance(img, fabio.cbfimage.CbfImage):
        _check_cbf(path)
    elif isinstance(img, fabio.mar345image.Mar345Image):
        _check_mar345(path)
    elif isinstance(img, fabio.tifimage.TifImage):
        _check_tiff(path)
    elif isinstance(img, fabio.numpyimage.NumpyImage):
        with _content(path) as handle:
            problem = npy_problem(handle)
        if problem:
            _damaged(path, problem)
    return img.read(img.filename)


def _raise_unreadable(path: str, messages: list[str], cause: Exception | None = None) -> NoReturn:
    """The first message is the root cause; fabio's later ones only say that it gave up."""
    raise ImageError(f"{path}: cannot be read as an image ({messages[0]}); {_CORRUPT_HINT}") from cause


_CORRUPT_HINT = "the file may be truncated, corrupt, or in a format fabio does not know"


def _load_fabio(path: str, frame: int) -> Image:
    with _read_with_fabio(path) as img:
        nframes = int(img.nframes)
        _check_frame(path, frame, nframes)
        try:
            picked = img if frame == 0 else img.get_frame(frame)
            _check_edf_frame(path, picked, f"{path} [frame {frame}]")
            data = np.ascontiguousarray(picked.data, dtype=np.float32)
        except ImageError:
            raise
        except Exception as exc:
            raise ImageError(f"{path}: frame {frame} cannot be read ({_reason(exc)}); {_CORRUPT_HINT}") from exc
        header = {str(k): str(v) for k, v in (picked.header or {}).items()}
    return Image(data=data, source=path, frame=frame, nframes=nframes, header=header)


def _reason(exc: Exception) -> str:
    return str(exc).strip() or type(exc).__name__


def _check_frame(source: str, frame: int, nframes: int) -> None:
    if not 0 <= frame < nframes:
        which = "1 frame (frame 0)" if nframes == 1 else f"{nframes} frames (0 to {nframes - 1})"
        raise ImageError(f"{source}: frame {frame} does not exist; the file has {which}.")


# --- what fabio's readers do not check -----------------------------------------------------------
# Truncating a file fabio wrote, at every byte, found these formats read without an error (fabio
# pads the pixels, or only logs the problem): EDF, CBF and mar345. TIFF (and MarCCD), d*TREK/ADSC,
# Bruker, OXD, PNM, NumPy, Esperanto and SPE raise, as do the real files of the data folder.
# Fuzzing (tests/test_reader_fuzz.py) found the rest checked here: hangs (CBF, TIFF), pixels that
# are not the file's (a TIFF row repeated, uncovered rows or a failed decode read as zeros, a
# guessed EDF type, a mar345 overflow record lost) and NumPy headers that do not describe the file.

_CBF_SECTION = b"--CIF-BINARY-FORMAT-SECTION--"
_CBF_START = b"\x0c\x1a\x04\xd5"  # the 4 bytes before the binary data
_CBF_HEAD = 1 << 16  # the binary section's header lies well within the first 64 KiB of a real file
_MAR345_HEADER = 4096  # bytes before the overflow-pixel records (64 bytes each), which the image follows
_MAR345_KEYS = (b"CCP4 packed image V2, X: ", b"CCP4 packed image, X: ")  # fabio's search order
_PCK_BITS = (0, 4, 5, 6, 7, 8, 16, 32)  # bits per value, by the 3 high bits of a block header
_PCK_COUNT = [1 << (code & 7) for code in range(64)]  # values in a block, by its 6-bit header
_PCK_LENGTH = [6 + _PCK_COUNT[code] * _PCK_BITS[code >> 3] for code in range(64)]  # block bits


@contextmanager
def _content(path: str) -> Iterator[BinaryIO]:
    """The file's bytes as fabio sees them: decompressed when the name ends in .gz or .bz2, as fabio does."""
    openers = {".gz": gzip.open, ".bz2": bz2.open}
    with openers.get(os.path.splitext(path)[1], open)(path, "rb") as handle:
        yield handle


def _damaged(path: str, problem: str) -> NoReturn:
    raise ImageError(f"{path}: cannot be read as an image ({problem}); {_CORRUPT_HINT}")


def _check_cbf(path: str) -> None:
    """The binary section starts, holds the bytes its header declares, and agrees on the pixel count.

    fabio reads on forever when the start marker is missing, and decodes a short section without a word.
    """
    with _content(path) as handle:
        head = handle.read(_CBF_HEAD)
        section = head.find(_CBF_SECTION)
        start = head.find(_CBF_START, section) if section >= 0 else -1
        if start < 0:  # a header of over 64 KiB, or damage: the whole file is searched
            head = head + handle.read()
            section = head.find(_CBF_SECTION)
            if section < 0:
                return  # no binary section: fabio's CIF parser finds none and says so
            start = head.find(_CBF_START, section)
            if start < 0:
                _damaged(path, "the CBF binary section has no start-of-data marker")
        total = handle.seek(0, os.SEEK_END)
    fields = {}
    for line in head[section:start].splitlines()[1:]:
        key, sep, value = line.partition(b":")
        if sep:
            fields[key.strip().decode("latin-1")] = value.strip(b' "').decode("latin-1")
    try:
        size = int(fields["X-Binary-Size"])
        pixels = int(fields["X-Binary-Size-Fastest-Dimension"]) * int(fields["X-Binary-Size-Second-Dimension"])
    except (KeyError, ValueError):
        _damaged(path, "the CBF binary header lacks a valid X-Binary-Size or image dimensions")
    present = total - start - len(_CBF_START)
    if present < size:
        _damaged(path, f"truncated: {present} of the {size} bytes of CBF binary data are in the file")
    elements = fields.get("X-Binary-Number-of-Elements", str(pixels))
    if elements != str(pixels):
        _damaged(path, f"the CBF header declares {elements} elements but {pixels} pixels")


def _check_mar345(path: str) -> None:
    """The header, the overflow records and the packed image agree, and the image is all in the file.

    fabio decodes the packed stream without bounds checks: a short or damaged stream gives pixels
    that are not the file's (zeros, or whatever follows in memory) or corrupts the process's memory.
    So the stream's blocks are walked first (6-bit headers only, about 15 ms for 1.4 Mpx).
    """
    with _content(path) as handle:
        raw = handle.read()
    if len(raw) < 64:
        _damaged(path, "shorter than the 64-byte mar345 header")
    order = "<" if struct.unpack("<i", raw[:4])[0] == 1234 else ">"
    if struct.unpack(f"{order}i", raw[:4])[0] != 1234:
        _damaged(path, "no mar345 byte-order mark (1234) at the start")
    dim1, high, _, _, pixels = struct.unpack(f"{order}5i", raw[4:24])
    key = next((key for key in _MAR345_KEYS if key in raw), None)
    if key is None:
        _damaged(path, "no packed mar345 image in the file")
    at = raw.index(key) + len(key)
    try:  # "1200, Y: 1200", the numbers as fabio reads them
        columns, rows = int(raw[at:at + 4]), int(raw[at + 9:at + 13])
    except ValueError:
        _damaged(path, "the size of the packed mar345 image is unreadable")
    if not (columns > 0 and rows > 0 and columns == dim1 and pixels == columns * rows):
        _damaged(path, f"the packed image is {columns} x {rows} pixels but the header says "
                 f"{dim1} columns and {pixels} pixels")
    if high < 0:
        _damaged(path, f"the header's count of overflow pixels is negative ({high})")
    records = (high + 7) // 8
    if raw.index(key) - 1 - 64 * records != _MAR345_HEADER:
        _damaged(path, f"the header's {high} overflow pixels do not fill the space between header and image")
    decoded, complete = _pck_walk(raw[at + 13:].lstrip(), columns * rows)
    if decoded != columns * rows or not complete:
        _damaged(path, f"the packed image holds {decoded} of its {columns * rows} pixels"
                 + ("" if complete else ", its last block cut off"))


def _pck_walk(stream: bytes, pixels: int) -> tuple[int, bool]:
    """Walk the blocks of a CCP4 PCK stream: (values they hold, whether the last block is whole).

    Stops at the first block that reaches ``pixels``, or at the end of the stream.
    """
    end = 8 * len(stream)
    padded = stream + b"\0"
    bit = count = 0
    while count < pixels and bit + 6 <= end:
        byte = bit >> 3
        code = ((padded[byte] | padded[byte + 1] << 8) >> (bit & 7)) & 63
        bit += _PCK_LENGTH[code]
        count += _PCK_COUNT[code]
    return count, bit <= end


def _check_tiff(path: str) -> None:
    """The chain of image directories ends inside the file, and each image's strips hold the image.

    fabio's TIFF reader follows a chain that a damaged "next directory" offset loops back on
    forever; see ``_check_tiff_strips`` for the strips.
    """
    with _content(path) as handle:
        head = handle.read(8)
        order = {b"II": "<", b"MM": ">"}.get(head[:2])
        if order is None or len(head) < 8 or struct.unpack(f"{order}H", head[2:4])[0] != 42:
            return  # not a classic TIFF: fabio's TIFF reader refuses it, or reads it with PIL
        size = handle.seek(0, os.SEEK_END)
        offset, seen, compressed = struct.unpack(f"{order}I", head[4:8])[0], set(), False
        while offset:
            if offset in seen:
                _damaged(path, "its chain of TIFF image directories loops")
            seen.add(offset)
            handle.seek(offset)
            count = handle.read(2)
            table = handle.read(12 * struct.unpack(f"{order}H", count)[0] + 4) if len(count) == 2 else b""
            if len(table) < 4 or len(table) % 12 != 4:
                _damaged(path, "a TIFF image directory runs past the end of the file")
            compressed |= _check_tiff_strips(path, handle, order, size, table[:-4])
            offset = struct.unpack(f"{order}I", table[-4:])[0]
        if compressed:
            _check_tiff_decodes(path, handle)


def _check_tiff_decodes(path: str, handle: BinaryIO) -> None:
    """PIL decodes the compressed image without error.

    fabio reads compressed TIFFs (Dioptas' deflate masks) through PIL, but on PIL's decoder error
    it falls back to the image's bytes, which are then zeros: a damaged mask read as empty.
    """
    handle.seek(0)
    try:
        with PILImage.open(handle) as image:
            image.load()
    except Exception as exc:  # PIL raises OSError, ValueError, SyntaxError, DecompressionBombError...
        _damaged(path, f"its compressed TIFF data cannot be decoded ({_reason(exc)})")


def _check_tiff_strips(path: str, handle: BinaryIO, order: str, size: int, table: bytes) -> bool:
    """The strips cover every row and hold every pixel (uncompressed: inside the file; deflate:
    once inflated); True if compressed, to be decoded in full (see ``_check_tiff_decodes``).

    A short strip of exactly one row, fabio's TIFF reader repeats over the whole image (numpy
    broadcasting); rows that no strip covers, PIL leaves at zero. Tiled images are left to PIL.
    """
    tags = {}
    for at in range(0, len(table), 12):
        tag, kind, count, value = struct.unpack(f"{order}HHI4s", table[at:at + 12])
        if tag in _TIFF_TAGS and kind in _TIFF_TYPES:
            tags[tag] = _tiff_values(path, handle, order, size, _TIFF_TYPES[kind], count, value)
    width, length = tags.get(256, (0,))[0], tags.get(257, (0,))[0]
    offsets = tags.get(273, ())
    compression = tags.get(259, (1,))[0]
    if not (width and length and offsets) or 322 in tags:
        return compression != 1  # no strip image: fabio and PIL refuse it or read tiles
    rows = min(tags.get(278, (length,))[0], length) or length
    if len(offsets) * rows < length:
        _damaged(path, f"its TIFF strips hold {len(offsets) * rows} of the image's {length} rows")
    bits = sum(tags[258]) if 258 in tags else tags.get(277, (1,))[0]  # per pixel; by default 1 per sample
    row_bytes = -(-width * bits // 8)
    counts = tags.get(279, ())
    for strip, first in enumerate(offsets[:-(-length // rows)]):
        needed = min(rows, length - strip * rows) * row_bytes
        if compression in _TIFF_DEFLATE and strip < len(counts):
            _check_deflate_strip(path, handle, strip, first, counts[strip], needed)
        elif compression == 1 and (first + needed > size or (strip < len(counts) and counts[strip] < needed)):
            _damaged(path, f"TIFF strip {strip} holds less than its {needed} bytes of pixels")
    return compression != 1


def _check_deflate_strip(path: str, handle: BinaryIO, strip: int, first: int, count: int, needed: int) -> None:
    """The strip inflates, checksum verified, to its size: libtiff stops inflating once it has the
    bytes it wants, so a damaged stream reads as other pixels without an error."""
    handle.seek(first)
    try:
        pixels = zlib.decompress(handle.read(count))
    except zlib.error as exc:
        _damaged(path, f"TIFF strip {strip} is damaged ({exc})")
    if len(pixels) != needed:
        _damaged(path, f"TIFF strip {strip} holds {len(pixels)} of its {needed} bytes of pixels")


_TIFF_TAGS = frozenset({256, 257, 258, 259, 273, 277, 278, 279, 322})  # size, bits, compression, strips, tiles
_TIFF_TYPES = {3: "H", 4: "I"}  # SHORT and LONG, the types of those tags
_TIFF_DEFLATE = (8, 32946)  # Adobe's and the old code of deflate compression


def _tiff_values(path: str, handle: BinaryIO, order: str, size: int, code: str, count: int, value: bytes) -> tuple:
    """The numbers of one tag: in the entry if they fit in its 4 bytes, else at the offset it holds."""
    length = count * struct.calcsize(code)
    if length <= 4:
        return struct.unpack(f"{order}{count}{code}", value[:length])
    where = struct.unpack(f"{order}I", value)[0]
    if where + length > size:
        _damaged(path, "a TIFF tag's values lie past the end of the file")
    handle.seek(where)
    return struct.unpack(f"{order}{count}{code}", handle.read(length))


def _check_edf_frame(path: str, frame: FabioImage | fabio.edfimage.EdfFrame, label: str | None = None) -> None:
    """The frame's data is all in the file and its block holds every pixel the header declares.

    fabio pads a short EDF frame with zeros and only logs it, which a program that silences
    fabio's logger never sees. Compressed blocks are left to fabio (their size says nothing).
    """
    if not isinstance(frame, (fabio.edfimage.EdfImage, fabio.edfimage.EdfFrame)):
        return
    where = label or path
    if frame.incomplete_data:
        _damaged(where, "truncated: the frame's data goes past the end of the file")
    header = {str(key).lower(): str(value) for key, value in frame.header.items()}
    if "datatype" not in header:
        _damaged(where, "its header has no DataType (fabio would guess 16-bit pixels)")
    if not header.get("compression", "none").upper().startswith("NO"):
        return
    needed = math.prod(frame.shape) * frame.dtype.itemsize
    if "edf_binaryfilename" in header:
        _check_edf_external(path, where, header, needed)
        return
    declared = header.get("size", header.get("edf_binarysize"))
    try:
        blob = int(float(declared)) if declared is not None else needed
    except ValueError:
        return  # fabio then computes the block size from the image size
    if blob < needed:
        _damaged(where, f"its header gives {blob} bytes for {needed} bytes of pixels")


def _check_edf_external(path: str, where: str, header: dict[str, str], needed: int) -> None:
    """A frame whose data is in another file (EDF_BinaryFileName, next to the EDF file, as fabio reads it)."""
    name = os.path.join(os.path.dirname(path), os.path.basename(header["edf_binaryfilename"]))
    problem = file_problem(name)
    if problem:
        raise ImageError(f"{where}: its data file {name} {problem}.")
    first = int(header.get("edf_binaryfileposition", "0"))
    if os.path.getsize(name) < first + needed:
        _damaged(where, f"its data file {name} is shorter than the {needed} bytes of pixels it should hold")


# --- HDF5 --------------------------------------------------------------------------------------


def _is_hdf5(path: str, dataset: str | None) -> bool:
    """Decide by content, not extension; a ``::dataset`` or HDF5 extension on a non-HDF5 file is an error."""
    if h5py.is_hdf5(path):
        return True
    if dataset is not None or Path(path).suffix.lower().lstrip(".") in HDF5_EXTENSIONS:
        raise ImageError(f"{path}: not a valid HDF5 file (truncated or corrupt?), so no dataset can be read from it.")
    return False


@contextmanager
def _open_hdf5(path: str) -> Iterator[h5py.File]:
    """Open read-only; h5py's errors on a damaged file (OSError, RuntimeError, KeyError...) become ImageErrors."""
    try:
        h5 = h5py.File(path, "r")
    except Exception as exc:
        raise ImageError(f"{path}: cannot open the HDF5 file ({_reason(exc)}).") from exc
    with h5:
        try:
            yield h5
        except ImageError:
            raise
        except Exception as exc:  # a damaged symbol table, heap or attribute, found while reading it
            raise ImageError(f"{path}: the HDF5 file is damaged ({_reason(exc)}).") from exc


def _load_hdf5(path: str, dataset: str | None, frame: int) -> Image:
    with _open_hdf5(path) as h5:
        name, ds = _select_dataset(path, h5, dataset)
        source = f"{path}::{name}"
        nframes = _frames_of(source, ds)
        _check_frame(source, frame, nframes)
        if ds.dtype.kind not in _NUMERIC:
            raise ImageError(f"{source}: the dataset holds {ds.dtype} values, not pixel intensities.")
        try:
            raw = ds[frame] if ds.ndim == 3 else ds[()]
        except Exception as exc:  # e.g. a compression filter hdf5plugin does not provide, or a truncated file
            raise ImageError(f"{source}: the data cannot be read ({_reason(exc)}).") from exc
        header = {str(k): _attr_text(v) for k, v in ds.attrs.items()}
    data = np.ascontiguousarray(raw, dtype=np.float32)
    return Image(data=data, source=source, frame=frame, nframes=nframes, header=header)


def _frames_of(source: str, ds: h5py.Dataset) -> int:
    if ds.ndim == 2:
        return 1
    if ds.ndim == 3:
        return int(ds.shape[0])
    raise ImageError(f"{source}: the dataset is {_dims(ds.shape)}; expected a 2D image or a 3D stack of images.")


def _select_dataset(path: str, h5: h5py.File, dataset: str | None) -> tuple[str, h5py.Dataset]:
    """The dataset asked for, or (bare file) the NeXus default signal, else the largest image."""
    if dataset is not None:
        obj = h5.get(dataset)
        if isinstance(obj, h5py.Dataset):
            return dataset, obj
        listing = ", ".join(f"{name} ({' x '.join(map(str, ds.shape))})" for name, ds in _image_datasets(h5))
        problem = "is a group, not a dataset" if isinstance(obj, h5py.Group) else "does not exist"
        raise ImageError(f"{path}: {dataset} {problem}. Image datasets in this file: {listing or 'none'}.")
    images = _image_datasets(h5)
    if not images:
        raise ImageError(f"{path}: the HDF5 file holds no 2D image or 3D image stack.")
    return _nexus_signal(h5, images) or max(images, key=lambda item: _frame_size(item[1]))


def _image_datasets(h5: h5py.File) -> list[tuple[str, h5py.Dataset]]:
    return [(name, ds) for name, ds in _walk_datasets(h5) if ds.ndim in (2, 3) and ds.dtype.kind in _NUMERIC]


def _frame_size(ds: h5py.Dataset) -> tuple[int, int]:
    return ds.shape[-2] * ds.shape[-1], ds.size


def _nexus_signal(h5: h5py.File, images: list[tuple[str, h5py.Dataset]]) -> tuple[str, h5py.Dataset] | None:
    """Follow NeXus ``default`` attributes to an NXdata ``signal``; else a dataset flagged ``signal=1`` (NeXus 1)."""
    path, group = "", h5
    for _ in range(8):  # entry -> NXdata; the bound guards against cyclic attributes
        key = _attr_text(group.attrs.get("default", ""))
        nxt = group.get(key) if key else None
        if not isinstance(nxt, h5py.Group):
            break
        path, group = f"{path}/{key}", nxt
    key = _attr_text(group.attrs.get("signal", ""))
    signal = group.get(key) if key else None
    if isinstance(signal, h5py.Dataset) and signal.ndim in (2, 3):
        return f"{path}/{key}", signal
    flagged = [(name, ds) for name, ds in images if _attr_text(ds.attrs.get("signal", "")) == "1"]
    return max(flagged, key=lambda item: _frame_size(item[1])) if flagged else None


def _walk_datasets(group: h5py.Group, prefix: str = "", seen: set | None = None) -> Iterator[tuple[str, h5py.Dataset]]:
    """Every dataset path in path order, following soft and external links; dangling links are skipped.

    A dataset reachable by several paths (NeXus links) is listed under each; groups are entered
    once only, so links to a parent cannot loop.
    """
    seen = {group.id} if seen is None else seen
    for key in sorted(group):
        try:
            obj = group[key]
        except Exception:  # a dangling link, or a damaged object header: not an image to offer
            continue
        if isinstance(obj, h5py.Dataset):
            yield f"{prefix}/{key}", obj
        elif isinstance(obj, h5py.Group) and obj.id not in seen:
            seen.add(obj.id)
            yield from _walk_datasets(obj, f"{prefix}/{key}", seen)


def _attr_text(value: object) -> str:
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


# --- folder listing ----------------------------------------------------------------------------


def _is_image_name(name: str) -> bool:
    lower = name.lower()
    for suffix in _COMPRESSED:
        lower = lower.removesuffix(suffix)
    return lower.rpartition(".")[2] in IMAGE_EXTENSIONS if "." in lower else False


def _natural_key(path: Path) -> list[int | str]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]
