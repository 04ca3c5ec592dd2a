"""Hot and dead pixel suggestions: pixels far brighter or darker than what surrounds them.

Two references for "what surrounds them":

* without a geometry, the 3 x 3 median of the image. Calibrant rings are often 1-2 pixels
  wide, so a ring pixel also stands above its 3 x 3 median; a hot pixel must in addition rise
  above its darkest neighbour at least twice as far as its *second* brightest neighbour does
  (a ring pixel has two bright neighbours along the ring; a hot pixel, or a pair, has not).
  Invalid neighbours count against flagging, so a pixel along a module gap is left alone.
* with a geometry (a map of every pixel's 2θ), the median and spread of the pixels at the
  same 2θ (one bin per pixel of radius): rings are part of the reference, so any pixel far off its ring's statistics is
  flagged - hot pixels, and also single-crystal spots (a diamond anvil's, say), which a user
  usually wants masked too.

The noise is the robust spread (1.4826 x MAD) of the residuals; for integer (counting) data it
is at least the Poisson noise of the reference, so weak backgrounds of 0/1 counts flag nothing.
The result is a suggestion: the user sees it and accepts it into the mask, or not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..progress import Task, ensure_task

MAD_TO_SIGMA = 1.4826
_CONTRAST = 2.0  # a hot pixel rises this many times higher than its second brightest neighbour
_MIN_BIN_PIXELS = 30  # fewer pixels at one 2θ give no usable statistics
_NEIGHBOURS = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], bool)


@dataclass
class BadPixels:
    hot: np.ndarray  # bool, image shape
    dead: np.ndarray
    method: str  # "median filter" or "azimuthal statistics"

    @property
    def mask(self) -> np.ndarray:
        return self.hot | self.dead

    def describe(self) -> str:
        return f"{int(self.hot.sum())} hot and {int(self.dead.sum())} dead pixels ({self.method})"


def find_bad_pixels(
    data: np.ndarray, invalid: np.ndarray, two_theta: np.ndarray | None = None, sigma: float = 8.0,
    task: Task | None = None,
) -> BadPixels:
    """Pixels more than ``sigma`` noise levels above (hot) or below (dead) their reference.

    ``invalid`` pixels (gaps, already masked ones) are never flagged and do not count in the
    statistics. With ``two_theta`` (every pixel's 2θ, any unit) the reference is the azimuthal
    statistics, else a median filter.
    """
    task = ensure_task(task)
    valid = ~np.asarray(invalid, bool) & np.isfinite(data)
    if not valid.any():
        empty = np.zeros(data.shape, bool)
        return BadPixels(empty, empty.copy(), "no valid pixels")
    filled = np.where(valid, data, np.median(data[valid])).astype(np.float32)
    counts = _looks_like_counts(filled[valid])
    if two_theta is None:
        return _median_filter(filled, valid, sigma, counts, task)
    return _azimuthal(filled, valid, np.asarray(two_theta), sigma, counts, task)


def _looks_like_counts(values: np.ndarray) -> bool:
    sample = values[:: max(1, values.size // 100_000)]
    return bool(np.all(sample == np.round(sample)))


def _noise(residual: np.ndarray, reference: np.ndarray, counts: bool) -> np.ndarray | float:
    spread = MAD_TO_SIGMA * float(np.median(np.abs(residual - np.median(residual)))) if residual.size else 0.0
    if counts:
        return np.maximum(spread, np.sqrt(np.maximum(reference, 1.0)))
    return spread if spread > 0 else float(np.std(residual)) or np.inf


def _median_filter(filled: np.ndarray, valid: np.ndarray, sigma: float, counts: bool, task: Task) -> BadPixels:
    task.report(0.0, "Median filter")
    median = ndimage.median_filter(filled, size=3, mode="nearest")
    residual = filled - median
    noise = _noise(residual[valid], median, counts)
    # invalid neighbours count as bright for the hot test and dark for the dead one: they can only
    # make a pixel look less isolated (a ring running into a module gap is not a hot pixel)
    task.report(0.4, "Comparing with the neighbours")
    bright = np.where(valid, filled, np.inf)
    lowest, second_high = -_top_two(-bright)[0], _top_two(bright)[1]
    task.report(0.7, "Comparing with the neighbours")
    dark = np.where(valid, filled, -np.inf)
    highest, second_low = _top_two(dark)[0], -_top_two(-dark)[1]
    with np.errstate(invalid="ignore"):  # inf - inf: a pixel among gaps, never flagged
        hot = valid & (residual > sigma * noise) & (filled - lowest > _CONTRAST * (second_high - lowest))
        dead = valid & (-residual > sigma * noise) & (highest - filled > _CONTRAST * (highest - second_low))
    return BadPixels(hot, dead, "median filter")


def _top_two(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest and second largest of each pixel's 8 neighbours (edges repeated), 3x faster than rank filters."""
    padded = np.pad(image, 1, mode="edge")
    rows, cols = image.shape
    first = np.full(image.shape, -np.inf, image.dtype)
    second = first.copy()
    for dr, dc in zip(*np.nonzero(_NEIGHBOURS)):
        neighbour = padded[dr:dr + rows, dc:dc + cols]
        np.maximum(second, np.minimum(first, neighbour), out=second)
        np.maximum(first, neighbour, out=first)
    return first, second


def _azimuthal(filled: np.ndarray, valid: np.ndarray, tth: np.ndarray, sigma: float, counts: bool,
               task: Task) -> BadPixels:
    nbins = max(int(np.hypot(*filled.shape)), 10)
    low, high = float(tth[valid].min()), float(tth[valid].max())
    bins = np.minimum(((tth[valid] - low) / max(high - low, 1e-12) * nbins).astype(np.intp), nbins - 1)
    values = filled[valid]
    task.report(0.3, "Median at each 2θ")
    median, size = _bin_medians(bins, values, nbins)
    residual = values - median[bins]
    task.report(0.6, "Spread at each 2θ")
    spread = MAD_TO_SIGMA * _bin_medians(bins, np.abs(residual), nbins)[0]
    noise = np.maximum(spread, np.sqrt(np.maximum(median, 1.0))) if counts else spread
    usable = (size >= _MIN_BIN_PIXELS)[bins] & (noise[bins] > 0)
    limit = sigma * noise[bins]
    hot, dead = np.zeros(filled.shape, bool), np.zeros(filled.shape, bool)
    hot[valid] = usable & (residual > limit)
    dead[valid] = usable & (-residual > limit)
    return BadPixels(hot, dead, "azimuthal statistics")


def _bin_medians(bins: np.ndarray, values: np.ndarray, nbins: int) -> tuple[np.ndarray, np.ndarray]:
    """Median of ``values`` in each bin (the upper one of an even count) and the bin sizes.

    One sort of bin + scaled value (in [0, 1)) orders by bin, then value: twice as fast as a lexsort.
    """
    low = float(values.min())
    span = float(values.max()) - low
    order = np.argsort(bins + (values - low) / (span * (1 + 1e-6) if span > 0 else 1.0))
    size = np.bincount(bins, minlength=nbins)
    start = np.cumsum(size) - size
    sorted_values = values[order]
    median = sorted_values[np.minimum(start + size // 2, len(values) - 1)]
    return np.where(size > 0, median, 0.0), size
