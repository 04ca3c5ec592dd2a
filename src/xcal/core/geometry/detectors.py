"""Detectors: pyFAI's registry by name, generic pixel-size detectors, and the masks they imply.

pyFAI knows each detector's size, pixel pitch and module gaps; this module adds the checks a
user needs (does this detector fit this image?) and the union of every invalid pixel.
"""

from __future__ import annotations

import difflib
import os
from functools import cache

import numpy as np
from pyFAI.detectors import ALL_DETECTORS, Detector, NexusDetector, detector_factory

from xcal.core.errors import DetectorError

_BINNINGS = (2, 3, 4, 8)  # square binnings worth trying for suggestions; pyFAI decides which are valid


def detector_names() -> list[str]:
    """One name per pyFAI detector class (its class name, accepted by pyFAI everywhere), sorted."""
    return list(_names())


@cache
def _names() -> tuple[str, ...]:
    classes = {cls for cls in ALL_DETECTORS.values() if cls is not Detector}
    return tuple(sorted((cls.__name__ for cls in classes), key=str.lower))


def suggest_detectors(shape: tuple[int, int]) -> list[str]:
    """Detectors that produce images of this shape, unbinned first, then the plainest names.

    Short names first puts the base model before its variants (Pilatus1M before PilatusCdTe1M).
    """
    return [name for _, name in sorted(_fits(_shape(shape)), key=lambda item: (item[0], len(item[1]), item[1]))]


