"""Reading and writing pyFAI .poni geometry files, and the Fit2D parameter set.

pyFAI's own reader silently merges appended calibration blocks key by key and its
``Geometry.save`` appends to an existing file; here a file is split into its blocks (the last
one wins, as in pyFAI) and always replaced atomically. Legacy Dioptas files (no detector
orientation) fit the up-down flipped image: ``read_poni(..., legacy_dioptas=True)`` reads them
as orientation 2 (same numbers), ``resolve_legacy`` decides from the image itself.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pyFAI.detectors import Detector
from pyFAI.geometry import Geometry
from pyFAI.io.ponifile import PoniFile
from scipy import ndimage

from xcal.core.errors import DetectorError, GeometryFileError
from xcal.core.io.atomic import atomic_write_text
from xcal.core.io.file_checks import decimal_number, file_problem, os_error_reason

LEGACY_ORIENTATION = 2
"""Orientation that makes the numbers of a legacy Dioptas file fit the raw (unflipped) array."""

CLEAR_RATIO = 1.5
"""How much higher one reading's score must be for ``resolve_legacy`` to call it clearly better."""

_GEOMETRY_KEYS = ("distance", "poni1", "poni2", "rot1", "rot2", "rot3")
_PIXEL_RANGE = (1e-7, 1e-2, "0.1 µm to 10 mm (in metres: 1e-07 to 0.01)")
_SANE_RANGES = {  # key: (lowest, highest, the range in words), beyond any real setup: damage or a unit slip
    "distance": (1e-6, 100.0, "1 µm to 100 m (in metres: 1e-06 to 100)"),
    "wavelength": (1e-13, 1e-8, "0.001 to 100 Å (in metres: 1e-13 to 1e-08)"),
    "poni1": (-10.0, 10.0, "±10 m"),
    "poni2": (-10.0, 10.0, "±10 m"),
    **{key: (-2 * math.pi, 2 * math.pi, "±2π rad") for key in ("rot1", "rot2", "rot3")},
    "pixelsize1": _PIXEL_RANGE,
    "pixelsize2": _PIXEL_RANGE,
}
_MAX_PIXELS = 100_000  # pixels along one side of a detector: far more than any real one
_NUMERIC_KEYS = (*_GEOMETRY_KEYS, "wavelength", "pixelsize1", "pixelsize2", "poni_version")
_KEY_NAMES = {"poni_version": "poni_version", "distance": "Distance", "wavelength": "Wavelength",
              "pixelsize1": "PixelSize1", "pixelsize2": "PixelSize2", "detector": "Detector",
              "detector_config": "Detector_config"}
_FIT2D_KEYS = ("directDist", "centerX", "centerY", "tilt", "tiltPlanRotation", "pixelX", "pixelY")


@dataclass
class PoniRead:
    """A geometry read from a .poni file, with how it was interpreted."""

    geometry: Geometry
    had_orientation: bool
    legacy_dioptas: bool
    notes: list[str] = field(default_factory=list)


def _key_name(key: str) -> str:
    return _KEY_NAMES.get(key, key.capitalize())


def _blocks(name: str, text: str) -> list[dict[str, str]]:
    """Split into calibration blocks (old pyFAI appended whole blocks, each after its comment header).

    A block ends where comments follow its keys or where a key repeats; pieces split by a comment
    that share no key are parts of one block (a comment inside a hand-edited block) and are joined.
    A line that is neither blank, a comment nor ``key: value`` is damage (a number cut in two by a
    stray line end reads as a shorter number), and refused.
    """
    pieces: list[dict[str, str]] = [{}]
    after_comment = False
    for number, line in enumerate(text.split("\n"), start=1):  # as pyFAI: \v, \f, \x85... end no line
        line = line.strip()
        if line.startswith("#"):
            after_comment = True
            continue
        if not line:
            continue
        if ":" not in line:
            raise GeometryFileError(f"{name}, line {number}: neither a comment nor 'key: value': {line[:60]!r}")
        key, value = (part.strip() for part in line.split(":", 1))
        key = key.lower()
        if pieces[-1] and (after_comment or key in pieces[-1]):
            pieces.append({})
        pieces[-1][key] = value
        after_comment = False
    blocks: list[dict[str, str]] = []
    for piece in filter(None, pieces):
        if blocks and not blocks[-1].keys() & piece.keys():
            blocks[-1].update(piece)
        else:
            blocks.append(piece)
    return blocks


