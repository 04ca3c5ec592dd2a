"""Saturated regions: pixels stuck at the detector's (or the image's) maximum, excluded like gaps.

A saturated blob has no peak shape: a click on it, or a ring window crossing it, yields points
at the blob's edge, and half an image stuck at the maximum fed a calibration 270 mm off. Two
signs, each enough: the maximum is a counter's full scale (2^n − 1 counts), or the maximum forms
a flat plateau of identical values, which no diffraction peak does. A maximum that is also the
image's typical value (a flat frame) is not saturation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

FULL_SCALE = tuple(float(np.float32(2.0**bits - 1)) for bits in (12, 14, 15, 16, 18, 20, 24, 31, 32))
MIN_PLATEAU = 9  # connected pixels of one identical maximum value: a flat top, not a peak


@dataclass
class SaturatedPixels:
    mask: np.ndarray  # True = saturated
    value: float
    count: int  # pixels at the maximum, before the margin

    def describe(self) -> str:
        fraction = self.count / self.mask.size
        return f"{self.count} saturated pixels ({100 * fraction:.2g} % of the image, value {self.value:g}) were excluded."


def find_saturated(data: np.ndarray, invalid: np.ndarray | None = None) -> SaturatedPixels | None:
    """The saturated pixels of ``data`` (see the module docstring), or None if there are none."""
    valid = np.isfinite(data) if invalid is None else (~invalid & np.isfinite(data))
    if not valid.any():
        return None
    values = data[valid]
    top = float(np.max(values))
    if top <= 0 or top <= float(np.percentile(values[:: max(len(values) // 100_000, 1)], 10)):
        return None  # a flat frame: its maximum is its typical value, not saturation
    at_top = valid & (data == top)
    count = int(at_top.sum())
    if count < 2:
        return None
    if top not in FULL_SCALE:
        labels, n = ndimage.label(at_top, structure=np.ones((3, 3), bool))
        if n == 0 or np.bincount(labels.ravel())[1:].max() < MIN_PLATEAU:
            return None
    return SaturatedPixels(at_top, top, count)