@cache
def _fits(shape: tuple[int, int]) -> tuple[tuple[int, str], ...]:
    """(binning factor, name) of each detector pyFAI accepts for this shape, square binnings only."""
    found = []
    for name in _names():
        cls = ALL_DETECTORS[name.lower()]
        # screen on class data first: building some detectors (hexagonal Pixirad) takes 0.1-0.8 s
        factors = {m // s if s > 0 and m % s == 0 else 0 for m, s in zip(cls.MAX_SHAPE, shape)}
        binnable = cls.force_pixel and (_own_binning_rule(cls) or (len(factors) == 1 and factors <= set(_BINNINGS)))
        if tuple(cls.MAX_SHAPE) == shape or binnable:
            detector = cls()
            if _accepts(detector, shape) and detector.binning[0] == detector.binning[1]:
                found.append((detector.binning[0], name))
    return tuple(found)


def _shape(shape: tuple[int, int]) -> tuple[int, int]:
    return tuple(int(s) for s in shape)  # type: ignore[return-value]


def _own_binning_rule(cls: type[Detector]) -> bool:
    """Rayonix binnings and mar345 scan modes are decided by the class, not by divisibility."""
    return cls.guess_binning is not Detector.guess_binning


def _accepts(detector: Detector, shape: tuple[int, int]) -> bool:
    """pyFAI's own rule: the image shape is the detector's shape or a binning/mode pyFAI supports.

    Accepting may set the detector's binning (pyFAI ``guess_binning``), as pyFAI itself does.
    """
    if tuple(detector.shape or ()) == shape:
        return True
    if not detector.force_pixel or not detector.max_shape or min(shape) <= 0:
        return False  # pyFAI only bins detectors whose pixel size it defines
    whole = not any(m % s for m, s in zip(detector.max_shape, shape))
    if not (whole or _own_binning_rule(type(detector))):
        return False  # the generic rule would only log a warning
    if not detector.guess_binning(shape):
        return False
    # Rayonix's rule ignores remainders (1024 x 1000 would pass as 4 x 4): check the result
    return tuple(m // b for m, b in zip(detector.max_shape, detector.binning)) == shape


def make_detector(
    name: str | None = None,
    pixel_um: float | tuple[float, float] | None = None,
    shape: tuple[int, int] | None = None,
) -> Detector:
    """A named pyFAI detector checked against the image ``shape``, or a generic one of ``pixel_um``.

    ``pixel_um`` is one size or (vertical, horizontal) in micrometres. Giving both a name and a
    pixel size is refused: a named detector's pixel size is part of its definition.
    """
    if name and pixel_um is not None:
        raise DetectorError(
            f"Detector {name}: give a detector name or a pixel size ({pixel_um} µm), not both; "
            "for a non-standard pixel size use a generic detector (pixel size only)."
        )
    if name:
        return _named_detector(name, shape)
    if pixel_um is not None:
        pixel1, pixel2 = _pixel_pair(pixel_um)
        return Detector(pixel1=pixel1 * 1e-6, pixel2=pixel2 * 1e-6, max_shape=_shape(shape) if shape else None)
    raise DetectorError("No detector given: choose a detector by name or give the pixel size in µm.")


def _named_detector(name: str, shape: tuple[int, int] | None) -> Detector:
    key = name.strip()
    cls = next((ALL_DETECTORS[k] for k in _registry_keys(key) if k in ALL_DETECTORS), None)
    if cls is Detector:
        raise DetectorError(f"Detector {name} is pyFAI's generic detector: give its pixel size instead of a name.")
    if cls is None and not os.path.isfile(key):  # a pyFAI detector description file is accepted too
        close = difflib.get_close_matches(key, _names(), n=5, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else " See the list of known detectors."
        raise DetectorError(f"Detector {name} is not known to pyFAI.{hint}")
    try:
        detector = cls() if cls is not None else detector_factory(key)
    except Exception as exc:  # a broken description file, or a detector pyFAI cannot build
        raise DetectorError(f"Detector {name} cannot be created: {exc}") from exc
    if shape is not None and not _accepts(detector, _shape(shape)):
        raise DetectorError(_shape_mismatch(name, detector, _shape(shape)))
    return detector


def _registry_keys(name: str) -> tuple[str, ...]:
    """The spellings pyFAI's registry uses: lower case, spaces as '_' or removed."""
    lower = name.lower()
    return lower, lower.replace(" ", "_"), lower.replace(" ", "")


def _shape_mismatch(name: str, detector: Detector, shape: tuple[int, int]) -> str:
    size = " x ".join(map(str, detector.max_shape)) if detector.max_shape else "of unknown size"
    message = f"Detector {name} is {size} pixels but the image is {shape[0]} x {shape[1]}"
    others = suggest_detectors(shape)
    if others:
        return f"{message}: choose one of {', '.join(others[:8])}, or a generic detector with its pixel size."
    return f"{message}: no known detector has this size; use a generic detector with its pixel size."


def _pixel_pair(pixel_um: float | tuple[float, float]) -> tuple[float, float]:
    try:
        values = np.asarray(pixel_um, dtype=float).ravel()
    except (TypeError, ValueError):
        values = np.empty(0)
    if values.size == 1:
        values = np.repeat(values, 2)
    if values.size != 2 or not np.all(np.isfinite(values) & (values > 0)):
        raise DetectorError(
            f"Pixel size {pixel_um!r} µm is not valid: give one positive size or (vertical, horizontal)."
        )
    return float(values[0]), float(values[1])


def detector_mask(detector: Detector, shape: tuple[int, int]) -> np.ndarray | None:
    """The detector's own gap/dead-area mask (True = masked) for this image shape, None if it has none."""
    shape = _shape(shape)
    if detector.shape is not None and tuple(detector.shape) != shape:
        raise DetectorError(_shape_mismatch(_label(detector), detector, shape))
    mask = detector.mask
    if mask is None or not mask.any():
        return None
    return mask.astype(bool)


def invalid_mask(image_data: np.ndarray, detector: Detector | None = None) -> np.ndarray:
    """Pixels every calibration and integration must exclude: detector gaps, negative and non-finite values."""
    data = np.asarray(image_data)
    with np.errstate(invalid="ignore"):
        invalid = ~np.isfinite(data) | (data < 0)
    gaps = detector_mask(detector, data.shape) if detector is not None else None
    return invalid | gaps if gaps is not None else invalid


def detector_description(detector: Detector) -> str:
    """One line for the UI, e.g. ``Pilatus1M, 1043 x 981 px, 172 x 172 µm``."""
    size = f"{detector.shape[0]} x {detector.shape[1]} px" if detector.shape else "size from the image"
    binning = tuple(detector.binning or (1, 1))
    if binning != (1, 1):
        size += f" (binned {binning[0]} x {binning[1]})"
    pixel = f"{detector.pixel1 * 1e6:.4g} x {detector.pixel2 * 1e6:.4g} µm"
    return f"{_label(detector)}, {size}, {pixel}"


def _label(detector: Detector) -> str:
    if type(detector) is Detector:
        return "Generic detector"
    if isinstance(detector, NexusDetector):
        return detector.name
    return type(detector).__name__


def pixel_size(detector) -> float:
    """Geometric mean pixel size in metres: the scale of ring radii for rectangular pixels too."""
    return float(np.sqrt(detector.pixel1 * detector.pixel2))
