"""Files that Dioptas reads right: a calibration (.poni) of its own, and masks (.mask).

Dioptas (0.11 and before) flips every image up-down as it loads it (its fabio, PIL and HDF5
loaders all take ``data[::-1]``) and computes 2θ on that flipped array with a detector of its own,
of pyFAI's default orientation 3: ``CalibrationModel.load`` takes the numbers of a .poni but swaps
in its own detector, so the orientation written in the file is lost. Its own ``save`` writes those
numbers with orientation 2, which pyFAI reads right on the unflipped image.

A file for Dioptas therefore holds the geometry re-expressed for orientation 2 of the raw image
(the same numbers are orientation 3 of the flipped image): pyFAI, xcal and Dioptas all give every
pixel the same 2θ from it. What no single file can keep is χ: Dioptas' frame is the mirror image of
an orientation-3 detector, so its χ is −χ. xcal's own .poni therefore stays in the geometry's own
orientation (pyFAI's convention, χ exact) and Dioptas gets a file of its own (``write_dioptas_poni``).

Masks: Dioptas saves its mask array as a TIFF (PIL) in the rows of its flipped image and reads
``.mask`` rows as they are; its "Vertically flipped mask" choice does the same for .npy and .edf in
the raw image's rows. xcal writes ``.mask`` in Dioptas' rows and marks every TIFF mask it writes
with the rows it holds (``MASK_ROWS_KEY`` in the TIFF description); on reading, an unmarked
``.mask`` is Dioptas' unless fabio's TIFF writer made it (xcal before the marker, pyFAI tools):
those hold the raw rows. ``.tif``/``.tiff``, ``.edf`` and ``.npy`` hold the raw image's rows.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import fabio
import numpy as np
from PIL import Image as PILImage
from pyFAI.detectors import Detector
from pyFAI.geometry import Geometry

from ..errors import FitError, GeometryFileError
from ..geometry.transforms import raw_geometry
from .poni import write_poni

if TYPE_CHECKING:
    from ..calibration.session import CalibrationSession

DIOPTAS_ORIENTATION = 2
"""Orientation of the raw image whose numbers Dioptas uses (as orientation 3) on its flipped image."""

_FLIPPED = {1: (True, True), 2: (True, False), 3: (False, False), 4: (False, True)}
"""pyFAI's detector orientations: which axis (slow, fast) is mirrored with respect to orientation 3."""

MASK_ROWS_KEY = "xcal_mask_rows"
"""Key of the TIFF description that says whose rows a mask file holds: ``dioptas`` or ``image``."""

_DIOPTAS_ROWS_SUFFIXES = (".mask",)
_TIFF_SUFFIXES = (".mask", ".tif", ".tiff")


# -- calibration -----------------------------------------------------------------------------------
def dioptas_geometry(geometry: Geometry) -> Geometry:
    """``geometry`` (for the raw image) re-expressed for detector orientation 2, as Dioptas needs it.

    Mirroring the slow axis puts poni1 at the far edge (H·pixel1 − poni1) and turns rot2 and rot3
    over; mirroring the fast axis does so for poni2 (W·pixel2 − poni2) and rot1, and takes rot3 to
    π − rot3. Every pixel keeps its 2θ exactly; rot3 is chosen so that χ becomes exactly −χ (a
    mirror) rather than −χ plus an offset.

    :raises GeometryFileError: a detector without a size, or with a distortion spline.
    """
    detector = geometry.detector
    if detector.shape is None:
        raise GeometryFileError("cannot write the calibration for Dioptas: the detector has no size "
                                "(load the image first)")
    if detector.splinefile:
        raise GeometryFileError("cannot write the calibration for Dioptas: a detector with a distortion "
                                "spline cannot be mirrored")
    source = _FLIPPED[int(detector.orientation or 3)]
    slow, fast = (a != b for a, b in zip(source, _FLIPPED[DIOPTAS_ORIENTATION]))
    poni1, poni2 = geometry.poni1, geometry.poni2
    rot1, rot2, rot3 = geometry.rot1, geometry.rot2, geometry.rot3
    if slow:
        poni1, rot2, rot3 = detector.shape[0] * detector.pixel1 - poni1, -rot2, -rot3
    if fast:
        poni2, rot1, rot3 = detector.shape[1] * detector.pixel2 - poni2, -rot1, math.pi - rot3
    target = Detector.factory(type(detector).__name__, {**detector.get_config(), "orientation": DIOPTAS_ORIENTATION})
    return Geometry(dist=geometry.dist, poni1=poni1, poni2=poni2, rot1=rot1, rot2=rot2,
                    rot3=math.remainder(rot3, 2 * math.pi), detector=target, wavelength=geometry.wavelength)


