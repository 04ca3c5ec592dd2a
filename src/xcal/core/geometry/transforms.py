"""Rotations and flips of the displayed image, and the geometries that go with them.

The user may rotate and flip the image; calibration then works on the transformed ("working")
array while the saved .poni must fit the raw file. Flips are mirrors, which no rigid detector
motion reproduces, so they go into pyFAI's detector orientation (1-4 = which pixel axes are
reversed; the six numbers stay the same). A 90° turn is a proper in-plane rotation: it goes into
the numbers (poni1/poni2 and the rotation matrix, exactly) and swaps the pixel sizes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from pyFAI.detectors import Detector
from pyFAI.geometry import Geometry

from xcal.core.errors import DetectorError

OPS = ("rot90", "rot-90", "fliph", "flipv")
_INVERSE = {"rot90": "rot-90", "rot-90": "rot90", "fliph": "fliph", "flipv": "flipv"}
# Action of each op on pixel coordinates measured from the image centre, (row, col) vectors.
_MATRIX = {
    "rot90": np.array([[0, -1], [1, 0]]),
    "rot-90": np.array([[0, 1], [-1, 0]]),
    "fliph": np.array([[1, 0], [0, -1]]),
    "flipv": np.array([[-1, 0], [0, 1]]),
}
# The 8 elements of the dihedral group, each in its shortest form, with how it reads.
_CANONICAL = {
    (): "none",
    ("rot90",): "rotated 90° counter-clockwise",
    ("rot-90",): "rotated 90° clockwise",
    ("rot90", "rot90"): "rotated 180°",
    ("fliph",): "flipped horizontally",
    ("flipv",): "flipped vertically",
    ("rot90", "flipv"): "rotated 90° counter-clockwise, flipped vertically",
    ("rot90", "fliph"): "rotated 90° counter-clockwise, flipped horizontally",
}
# pyFAI detector orientation → (rows reversed, columns reversed), see Detector._calc_pixel_index_from_orientation.
_FLIPS = {3: (False, False), 2: (True, False), 4: (False, True), 1: (True, True)}
_ORIENTATION = {flips: orientation for orientation, flips in _FLIPS.items()}


def _matrix(ops: Iterable[str]) -> np.ndarray:
    result = np.eye(2, dtype=int)
    for op in ops:
        result = _MATRIX[op] @ result
    return result


_BY_MATRIX = {_matrix(ops).tobytes(): ops for ops in _CANONICAL}


def _check(ops: Iterable[str]) -> tuple[str, ...]:
    ops = tuple(ops)
    for op in ops:
        if op not in OPS:
            raise ValueError(f"unknown image transform {op!r}; expected one of {', '.join(OPS)}")
    return ops


def _step(op: str, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]):
    """Continuous pixel coordinates (pixel i spans [i, i+1)) through one op on an image of ``shape``."""
    n1, n2 = shape
    if op == "rot90":
        return n2 - cols, rows, (n2, n1)
    if op == "rot-90":
        return cols, n1 - rows, (n2, n1)
    if op == "fliph":
        return rows, n2 - cols, shape
    return n1 - rows, cols, shape


@dataclass(frozen=True)
class ImageTransform:
    """A sequence of rotations/flips, raw → working; ``rot90`` is counter-clockwise as ``np.rot90``."""

    ops: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", _check(self.ops))

    def then(self, op: str) -> ImageTransform:
        return ImageTransform((*self.ops, *_check([op])))

    def reduced(self) -> ImageTransform:
        """The same transform in its shortest canonical form (one of 8)."""
        return ImageTransform(_BY_MATRIX[_matrix(self.ops).tobytes()])

    def inverse(self) -> ImageTransform:
        return ImageTransform(tuple(_INVERSE[op] for op in reversed(self.ops)))

    @property
    def swaps_axes(self) -> bool:
        return sum(op.startswith("rot") for op in self.ops) % 2 == 1

    @property
    def is_identity(self) -> bool:
        return not self.reduced().ops

    def apply(self, array: np.ndarray) -> np.ndarray:
        """Raw → working (images and masks alike); a view where numpy gives one."""
        for op in self.reduced().ops:
            if op == "rot90":
                array = np.rot90(array, 1)
            elif op == "rot-90":
                array = np.rot90(array, -1)
            elif op == "fliph":
                array = np.fliplr(array)
            else:
                array = np.flipud(array)
        return array

    def invert(self, array: np.ndarray) -> np.ndarray:
        """Working → raw."""
        return self.inverse().apply(array)

    def shape(self, raw_shape: Sequence[int]) -> tuple[int, int]:
        n1, n2 = (int(n) for n in raw_shape[:2])
        return (n2, n1) if self.swaps_axes else (n1, n2)

    def points_from_raw(self, rows, cols, raw_shape: Sequence[int]):
        """Raw → working pixel coordinates (float; pixel i spans [i, i+1), its centre is i + 0.5)."""
        rows, cols = np.asarray(rows, dtype=float), np.asarray(cols, dtype=float)
        shape = (int(raw_shape[0]), int(raw_shape[1]))
        for op in self.reduced().ops:
            rows, cols, shape = _step(op, rows, cols, shape)
        return rows, cols

    def points_to_raw(self, rows, cols, raw_shape: Sequence[int]):
        """Working → raw pixel coordinates (same convention as ``points_from_raw``)."""
        return self.inverse().points_from_raw(rows, cols, self.shape(raw_shape))

    def describe(self) -> str:
        return _CANONICAL[self.reduced().ops]

    def to_list(self) -> list[str]:
        return list(self.ops)

    @classmethod
    def from_list(cls, ops: Iterable[str]) -> ImageTransform:
        return cls(tuple(ops))


def _euler(matrix: np.ndarray) -> tuple[float, float, float]:
    """(rot1, rot2, rot3) with pyFAI's ``rotation_matrix`` = R3(rot3)·R2(rot2)·R1(rot1) equal to ``matrix``.

    Its last row is (sin rot2, -cos rot2 sin rot1, cos rot2 cos rot1) and its first column
    (cos rot3 cos rot2, sin rot3 cos rot2, sin rot2); valid for |rot2| < 90°.
    """
    rot1 = math.atan2(-matrix[2, 1], matrix[2, 2])
    rot2 = math.atan2(matrix[2, 0], math.hypot(matrix[2, 1], matrix[2, 2]))
    rot3 = math.atan2(matrix[1, 0], matrix[0, 0])
    return rot1, rot2, rot3


def _transfer(geometry: Geometry, transform: ImageTransform, shape: tuple[int, int],
              detector: Detector | None, prefer: int) -> Geometry:
    """Geometry for ``transform.apply(image)``, given ``geometry`` for ``image`` of ``shape``.

    Physical pixel position in the detector plane (pixel units): s = F·(u, v) + f, F = diag(±1)
    from the orientation. The transform maps target coordinates to source ones affinely, so the
    target plane relates to the source plane by y_src = A·y_dst + c. The target orientation is
    chosen to make A the identity (flips: same numbers) or, for 90° turns, a proper rotation,
    which a rigid change of poni and rotation matrix absorbs exactly:
    poni_dst = Aᵀ(poni_src − c), R_dst = R_src·[[A, 0], [0, 1]]. Of the two orientations that
    allow a 90° turn, ``prefer`` is taken if it is one, else the first of 3, 2, 4, 1.
    """
    shape = (int(shape[0]), int(shape[1]))
    source = geometry.detector
    if source.shape is not None and tuple(source.shape) != shape:
        raise DetectorError(f"image shape {shape} does not match the detector shape {tuple(source.shape)}")
    target_shape = transform.shape(shape)
    if source.splinefile and not transform.is_identity:
        raise DetectorError("a detector with a distortion spline cannot be rotated or flipped")

    # target (u', v') -> source (u, v) = B (u', v') + b, exact integers
    inverse = transform.inverse()
    origin = np.array(inverse.points_from_raw([0.0, 1.0, 0.0], [0.0, 0.0, 1.0], target_shape))
    b = origin[:, 0]
    b_matrix = np.column_stack([origin[:, 1] - b, origin[:, 2] - b])
    src_flips = _FLIPS[int(source.orientation or 3)]
    f_src = np.diag([-1 if flip else 1 for flip in src_flips])
    o_src = np.array([n if flip else 0 for n, flip in zip(shape, src_flips)])

    candidates = []  # (A is not the identity, preference, orientation, A, c in pixels)
    for preference, orientation in enumerate(dict.fromkeys((int(prefer or 3), 3, 2, 4, 1))):
        flips = _FLIPS[orientation]
        f_dst = np.diag([-1 if flip else 1 for flip in flips])
        o_dst = np.array([n if flip else 0 for n, flip in zip(target_shape, flips)])
        a = np.rint(f_src @ b_matrix @ f_dst).astype(int)
        if round(np.linalg.det(a)) == 1:
            candidates.append((not np.array_equal(a, np.eye(2)), preference, orientation, a,
                               f_src @ (b - b_matrix @ f_dst @ o_dst) + o_src))
    _, _, orientation, a, c_pixels = min(candidates, key=lambda item: item[:2])

    pixels_src = np.array([source.pixel1, source.pixel2])
    pixels_dst = tuple(pixels_src[::-1]) if transform.swaps_axes else tuple(pixels_src)
    if np.array_equal(a, np.eye(2)):
        poni = (geometry.poni1, geometry.poni2)
        rotations = (geometry.rot1, geometry.rot2, geometry.rot3)
    else:
        c = pixels_src * c_pixels
        poni = tuple(float(x) for x in a.T @ (np.array([geometry.poni1, geometry.poni2]) - c))
        embedded = np.eye(3)
        embedded[:2, :2] = a
        rotations = _euler(geometry.rotation_matrix() @ embedded)

    if detector is None and transform.is_identity:
        target = copy.deepcopy(source)
    elif detector is not None:
        if not np.allclose((detector.pixel1, detector.pixel2), pixels_dst, rtol=1e-9, atol=0):
            raise DetectorError(f"detector {detector.name} pixel size does not match the geometry's {pixels_dst}")
        target = Detector.factory(type(detector).__name__, {**detector.get_config(), "orientation": orientation})
        if target.shape is not None and tuple(target.shape) != target_shape:
            raise DetectorError(f"detector {detector.name} shape {tuple(target.shape)} does not match the image "
                                f"{target_shape}")
        if target.shape is None:
            target = Detector.factory(type(target).__name__, {**target.get_config(), "max_shape": target_shape})
    else:
        target = Detector(pixel1=pixels_dst[0], pixel2=pixels_dst[1], max_shape=target_shape, orientation=orientation)
        if isinstance(source.mask, np.ndarray) and source.mask.shape == shape:
            target.mask = np.ascontiguousarray(transform.apply(source.mask))
    result = type(geometry)(dist=geometry.dist, poni1=poni[0], poni2=poni[1], rot1=rotations[0],
                            rot2=rotations[1], rot3=rotations[2], detector=target, wavelength=geometry.wavelength)
    result.chiDiscAtPi = geometry.chiDiscAtPi
    return result


def working_geometry(raw_geometry: Geometry, transform: ImageTransform, raw_shape: Sequence[int]) -> Geometry:
    """Geometry for the working array: each working pixel gets the 2θ and χ of its raw pixel.

    Unless the transform is the identity, the detector becomes a generic one of the working shape
    (carrying the transformed gap mask): a named detector's own mask would not follow the flips.
    """
    return _transfer(raw_geometry, transform, (raw_shape[0], raw_shape[1]), None, raw_geometry.detector.orientation)


def raw_geometry(working_geometry: Geometry, transform: ImageTransform, raw_shape: Sequence[int],
                 raw_detector: Detector | None = None) -> Geometry:
    """The geometry to save: valid for the raw file. ``raw_detector`` (e.g. Pilatus1M) names its detector."""
    prefer = raw_detector.orientation if raw_detector is not None else 3
    return _transfer(working_geometry, transform.inverse(), transform.shape(raw_shape), raw_detector, prefer)
