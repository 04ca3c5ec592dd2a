"""Mask files: a boolean array of the image shape, True = excluded (pyFAI / Fit2D convention).

Masks are read without the checks an image gets: an all-zero mask (nothing masked) is valid.
"""

from __future__ import annotations

import os
from pathlib import Path

import fabio
import numpy as np

from .errors import ImageError


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask from .npy, or any image format fabio reads (.edf, .tif, .mask); non-zero = masked.

    :raises ImageError: unreadable file, not 2D, or (with ``shape``) a shape that does not fit,
        naming both shapes.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ImageError(f"Mask {name}: no such file ({path}).")
    try:
        if path.suffix.lower() == ".npy":
            data = np.load(path, allow_pickle=False)
        else:
            with fabio.open(str(path)) as img:
                data = np.asarray(img.data)
    except Exception as exc:  # fabio raises many types for unreadable files
        raise ImageError(f"Mask {name}: cannot be read ({exc}).") from None
    if data.ndim != 2:
        raise ImageError(f"Mask {name}: expected a 2D array, found {data.ndim} dimensions.")
    if shape is not None and tuple(data.shape) != tuple(shape):
        raise ImageError(
            f"Mask {name} is {data.shape[0]} x {data.shape[1]} pixels but the image is {shape[0]} x {shape[1]}."
        )
    return np.asarray(data != 0)
