"""Sample images integrated with the session's calibration: integration mode's engine (no Qt).

The calibration lives in the session's working frame (the raw image after the user's rotations
and flips); a sample image is brought into that frame, integrated with the session's geometry,
the detector's gaps and the user's mask, and, for a batch, everything is taken back to the raw
frame the files on disk are in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyFAI.detectors import Detector
from pyFAI.geometry import Geometry

from ..calibration.session import CalibrationSession
from ..errors import FitError, ImageError
from ..geometry.detectors import detector_mask
from ..geometry.transforms import ImageTransform, raw_geometry
from ..integration import outputs
from ..integration.corrections import Corrections
from ..integration.integrator import Cake, IntegrationSettings, Integrator, Pattern, calibrant_positions
from ..integration.outputs import geometry_header, pattern_format, write_pattern
from ..io.images import Image
from .batch_job import Recipe


@dataclass(eq=False)
class SampleFrame:
    """One sample frame in the working frame, with its own unusable pixels (negative, non-finite)."""

    image: Image
    data: np.ndarray
    invalid: np.ndarray


@dataclass(eq=False)
class Integrated:
    sample: SampleFrame
    geometry: Geometry
    settings: IntegrationSettings
    pattern: Pattern
    cake: Cake | None


def _frame(session: CalibrationSession) -> tuple[Geometry, ImageTransform, tuple[int, int] | None]:
    """The calibration, its transform and the raw shape it was made for (None: a .poni alone)."""
    if session.geometry is None:
        raise FitError("There is no calibration yet: calibrate, or load a .poni file, first.")
    if session.raw is None:
        return session.geometry, ImageTransform(), None
    return session.geometry, session.transform, session.raw.shape


def working_sample(session: CalibrationSession, image: Image) -> SampleFrame:
    """``image`` in the calibration's working frame; an image of another shape is refused."""
    geometry, transform, raw_shape = _frame(session)
    expected = raw_shape or (tuple(geometry.detector.shape) if geometry.detector.shape is not None else None)
    if expected is not None and tuple(image.shape) != tuple(expected):
        raise ImageError(f"{image.name} is {image.shape[0]} x {image.shape[1]} pixels but the calibration is for "
                         f"{expected[0]} x {expected[1]} images.")
    data = np.ascontiguousarray(transform.apply(image.data))
    return SampleFrame(image, data, np.ascontiguousarray(transform.apply(image.invalid)))


def _gaps(session: CalibrationSession) -> tuple[np.ndarray | None, Detector]:
    """The detector gaps every integration masks (raw frame; None: none) and the detector they come from."""
    geometry, _, raw_shape = _frame(session)
    detector = session.raw_detector if session.raw_detector is not None else geometry.detector
    shape = raw_shape or (tuple(detector.shape) if detector.shape is not None else None)
    return (detector_mask(detector, shape) if shape is not None else None), detector


def static_mask(session: CalibrationSession, shape: tuple[int, int]) -> np.ndarray | None:
    """The detector's gaps and the user's mask (when in use), in the working frame of ``shape``."""
    transform = _frame(session)[1]
    parts = []
    gaps = _gaps(session)[0]
    if gaps is not None:
        parts.append(transform.apply(gaps))  # no raw image: no transform either
    if session.use_mask and session.user_mask is not None and session.user_mask.shape == tuple(shape):
        parts.append(session.user_mask)
    return np.ascontiguousarray(np.logical_or.reduce(parts)) if parts else None


def working_corrections(corrections: Corrections, transform: ImageTransform) -> Corrections:
    """Correction images (raw frame, as read from files) turned like the calibration."""
    if transform.is_identity or corrections.empty:
        return corrections
    turned = {kind: None if getattr(corrections, kind) is None else np.ascontiguousarray(transform.apply(getattr(corrections, kind)))
              for kind in ("dark", "flat", "background")}
    return Corrections(**turned, background_scale=corrections.background_scale, names=dict(corrections.names))


def integrate_sample(session: CalibrationSession, sample: SampleFrame, integrator: Integrator,
                     settings: IntegrationSettings, corrections: Corrections | None = None, cake: bool = True,
                     sigma: bool = False) -> Integrated:
    """Pattern (with Poisson errors if ``sigma``) and cake of the sample with the session's calibration.

    ``corrections`` are in the working frame (:func:`working_corrections`).
    """
    geometry = _frame(session)[0]
    mask = static_mask(session, sample.data.shape)
    pattern = integrator.integrate(sample.data, geometry, settings, mask, corrections, sample.invalid, sigma)
    caked = integrator.integrate_cake(sample.data, geometry, settings, mask, corrections, sample.invalid) if cake else None
    return Integrated(sample, geometry, settings, pattern, caked)


def save_sample_pattern(path: str | Path, session: CalibrationSession, sample: SampleFrame, integrator: Integrator,
                        settings: IntegrationSettings, corrections: Corrections) -> None:
    """Integrate the sample (with Poisson errors) and write its pattern in the format the name says.

    ``corrections`` are in the raw frame, as the user loaded them. The header (and a NeXus file's
    geometry) describe the raw file, as a batch's would. :raises XcalError: a name or unit the
    format cannot take (before integrating), or the file cannot be written.
    """
    pattern_format(path, settings.unit)
    working = working_corrections(corrections, _frame(session)[1])
    pattern = integrate_sample(session, sample, integrator, settings, working, cake=False, sigma=True).pattern
    write_pattern(path, pattern, output_header(session, settings, corrections, sample.image.name),
                  title=sample.image.name, geometry=_raw_geometry(session), settings=settings)


def line_positions(dspacing: np.ndarray | None, geometry: Geometry, unit: str) -> np.ndarray:
    """Where lines of these d-spacings fall in ``unit`` (none without d-spacings or wavelength)."""
    if dspacing is None or not geometry.wavelength:
        return np.empty(0)
    return calibrant_positions(dspacing, geometry.wavelength, unit)


def output_header(session: CalibrationSession, settings: IntegrationSettings, corrections: Corrections,
                  image_name: str | None = None) -> list[str]:
    """Header lines of a saved pattern: image, geometry (as for the raw file), settings, corrections."""
    geometry = _raw_geometry(session)
    lines = [f"Image: {image_name}"] if image_name else []
    lines += geometry_header(geometry) + settings.header()
    return lines + [mask_header(session), *corrections.header()]


def mask_header(session: CalibrationSession) -> str:
    """The header line saying exactly what ``static_mask`` and each image's own invalid pixels exclude."""
    gaps, detector = _gaps(session)
    return outputs.mask_header(detector, gaps, session.user_mask if session.use_mask else None)


def _raw_geometry(session: CalibrationSession) -> Geometry:
    geometry, transform, raw_shape = _frame(session)
    if raw_shape is None or transform.is_identity:
        return geometry
    return raw_geometry(geometry, transform, raw_shape, session.raw_detector)


def batch_recipe(session: CalibrationSession, settings: IntegrationSettings, folder: str | Path,
                 formats: tuple[str, ...], cake_formats: tuple[str, ...], corrections: Corrections,
                 overwrite: bool = False) -> Recipe:
    """The session's calibration as a batch recipe for the raw files (rotations and flips undone)."""
    transform = _frame(session)[1]
    mask = None
    if session.raw is not None:  # the gaps of the session's detector, as in the window (the header says so)
        working = static_mask(session, session.data.shape)
        mask = None if working is None else np.ascontiguousarray(transform.invert(working))
    header = output_header(session, settings, corrections)
    return Recipe(_raw_geometry(session), settings, Path(folder), tuple(formats), tuple(cake_formats), mask,
                  corrections, header, overwrite)