def write_dioptas_poni(path: str | os.PathLike, geometry: Geometry, comments: list[str] | tuple[str, ...] = ()) -> None:
    """Write ``geometry`` (for the raw image) as a .poni that Dioptas and pyFAI both read right, atomically.

    :raises GeometryFileError: the geometry cannot be mirrored (see ``dioptas_geometry``) or the
        file cannot be written.
    """
    note = ("For Dioptas: detector orientation 2, the numbers Dioptas uses on its up-down flipped image; "
            "pyFAI and xcal read it right on the raw image (2θ exact, χ mirrored)")
    write_poni(path, dioptas_geometry(geometry), [*comments, note])


def save_session_for_dioptas(session: CalibrationSession, path: str | os.PathLike) -> None:
    """Save the session's calibration for Dioptas: the geometry ``save_poni`` saves, in Dioptas' convention."""
    if session.geometry is None or session.raw is None:
        raise FitError("There is no calibration to save yet.")
    geometry = raw_geometry(session.geometry, session.transform, session.raw.shape, session.raw_detector)
    comments = [f"Calibrated with xcal on {session.raw.name}"]
    if session.calibrant_name:
        comments.append(f"Calibrant: {session.calibrant_name}")
    write_dioptas_poni(path, geometry, comments)


# -- masks -----------------------------------------------------------------------------------------
def _tiff_tags(path: Path) -> dict:
    """The TIFF tags of ``path`` (PIL reads only the header); empty if it is no TIFF PIL can open."""
    try:
        with PILImage.open(path) as image:
            return dict(getattr(image, "tag_v2", {}))
    except Exception:  # noqa: BLE001 - PIL raises many types; the mask reader reports unreadable files
        return {}


def dioptas_rows(path: str | os.PathLike) -> bool:
    """Whether the mask file ``path`` holds Dioptas' rows (up-down flipped with respect to the image).

    A TIFF that xcal wrote says so in its description; an unmarked ``.mask`` is Dioptas' unless
    fabio's TIFF writer made it (xcal before the marker, pyFAI tools), which writes the raw rows.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _TIFF_SUFFIXES:
        return False
    tags = _tiff_tags(path)
    description, software = str(tags.get(270, "")), str(tags.get(305, ""))
    for rows in ("dioptas", "image"):
        if f"{MASK_ROWS_KEY}={rows}" in description:
            return rows == "dioptas"
    return suffix in _DIOPTAS_ROWS_SUFFIXES and bool(tags) and "fabio" not in software


def image_rows(path: str | os.PathLike, data: np.ndarray) -> np.ndarray:
    """The mask ``data`` read from ``path`` in the raw image's rows (flipped back if the file holds Dioptas')."""
    return data[::-1] if dioptas_rows(path) else data


def tiff_mask(path: str | os.PathLike, mask: np.ndarray) -> fabio.tifimage.TifImage:
    """The TIFF to write for ``mask`` (raw rows) at ``path``: Dioptas' rows for ``.mask``, marked as such."""
    flip = Path(path).suffix.lower() in _DIOPTAS_ROWS_SUFFIXES
    data = np.ascontiguousarray(mask[::-1] if flip else mask)
    return fabio.tifimage.TifImage(data=data, header={MASK_ROWS_KEY: "dioptas" if flip else "image"})
