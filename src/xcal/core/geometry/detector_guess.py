"""Which detector took an image, and why: the file header's pixel size first, then the image's shape.

A wrong pixel size is a wrong distance, and the shape alone often cannot tell: a 1024 x 1024 image
fits 13 pyFAI detectors with pixels from 60 to 450 µm. Headers that carry the pixel size decide
(fabio's readers: Pilatus CBF/TIFF ``Pixel_size``, MarCCD ``pixelsize_x`` also in a MarCCD file
read as a plain TIFF, mar345 ``PIXEL_LENGTH``, ADSC/d*TREK ``PIXEL_SIZE``, EDF ``PSize_1``); the
shape decides only when one pixel size fits it. Otherwise the guess is "ambiguous" and lists the
candidates for the user to choose from. The guess is never silent: it carries its basis.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fabio.marccdimage import HEADER_FORMAT, HEADER_NAMES, interpret_header

from xcal.core.geometry.detectors import make_detector, suggest_detectors

PIXEL_MATCH = 0.01  # relative: a header's pixel size and a detector's agree within 1 %
PIXEL_RANGE_UM = (1.0, 10_000.0)  # a header value outside is not a pixel size
_PILATUS_PIXEL = re.compile(r"Pixel_size\s*:?\s*([0-9.eE+-]+)\s*m\s*x\s*([0-9.eE+-]+)\s*m")
_PILATUS_SENSOR = re.compile(r"\b(Silicon|CdTe)\s+sensor", re.IGNORECASE)
# (vertical key, horizontal key, µm per header unit) of fabio's header fields
_PIXEL_KEYS = (
    ("pixelsize_y", "pixelsize_x", 1e-3),  # MarCCD, nm
    ("PIXEL_HEIGHT", "PIXEL_LENGTH", 1.0),  # mar345, µm
    ("PIXEL_SIZE", "PIXEL_SIZE", 1e3),  # ADSC, d*TREK, mm
    ("PSize_2", "PSize_1", 1e6),  # EDF, m
)
_MARCCD_OFFSET, _MARCCD_SIZE = 1024, 3072  # the MarCCD header inside its TIFF file


@dataclass(frozen=True)
class DetectorGuess:
    """The detector for an image, with the reason.

    ``name`` is the pyFAI detector to use, or None: then ``pixel_um`` (vertical, horizontal) gives a
    generic detector, and with neither the user must choose among ``candidates`` (the registry
    detectors of the image's shape, with their pixel sizes in µm).
    """

    name: str | None
    pixel_um: tuple[float, float] | None
    basis: str  # e.g. "header pixel size 158 µm", "only detector of this shape", "ambiguous: candidates …"
    candidates: tuple[tuple[str, float], ...] = ()

    @property
    def decided(self) -> bool:
        return self.name is not None or self.pixel_um is not None

    @property
    def candidate_names(self) -> list[str]:
        return [name for name, _ in self.candidates]

    def describe(self) -> str:
        """One line: the detector and why, e.g. ``Pilatus1M (only detector of this shape)``."""
        if self.name is not None:
            return f"{self.name} ({self.basis})"
        if self.pixel_um is not None:
            return f"a generic detector with {_um(self.pixel_um)} pixels ({self.basis})"
        return f"none chosen ({self.basis})"


def guess_detector(shape: tuple[int, int], header: Mapping[str, object] | None = None,
                   source: str | Path | None = None) -> DetectorGuess:
    """The detector of an image of ``shape``, from its ``header`` (fabio's) and file ``source`` if given."""
    shape = (int(shape[0]), int(shape[1]))
    candidates = tuple((name, _pixel_um(name, shape)) for name in suggest_detectors(shape))
    pixel = header_pixel_um(header or {}, source, shape)
    if pixel is not None:
        return _from_header(pixel, _sensor(header or {}), candidates)
    sizes = {round(p, 3) for _, p in candidates}
    if len(candidates) == 1:
        return DetectorGuess(candidates[0][0], None, "only detector of this shape", candidates)
    if len(sizes) == 1:  # e.g. Pilatus1M and PilatusCdTe1M: the same pixels, other sensors
        others = ", ".join(name for name, _ in candidates[1:])
        return DetectorGuess(candidates[0][0], None, f"only pixel size of this shape, {_um(candidates[0][1])}; "
                             f"also {others}, another sensor", candidates)
    if not candidates:
        return DetectorGuess(None, None, f"no pyFAI detector gives {shape[0]} x {shape[1]} images and the file "
                             "states no pixel size", candidates)
    listed = ", ".join(f"{name} ({_um(p)})" for name, p in candidates)
    return DetectorGuess(None, None, f"ambiguous: {len(candidates)} pyFAI detectors give {shape[0]} x {shape[1]} "
                         f"images, candidates {listed}", candidates)


def _from_header(pixel: tuple[float, float], sensor: str | None,
                 candidates: tuple[tuple[str, float], ...]) -> DetectorGuess:
    """The registry detector of the header's pixel size (and sensor), else a generic one of that size."""
    basis = f"header pixel size {_um(pixel)}"
    size = float(np.sqrt(pixel[0] * pixel[1]))
    fitting = [name for name, p in candidates if abs(p / size - 1) < PIXEL_MATCH]
    if sensor is not None:
        basis += f", {sensor} sensor"
        same = [name for name in fitting if ("cdte" in name.lower()) == (sensor == "CdTe")]
        fitting = same or fitting
    if not fitting:
        return DetectorGuess(None, pixel, basis + "; no pyFAI detector of this shape has it", candidates)
    if len(fitting) > 1:
        basis += f"; also {', '.join(fitting[1:])}"
    return DetectorGuess(fitting[0], None, basis, candidates)


def header_pixel_um(header: Mapping[str, object], source: str | Path | None = None,
                    shape: tuple[int, int] | None = None) -> tuple[float, float] | None:
    """(vertical, horizontal) pixel size in µm that the file header states, None if it states none.

    A MarCCD file read as a plain TIFF (fabio does so for a ``.tif`` name) keeps its own header at
    byte 1024 of the file: it is read there, and trusted only if its image size is ``shape``.
    """
    text = {str(k): str(v) for k, v in header.items()}
    for key, value in text.items():
        found = _PILATUS_PIXEL.search(f"{key} {value}")
        if found:
            return _checked(float(found.group(2)) * 1e6, float(found.group(1)) * 1e6)
    for vertical, horizontal, scale in _PIXEL_KEYS:
        if vertical in text and horizontal in text:
            pixel = _checked(_number(text[vertical]) * scale, _number(text[horizontal]) * scale)
            if pixel is not None:
                return pixel
    return _marccd_tiff_pixel_um(source, shape) if source is not None and shape is not None else None


def _marccd_tiff_pixel_um(source: str | Path, shape: tuple[int, int]) -> tuple[float, float] | None:
    path = Path(str(source).split("::")[0])
    if path.suffix.lower() not in (".tif", ".tiff"):
        return None
    try:
        with open(path, "rb") as handle:
            handle.seek(_MARCCD_OFFSET)
            block = handle.read(_MARCCD_SIZE)
    except OSError:
        return None
    if len(block) != _MARCCD_SIZE:
        return None
    fields = interpret_header(block, HEADER_FORMAT, HEADER_NAMES)
    if (fields.get("nslow"), fields.get("nfast")) != tuple(shape):
        return None  # not a MarCCD header (another TIFF's bytes there)
    return _checked(fields["pixelsize_y"] * 1e-3, fields["pixelsize_x"] * 1e-3)


def _sensor(header: Mapping[str, object]) -> str | None:
    """The sensor material a Pilatus/Eiger header names ("CdTe" or "silicon"), if any."""
    for key, value in header.items():
        found = _PILATUS_SENSOR.search(f"{key} {value}")
        if found:
            return "CdTe" if found.group(1).lower() == "cdte" else "silicon"
    return None


def _number(text: str) -> float:
    try:
        return float(text.split()[0])
    except (ValueError, IndexError):
        return float("nan")


def _checked(vertical_um: float, horizontal_um: float) -> tuple[float, float] | None:
    low, high = PIXEL_RANGE_UM
    if all(np.isfinite(p) and low <= p <= high for p in (vertical_um, horizontal_um)):
        return float(vertical_um), float(horizontal_um)
    return None


def _pixel_um(name: str, shape: tuple[int, int]) -> float:
    """Pixel size (µm) of the named detector at this image shape (binning included)."""
    detector = make_detector(name, shape=shape)
    return float(np.sqrt(detector.pixel1 * detector.pixel2)) * 1e6


def _um(pixel: float | tuple[float, float]) -> str:
    v, h = (pixel, pixel) if np.isscalar(pixel) else pixel
    return f"{v:.4g} µm" if abs(v - h) <= 1e-6 * max(v, h) else f"{v:.4g} x {h:.4g} µm"