def _check_numbers(name: str, block: dict[str, str]) -> None:
    """Every number is written as a plain decimal and lies where a real experiment can put it."""
    if "dist" in block and "distance" not in block:
        block["distance"] = block.pop("dist")
    missing = [_key_name(key) for key in _GEOMETRY_KEYS if key not in block]
    if missing:
        raise GeometryFileError(f"{name}: not a usable .poni file, missing {', '.join(missing)}")
    for key in _NUMERIC_KEYS:
        if key not in block:
            continue
        value = decimal_number(block[key])
        if value is None:
            raise GeometryFileError(f"{name}: {_key_name(key)} is not a plain decimal number: {block[key]!r}")
        if key in _SANE_RANGES:
            low, high, meaning = _SANE_RANGES[key]
            if not low <= value <= high:
                raise GeometryFileError(f"{name}: {_key_name(key)} = {block[key]} is outside {meaning}")


def _detector_config(name: str, block: dict[str, str]) -> dict | None:
    if "detector_config" not in block:
        return None
    try:
        config = json.loads(block["detector_config"])
    except json.JSONDecodeError as error:
        raise GeometryFileError(f"{name}: Detector_config is not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise GeometryFileError(f"{name}: Detector_config is not a JSON object: {block['detector_config']!r}")
    return config


def _check_config_keys(name: str, detector: Detector, config: dict | None) -> None:
    """Every Detector_config key is one the detector takes: pyFAI logs and drops the others, so a
    damaged ``orientation`` key would silently give the default orientation."""
    taken = {arg.lower() for arg in inspect.getfullargspec(type(detector)).args} | {"binning"}
    dropped = sorted(key for key in config or {} if key.lower() not in taken)
    if dropped:
        raise GeometryFileError(f"{name}: Detector_config has keys a {type(detector).__name__} detector does not "
                                f"take: {', '.join(dropped)}")


def _check_detector(name: str, detector: Detector) -> None:
    """The pixel size and the size in pixels (from the detector model or Detector_config) are sane."""
    pixels = (detector.pixel1, detector.pixel2)
    low, high, meaning = _PIXEL_RANGE
    if not all(p is not None and low <= p <= high for p in pixels):  # NaN fails the comparison too
        raise GeometryFileError(f"{name}: the detector pixel size {pixels} m is missing or outside {meaning}")
    shape = detector.max_shape
    if shape is not None and not all(1 <= n <= _MAX_PIXELS for n in shape):
        raise GeometryFileError(f"{name}: the detector size in pixels (max_shape) {tuple(shape)} is outside "
                                f"1 to {_MAX_PIXELS} per side")


def _rebuilt(detector: Detector, **changes) -> Detector:
    """The same detector (class and configuration) with some configuration keys changed."""
    return Detector.factory(type(detector).__name__, {**detector.get_config(), **changes})


def _ensure_shape(geometry: Geometry, shape: tuple[int, int] | None, notes: list[str]) -> None:
    """Give a shapeless detector the image shape.

    pyFAI ignores the orientation of a detector without a shape on the first array it computes
    (and caches that wrong array), so an orientation other than 3 needs the shape.
    """
    detector = geometry.detector
    if detector.shape is not None:
        return
    if shape is not None:
        geometry.detector = _rebuilt(detector, max_shape=tuple(int(n) for n in shape))
    elif int(detector.orientation) != 3:
        notes.append("the detector has no size in the file: give the image shape before using its orientation")


def read_poni(path: str | os.PathLike, legacy_dioptas: bool | None = False,
              shape: tuple[int, int] | None = None) -> PoniRead:
    """Read the last calibration block of a .poni file.

    :param legacy_dioptas: for a file without detector orientation: True reads it as a legacy
        Dioptas file (orientation 2, same numbers, fits the raw array); False as pyFAI does
        (orientation 3); None as pyFAI does, with a note that the orientation is ambiguous.
    :param shape: image shape, given to a detector that has none (needed for orientation 2).
    """
    name = Path(path).name
    problem = file_problem(path)
    if problem:
        raise GeometryFileError(f"{name}: {problem} ({path})")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GeometryFileError(f"{name}: not a text file (not UTF-8), so not a .poni file") from None
    except OSError as error:
        raise GeometryFileError(f"{name}: cannot be read ({os_error_reason(error)})") from None
    blocks = _blocks(name, text)
    if not blocks:
        raise GeometryFileError(f"{name}: empty file, no geometry in it")
    notes = []
    if len(blocks) > 1:
        notes.append(f"{len(blocks)} calibration blocks in file; the last one was used")
    block = blocks[-1]
    _check_numbers(name, block)
    config = _detector_config(name, block)
    if "detector" in block:
        try:
            Detector.factory(block["detector"])
        except Exception:
            raise GeometryFileError(f"{name}: unknown detector name {block['detector']!r} (key Detector)") from None
    try:
        geometry = Geometry().load(PoniFile({**block, "detector_config": config} if config is not None else block))
    except Exception as error:
        raise GeometryFileError(f"{name}: invalid detector description ({error})") from None
    _check_config_keys(name, geometry.detector, config)
    _check_detector(name, geometry.detector)

    had_orientation = config is not None and "orientation" in config
    legacy = bool(legacy_dioptas) and not had_orientation
    if legacy:
        geometry.detector = _rebuilt(geometry.detector, orientation=LEGACY_ORIENTATION)
        notes.append("read as a legacy Dioptas file: fits the up-down flipped image (detector orientation 2)")
    elif legacy_dioptas is None and not had_orientation:
        notes.append("no detector orientation in the file: read with pyFAI's default; "
                     "a legacy Dioptas file would fit the up-down flipped image")
    if type(geometry.detector) is Detector:
        notes.append("the file names no detector model: generic detector, module gaps are not masked")
    if geometry.wavelength is None:
        notes.append("no wavelength in the file")
    _ensure_shape(geometry, shape, notes)
    return PoniRead(geometry, had_orientation, legacy, notes)


def _number(name: str, key: str, value: float) -> str:
    value = float(value)
    if not math.isfinite(value):
        raise GeometryFileError(f"{name}: cannot write {key} = {value}, not a finite number")
    return repr(value)


def poni_text(geometry: Geometry, comments: list[str] | tuple[str, ...] = (), name: str = "geometry") -> str:
    """pyFAI poni_version 2.1 text (3 if parallax is on) for ``geometry``, comments on top."""
    detector = geometry.detector
    parallax = bool(getattr(geometry, "parallax", None))
    lines = [f"# {part}" for comment in comments for part in str(comment).splitlines() or [""]]
    lines += ["# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis",
              f"poni_version: {3 if parallax else 2.1}",
              f"Detector: {type(detector).__name__}",
              f"Detector_config: {json.dumps(detector.get_config())}"]
    for key in ("Distance", "Poni1", "Poni2", "Rot1", "Rot2", "Rot3"):
        attribute = "dist" if key == "Distance" else key.lower()
        lines.append(f"{key}: {_number(name, key, getattr(geometry, attribute))}")
    if geometry.wavelength is not None:
        lines.append(f"Wavelength: {_number(name, 'Wavelength', geometry.wavelength)}")
    if parallax:
        lines.append("Parallax: True")
    return "\n".join(lines) + "\n"


def write_poni(path: str | os.PathLike, geometry: Geometry, comments: list[str] | tuple[str, ...] = ()) -> None:
    """Write ``geometry`` to ``path`` atomically, replacing (never appending to) any existing file."""
    name = Path(path).name
    text = poni_text(geometry, comments, name)
    try:
        atomic_write_text(path, text)
    except OSError as error:
        raise GeometryFileError(f"{name}: cannot be written ({error})") from None


def score_orientation(geometry: Geometry, data: np.ndarray, mask: np.ndarray | None = None,
                      npt: int = 1500) -> float:
    """Contrast of the 1D powder pattern that ``geometry`` gives for ``data``.

    Rings that follow the geometry's cones add up into sharp, tall peaks; a wrong geometry smears
    them out. The score is the standard deviation of the background-subtracted pattern divided by
    its mean level, so it does not depend on the intensity scale.
    """
    data = np.asarray(data)
    tth = geometry.center_array(data.shape, unit="2th_deg")
    valid = np.isfinite(data) & np.isfinite(tth)
    if mask is not None:
        valid &= ~np.asarray(mask, dtype=bool)
    angles = tth[valid]
    values = data[valid].astype(float)
    if angles.size == 0 or np.ptp(angles) == 0:
        return 0.0
    index = np.minimum(((angles - angles.min()) / np.ptp(angles) * npt).astype(int), npt - 1)
    counts = np.bincount(index, minlength=npt)
    sums = np.bincount(index, values, minlength=npt)
    filled = counts >= 20
    if filled.sum() < 10:
        return 0.0
    pattern = sums[filled] / counts[filled]
    width = max(5, npt // 40)
    background = ndimage.uniform_filter1d(ndimage.minimum_filter1d(pattern, width), width)
    level = np.abs(pattern).mean()
    return float((pattern - background).std() / level) if level > 0 else 0.0


def resolve_legacy(path: str | os.PathLike, data: np.ndarray, mask: np.ndarray | None = None) -> PoniRead:
    """Read a .poni file; if it has no detector orientation, let the image decide its convention.

    Both readings (pyFAI's orientation 3 and legacy Dioptas' orientation 2) are scored on
    ``data``; the legacy one is kept only if its score is clearly (``CLEAR_RATIO``) higher.
    """
    shape = np.shape(data)
    plain = read_poni(path, legacy_dioptas=False, shape=shape)
    if plain.had_orientation:
        return plain
    legacy = read_poni(path, legacy_dioptas=True, shape=shape)
    plain_score = score_orientation(plain.geometry, data, mask)
    legacy_score = score_orientation(legacy.geometry, data, mask)
    scores = f"(ring contrast {legacy_score:.3g} flipped vs {plain_score:.3g} as is)"
    if legacy_score > CLEAR_RATIO * plain_score:
        legacy.notes = [*plain.notes, "no detector orientation in the file; the rings fit the legacy Dioptas "
                        f"reading (up-down flipped, orientation 2) clearly better {scores}"]
        return legacy
    if plain_score > CLEAR_RATIO * legacy_score:
        verdict = f"the rings fit pyFAI's default reading clearly better {scores}"
    else:
        verdict = f"the image does not tell the two readings apart {scores}; pyFAI's default kept"
    plain.notes.append(f"no detector orientation in the file; {verdict}")
    return plain


def to_fit2d(geometry: Geometry) -> dict[str, float]:
    """Fit2D parameters: directDist (mm), centerX/centerY (px), tilt/tiltPlanRotation (deg), pixelX/pixelY (µm).

    Fit2D has no azimuth origin, so rot3 is not carried; centres are in pyFAI's detector frame.
    """
    fit2d = geometry.getFit2D()
    return {key: float(fit2d[key]) for key in _FIT2D_KEYS}


def from_fit2d(params: dict[str, float], detector: Detector | None, wavelength: float | None) -> Geometry:
    """Geometry from Fit2D parameters (pyFAI ``setFit2D``); ``wavelength`` in metres.

    Without ``detector`` a generic one is made from pixelX/pixelY.
    """
    if detector is None:
        detector = Detector(pixel1=params["pixelY"] * 1e-6, pixel2=params["pixelX"] * 1e-6)
    else:
        detector = copy.deepcopy(detector)
        for key, size in (("pixelX", detector.pixel2), ("pixelY", detector.pixel1)):
            if key in params and not math.isclose(params[key] * 1e-6, size, rel_tol=1e-9):
                raise DetectorError(f"Fit2D {key} = {params[key]} µm does not match the detector pixel "
                                    f"({size * 1e6} µm)")
    geometry = Geometry(detector=detector)
    geometry.setFit2D(**{key: float(params[key]) for key in _FIT2D_KEYS[:5]})
    if wavelength is not None:
        geometry.wavelength = wavelength  # set after: setFit2D round-trips it through Å
    return geometry
