"""Load detector images from any format fabio reads, and from HDF5/NeXus via h5py.

Every image comes back as a 2D float32 array with its invalid pixels (Pilatus gaps = -1/-2,
NaN, inf) flagged, and every failure as an :class:`ImageError` naming the file and the problem.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from typing import NoReturn
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import fabio
import fabio.fabioformats
from fabio.fabioimage import FabioImage
import h5py
import hdf5plugin  # noqa: F401  (registers the compression filters used by detectors)
import numpy as np

from xcal.core.errors import ImageError

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
    if not os.path.exists(path):
        raise ImageError(f"{path}: file not found.")
    if os.path.isdir(path):
        raise ImageError(f"{path}: this is a folder, not an image file.")
    if os.path.getsize(path) == 0:
        raise ImageError(f"{path}: the file is empty (0 bytes).")


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
        try:
            img = fabio.open(path)
        except Exception as exc:  # fabio raises anything from OSError to AssertionError
            _raise_unreadable(path, collector.messages or [_reason(exc)], exc)
        if img.data is None or collector.messages:
            _raise_unreadable(path, collector.messages or ["no pixel data"])
        with img:
            yield img
        if collector.messages:
            _raise_unreadable(path, collector.messages)
    finally:
        logger.removeHandler(collector)


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
            data = np.ascontiguousarray(picked.data, dtype=np.float32)
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
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise ImageError(f"{path}: cannot open the HDF5 file ({_reason(exc)}).") from exc
    with h5:
        yield h5


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
        except OSError as exc:  # e.g. a compression filter hdf5plugin does not provide, or a truncated file
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
        except (KeyError, OSError):
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
