"""Dark, flat and background images applied before integration.

The corrected signal is ``(data − dark) − scale·(background − dark)``: the background (empty
cell, air, kapton) is an image taken like the sample, so it carries the same dark current. The
flat divides in the normalisation, as pyFAI does. Pixels a correction cannot use (non-finite
dark/background, flat ≤ 0) are masked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ImageError
from ..io.images import load_image, split_hdf5_source


@dataclass(eq=False)
class Corrections:
    """Correction images of the detector's raw shape; any may be None. Treat the arrays as read-only."""

    dark: np.ndarray | None = None
    flat: np.ndarray | None = None
    background: np.ndarray | None = None
    background_scale: float = 1.0
    names: dict[str, str] = field(default_factory=dict)  # kind → file, for output headers

    @classmethod
    def load(cls, dark: str | os.PathLike | None = None, flat: str | os.PathLike | None = None,
             background: str | os.PathLike | None = None, background_scale: float = 1.0,
             shape: tuple[int, int] | None = None) -> "Corrections":
        """Read the correction files (any image format, ``file.h5::/dataset``), checking their shape."""
        if not np.isfinite(background_scale):
            raise ImageError(f"The background scale must be a finite number (got {background_scale}).")
        arrays, names = {}, {}
        for kind, source in (("dark", dark), ("flat", flat), ("background", background)):
            if source is None:
                continue
            image = load_image(source)
            if shape is not None and tuple(image.shape) != tuple(shape):
                raise ImageError(f"The {kind} image {image.name} is {image.shape[0]} x {image.shape[1]} pixels "
                                 f"but the images to integrate are {shape[0]} x {shape[1]}.")
            arrays[kind] = image.data
            names[kind] = Path(split_hdf5_source(source)[0]).name
        return cls(**arrays, background_scale=float(background_scale), names=names)

    @property
    def empty(self) -> bool:
        return self.dark is None and self.flat is None and self.background is None

    def check_shape(self, shape: tuple[int, int]) -> None:
        for kind in ("dark", "flat", "background"):
            array = getattr(self, kind)
            if array is not None and array.shape != tuple(shape):
                raise ImageError(f"The {kind} image is {array.shape[0]} x {array.shape[1]} pixels but the image "
                                 f"is {shape[0]} x {shape[1]}.")

    def signal(self, data: np.ndarray) -> np.ndarray:
        """The image with dark and scaled background subtracted (float32; ``data`` itself if none)."""
        if self.dark is None and self.background is None:
            return data
        out = np.array(data, dtype=np.float32)
        if self.dark is not None:
            out -= self.dark
        if self.background is not None:
            background = self.background if self.dark is None else self.background - self.dark
            out -= np.float32(self.background_scale) * background
        return out

    def variance(self, data: np.ndarray) -> np.ndarray:
        """Poisson variance of the corrected signal: each image counts, as pyFAI's 'poisson' model."""
        var = np.maximum(data, 1.0, dtype=np.float32)
        if self.dark is not None:
            var += np.maximum(self.dark, 0.0) * np.float32((1 - self.background_scale) ** 2 if self.background is not None else 1.0)
        if self.background is not None:
            var += np.float32(self.background_scale ** 2) * np.maximum(self.background, 1.0)
        return var

    def invalid(self) -> np.ndarray | None:
        """Pixels no correction can be applied to (True = excluded), None if there are none."""
        bad = None
        for array in (self.dark, self.background):
            if array is not None:
                part = ~np.isfinite(array)
                bad = part if bad is None else bad | part
        if self.flat is not None:
            with np.errstate(invalid="ignore"):
                part = ~(np.isfinite(self.flat) & (self.flat > 0))
            bad = part if bad is None else bad | part
        return bad if bad is not None and bad.any() else None

    def header(self) -> list[str]:
        lines = [f"{kind.capitalize()}: {name}" for kind, name in self.names.items()]
        if self.background is not None:
            lines.append(f"Background scale: {self.background_scale:g}")
        return lines
