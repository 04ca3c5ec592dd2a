"""Masks: the user's mask with its undo history, and mask files (True / 1 = excluded, as pyFAI and Fit2D).

The :class:`MaskModel` holds a boolean array in the working frame (see ``session``); every
operation is one method that records one undo step. Shapes are rasterised by
:mod:`.mask_shapes`, in pyFAI pixel indices (pixel i's centre at i).

Files: ``.mask`` is a TIFF of 0/1 bytes in Dioptas' rows (up-down flipped, see ``dioptas_files``),
``.edf`` the pyFAI/Fit2D convention (1 = masked), ``.npy`` a NumPy array; any image format fabio
reads is accepted on reading. Masks get an image file's completeness checks, not its checks on
the values: an all-zero mask is valid.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import fabio
import numpy as np
from pyFAI.geometry import Geometry
from scipy import ndimage

from ..errors import ImageError, XcalError
from ..geometry.transforms import ImageTransform
from ..io.atomic import atomic_path, atomic_writer
from ..io.dioptas_files import image_rows, tiff_mask
from ..io.file_checks import file_problem, npy_problem
from ..io.images import read_pixels
from . import shapes as mask_shapes
from .shapes import AngleMaps, Region

MASK_SUFFIXES = (".mask", ".edf", ".npy")  # what write_mask writes; .tif/.tiff too, in the image's rows
MAX_UNDO = 100


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask from .npy, or any image format fabio reads (.edf, .tif, .mask); non-zero = masked.

    A mask file gets the checks an image file gets (a truncated or damaged file is refused, never
    padded), not those on the values beyond being numbers: an all-zero mask is valid.

    :raises ImageError: unreadable or damaged file, not 2D or not numbers, or (with ``shape``) a
        shape that does not fit, naming both shapes.
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise ImageError(f"Mask {name}: no such file ({path}).")
    problem = file_problem(path)
    if problem:
        raise ImageError(f"Mask {name}: {problem} ({path}).")
    try:
        data = _read_npy(path) if path.suffix.lower() == ".npy" else read_pixels(path)
    except ImageError as error:
        raise ImageError(f"Mask {error}") from None
    if data.ndim != 2:
        raise ImageError(f"Mask {name}: expected a 2D array, found {data.ndim} dimensions.")
    if data.dtype.kind not in "biuf":  # text or bytes: "non-zero" would mask every pixel
        raise ImageError(f"Mask {name}: holds {data.dtype} values, not numbers (0 = kept, 1 = masked).")
    if shape is not None and tuple(data.shape) != tuple(shape):
        raise ImageError(
            f"Mask {name} is {data.shape[0]} x {data.shape[1]} pixels but the image is {shape[0]} x {shape[1]}."
        )
    data = image_rows(path, data)  # a Dioptas .mask holds the rows up-down flipped
    return np.asarray(data != 0)


def _read_npy(path: Path) -> np.ndarray:
    """A NumPy file whose header describes it (see ``npy_problem``); nothing is ever unpickled."""
    with open(path, "rb") as handle:
        problem = npy_problem(handle)
    if problem:
        raise ImageError(f"{path}: cannot be read as a NumPy array ({problem}); the file may be truncated or corrupt.")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as error:  # numpy raises ValueError, OSError, EOFError, SyntaxError... on a damaged file
        raise ImageError(f"{path}: cannot be read as a NumPy array ({error}); the file may be truncated "
                         "or corrupt.") from None


def write_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write ``mask`` as 0/1 bytes, the format chosen by the suffix (see ``MASK_SUFFIXES``), atomically.

    :raises XcalError: an unknown suffix, or a file that cannot be written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    data = np.ascontiguousarray(mask, dtype=np.int8)  # int8 as Dioptas: 1 = masked
    try:
        if suffix == ".npy":
            with atomic_writer(path, "wb") as handle:
                np.save(handle, data)
        elif suffix in (".mask", ".tif", ".tiff"):
            with atomic_path(path) as tmp:
                tiff_mask(path, data).write(str(tmp))
        elif suffix == ".edf":
            with atomic_path(path) as tmp:
                fabio.edfimage.EdfImage(data=data).write(str(tmp))
        else:
            raise XcalError(f"Mask {path.name}: unknown format {suffix or '(no suffix)'}; use .mask, .edf or .npy.")
    except OSError as exc:
        raise XcalError(f"Mask {path.name} cannot be written: {exc.strerror or exc}.") from None


@dataclass(frozen=True)
class _Step:
    """What an operation replaced: the block of pixels it changed, bit-packed."""

    label: str
    row0: int
    col0: int
    shape: tuple[int, int]
    packed: np.ndarray

    @classmethod
    def of(cls, label: str, row0: int, col0: int, block: np.ndarray) -> _Step:
        return cls(label, row0, col0, block.shape, np.packbits(block))

    def block(self) -> np.ndarray:
        return np.unpackbits(self.packed, count=self.shape[0] * self.shape[1]).reshape(self.shape).astype(bool)


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


class MaskModel:
    """The user's mask (True = excluded) and its undo/redo history.

    Operations never change the array in place: each one publishes a new read-only array, so a
    worker thread that took ``array`` sees a whole mask, never a half-drawn shape. Each returns
    the number of pixels it changed; an operation that changes nothing records no step.
    ``value`` False unmasks the shape instead of masking it.
    """

    def __init__(self, shape: tuple[int, int], max_undo: int = MAX_UNDO) -> None:
        self._array = _frozen(np.zeros(tuple(int(n) for n in shape), bool))
        self._undo: deque[_Step] = deque(maxlen=max_undo)
        self._redo: list[_Step] = []
        self._count: int | None = 0
        self._angles = AngleMaps()

    # -- state -------------------------------------------------------------------------------------
    @property
    def array(self) -> np.ndarray:
        return self._array

    @property
    def shape(self) -> tuple[int, int]:
        return self._array.shape  # type: ignore[return-value]

    @property
    def count(self) -> int:
        if self._count is None:
            self._count = int(np.count_nonzero(self._array))
        return self._count

    @property
    def fraction(self) -> float:
        return self.count / self._array.size if self._array.size else 0.0

    @property
    def undo_label(self) -> str | None:
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        return self._redo[-1].label if self._redo else None

    # -- shapes ------------------------------------------------------------------------------------
    def rectangle(self, row0: float, col0: float, row1: float, col1: float, value: bool = True) -> int:
        return self._paint("rectangle", mask_shapes.rectangle(self.shape, row0, col0, row1, col1), value)

    def circle(self, row: float, col: float, radius: float, value: bool = True) -> int:
        return self._paint("circle", mask_shapes.circle(self.shape, row, col, radius), value)

    def ellipse(self, row: float, col: float, radius_row: float, radius_col: float, angle_deg: float = 0.0,
                value: bool = True) -> int:
        region = mask_shapes.ellipse(self.shape, row, col, radius_row, radius_col, angle_deg)
        return self._paint("ellipse", region, value)

    def polygon(self, vertices: np.ndarray | Sequence[tuple[float, float]], value: bool = True) -> int:
        """``vertices``: (row, col) pairs, at least three."""
        return self._paint("polygon", mask_shapes.polygon(self.shape, np.asarray(vertices, float)), value)

    def point(self, row: float, col: float, radius: float = 0.0, value: bool = True) -> int:
        return self._paint("point", mask_shapes.point(self.shape, row, col, radius), value)

    def annulus(self, row: float, col: float, r_inner: float, r_outer: float,
                angles_deg: tuple[float, float] | None = None, value: bool = True) -> int:
        """A ring or ring sector around (row, col) in pixels, for images without a geometry."""
        region = mask_shapes.annulus(self.shape, row, col, r_inner, r_outer, angles_deg)
        return self._paint("arc" if angles_deg else "annulus", region, value)

    def sector(self, geometry: Geometry, tth_deg: tuple[float, float], chi_deg: tuple[float, float] | None = None,
               value: bool = True) -> int:
        """Pixels with 2θ in ``tth_deg`` and χ on the arc ``chi_deg`` (None: the whole ring) for ``geometry``."""
        tth, chi = self.angle_maps(geometry)
        return self._select("arc" if chi_deg else "annulus", mask_shapes.sector(tth, chi, tth_deg, chi_deg), value)

    def angle_maps(self, geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
        """2θ and χ in degrees of every pixel for ``geometry`` (computed once per geometry, ~1 s at 4 Mpx)."""
        return self._angles.get(geometry, self.shape)

    def angle_maps_ready(self, geometry: Geometry) -> bool:
        return self._angles.ready(geometry, self.shape)

    # -- whole-image operations --------------------------------------------------------------------
    def threshold_below(self, data: np.ndarray, level: float, value: bool = True) -> int:
        with np.errstate(invalid="ignore"):
            return self._select(f"below {level:g}", np.asarray(self._checked(data, "image")) < level, value)

    def threshold_above(self, data: np.ndarray, level: float, value: bool = True) -> int:
        with np.errstate(invalid="ignore"):
            return self._select(f"above {level:g}", np.asarray(self._checked(data, "image")) > level, value)

    def add(self, mask: np.ndarray, label: str = "add") -> int:
        """Mask every pixel ``mask`` marks as well (a loaded file, accepted hot pixels, the gaps)."""
        return self._select(label, self._checked(mask, label) != 0, True)

    def replace(self, mask: np.ndarray, label: str = "replace") -> int:
        return self._commit(label, np.array(self._checked(mask, label) != 0, dtype=bool))

    def grow(self, pixels: int) -> int:
        """Mask every pixel within ``pixels`` of a masked one (dilation by a disc)."""
        if pixels <= 0 or self.count == 0:
            return 0
        grown = ndimage.distance_transform_edt(~self._array) <= pixels
        return self._commit(f"grow {pixels} px", grown)

    def shrink(self, pixels: int) -> int:
        """Unmask every pixel within ``pixels`` of an unmasked one (erosion by a disc).

        The image border does not erode: a beamstop arm that leaves the image stays masked to the edge.
        """
        if pixels <= 0 or self.count in (0, self._array.size):
            return 0
        shrunk = ndimage.distance_transform_edt(self._array) > pixels
        return self._commit(f"shrink {pixels} px", shrunk)

    def invert(self) -> int:
        return self._commit("invert", ~self._array)

    def clear(self) -> int:
        return self._commit("clear", np.zeros_like(self._array))

    # -- undo / redo -------------------------------------------------------------------------------
    def undo(self) -> str | None:
        """Undo the last operation; returns its label (None if there was nothing to undo)."""
        if not self._undo:
            return None
        step = self._undo.pop()
        self._redo.append(self._restore(step))
        return step.label

    def redo(self) -> str | None:
        if not self._redo:
            return None
        step = self._redo.pop()
        self._undo.append(self._restore(step))
        return step.label

    # -- image orientation -------------------------------------------------------------------------
    def change_frame(self, old: ImageTransform, new: ImageTransform, raw_shape: tuple[int, int]) -> None:
        """Follow a new rotation/flip of the image: the mask and every undo/redo step move with their pixels."""
        self._array = _frozen(np.ascontiguousarray(new.apply(old.invert(self._array))))
        self._undo = deque((self._moved(s, old, new, raw_shape) for s in self._undo), maxlen=self._undo.maxlen)
        self._redo = [self._moved(s, old, new, raw_shape) for s in self._redo]

    @staticmethod
    def _moved(step: _Step, old: ImageTransform, new: ImageTransform, raw_shape: tuple[int, int]) -> _Step:
        # corners of the block (pixel i spans [i, i+1) in the transforms' convention) through raw to the new frame
        corners = [step.row0, step.row0 + step.shape[0]], [step.col0, step.col0 + step.shape[1]]
        rows, cols = old.points_to_raw(*corners, raw_shape)
        rows, cols = new.points_from_raw(rows, cols, raw_shape)
        block = new.apply(old.invert(step.block()))
        return _Step.of(step.label, int(round(rows.min())), int(round(cols.min())), block)

    # -- internals ---------------------------------------------------------------------------------
    def _checked(self, array: np.ndarray, what: str) -> np.ndarray:
        array = np.asarray(array)
        if array.shape != self.shape:
            got = " x ".join(map(str, array.shape))
            raise ImageError(f"The {what} is {got} pixels but the mask is {self.shape[0]} x {self.shape[1]}.")
        return array

    def _paint(self, label: str, region: Region, value: bool) -> int:
        if not region.block.any():
            return 0
        new = self._array.copy()
        rows, cols = region.slices
        if value:
            new[rows, cols] |= region.block
        else:
            new[rows, cols] &= ~region.block
        return self._commit(label if value else f"unmask {label}", new)

    def _select(self, label: str, selected: np.ndarray, value: bool) -> int:
        new = self._array | selected if value else self._array & ~selected
        return self._commit(label if value else f"unmask {label}", new)

    def _commit(self, label: str, new: np.ndarray) -> int:
        """Publish ``new``, recording the bounding block of the changed pixels as one undo step."""
        changed = self._array ^ new
        rows = np.flatnonzero(changed.any(axis=1))
        if rows.size == 0:
            return 0
        cols = np.flatnonzero(changed.any(axis=0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        self._undo.append(_Step.of(label, int(r0), int(c0), self._array[r0:r1, c0:c1]))
        self._redo.clear()
        self._array, self._count = _frozen(new), None
        return int(np.count_nonzero(changed[r0:r1, c0:c1]))

    def _restore(self, step: _Step) -> _Step:
        """Put the step's block back; the step returned puts the current block back (for the other stack)."""
        rows = slice(step.row0, step.row0 + step.shape[0])
        cols = slice(step.col0, step.col0 + step.shape[1])
        current = _Step.of(step.label, step.row0, step.col0, self._array[rows, cols])
        new = self._array.copy()
        new[rows, cols] = step.block()
        self._array, self._count = _frozen(new), None
        return current
