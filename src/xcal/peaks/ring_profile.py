"""The image's rings as one radial profile about a geometry's beam centre, for checking ring numbers.

Under a geometry with distance D, every pixel has a radius ρ = D·tan 2θ / pixel: its distance
from the beam centre on a detector that is not tilted. ρ barely depends on whether D (or the
ring numbers that set it) is right, because a fit with the wrong numbers still puts the rings
where they are on the image; only the centre and the tilt matter, and those the picked ring
fixes. The profile of the image along ρ has a peak at every ring, whatever the geometry
calls it, so the ratios of the peak radii (tan 2θ ratios) say which calibrant lines they are,
at which wavelength, and whether the calibrant is the one on the image at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyFAI.geometry import Geometry
from scipy import ndimage, signal

from ..core.geometry.detectors import pixel_size
from ..core.geometry.refinement import PointModel

MAX_BLOCKS = 1_200_000  # ρ is computed per pixel up to this size, per b×b block beyond
BIN_PX = 0.5  # profile bin width in pixels of ρ
MIN_SNR = 6.0  # a profile peak must stand this many standard errors over its background
BACKGROUND_PX = 12.0  # half width of the rolling background (wider than any ring, narrower than ring spacing mostly)


@dataclass
class RingProfile:
    """Peaks of the tilt-corrected radial profile: one per ring the image shows."""

    radii: np.ndarray  # ρ of each peak, pixels, sorted
    snr: np.ndarray  # peak height over its standard error
    pixel: float  # metres: ρ·pixel = D·tan 2θ

    def __len__(self) -> int:
        return len(self.radii)


def _blocks(data: np.ndarray, valid: np.ndarray, max_blocks: int) -> tuple[np.ndarray, ...]:
    """Centres, pixel counts, sums and sums of squares of the b×b blocks that hold valid pixels.

    Every valid pixel counts (weak rings need all their photons), while ρ is computed once per
    block: b grows with the image so that at most ~``max_blocks`` are left (the last rows and
    columns that do not fill a block are left out). A block blurs ρ by less than b pixels, far
    below the ring spacing the checks resolve.
    """
    b = max(int(round(np.sqrt(valid.size / max_blocks))), 1)
    if b == 1:
        rows, cols = np.nonzero(valid)
        values = data[rows, cols].astype(np.float64)
        return rows.astype(float), cols.astype(float), np.ones(len(rows)), values, values * values
    h, w = (data.shape[0] // b) * b, (data.shape[1] // b) * b
    values = np.where(valid[:h, :w], data[:h, :w], 0.0)
    ok = valid[:h, :w]
    count = np.zeros((h // b, w // b))
    total = np.zeros_like(count)
    square = np.zeros_like(count)
    for i in range(b):  # b² strided views: much faster than summing over axes of a 4-D reshape
        for j in range(b):
            part = values[i::b, j::b]
            count += ok[i::b, j::b]
            total += part
            square += part * part
    rows, cols = np.nonzero(count)
    centre = (b - 1) / 2.0  # pixel i's centre is at i (pyFAI)
    return rows * b + centre, cols * b + centre, count[rows, cols], total[rows, cols], square[rows, cols]


def ring_profile(data: np.ndarray, invalid: np.ndarray | None, geometry: Geometry, min_snr: float = MIN_SNR) -> RingProfile:
    """Peaks of the mean intensity against ρ (see the module docstring), strongest rings included."""
    valid = np.isfinite(data) if invalid is None else (~invalid & np.isfinite(data))
    pixel = pixel_size(geometry.detector)
    empty = RingProfile(np.empty(0), np.empty(0), pixel)
    if not valid.any():
        return empty
    rows, cols, weight, total_b, square_b = _blocks(data, valid, MAX_BLOCKS)
    tth = PointModel(geometry, rows, cols).tth()
    rho = geometry.dist * np.tan(np.minimum(tth, np.deg2rad(89.0))) / pixel
    index = (rho / BIN_PX).astype(np.int64)
    n = int(index.max()) + 1
    count = np.bincount(index, weights=weight, minlength=n)
    total = np.bincount(index, weights=total_b, minlength=n)
    square = np.bincount(index, weights=square_b, minlength=n)
    filled = count >= 3
    if filled.sum() < 20:
        return empty
    mean = np.where(filled, total / np.maximum(count, 1), np.nan)
    var = np.where(filled, square / np.maximum(count, 1) - mean**2, np.nan)
    se = np.sqrt(np.clip(var, 0, None) / np.maximum(count - 1, 1))
    # Empty bins (gaps, outside the image) are bridged so they make no false peaks.
    x = np.arange(n)
    mean = np.interp(x, x[filled], mean[filled])
    se = np.interp(x, x[filled], se[filled])
    half = max(int(BACKGROUND_PX / BIN_PX), 3)
    background = ndimage.minimum_filter1d(mean, 2 * half + 1, mode="nearest")
    background = ndimage.uniform_filter1d(ndimage.maximum_filter1d(background, 2 * half + 1, mode="nearest"), 2 * half + 1, mode="nearest")
    signal_ = mean - background
    # Rings are narrow, so the scatter inside a bin is mostly the ring's own slope: a floor from
    # the scatter between neighbouring bins keeps the noise honest.
    diff_noise = 1.4826 * np.median(np.abs(np.diff(signal_))) / np.sqrt(2)
    noise = np.maximum(se, 0.5 * diff_noise) + 1e-12
    peaks, props = signal.find_peaks(signal_, prominence=0.0)
    if len(peaks) == 0:
        return empty
    snr = props["prominences"] / noise[peaks]
    keep = (snr >= min_snr) & filled[peaks]
    peaks, snr = peaks[keep], snr[keep]
    # sub-bin position: parabola through the peak bin and its neighbours
    lo, hi = np.clip(peaks - 1, 0, n - 1), np.clip(peaks + 1, 0, n - 1)
    y0, y1, y2 = signal_[lo], signal_[peaks], signal_[hi]
    denom = y0 - 2 * y1 + y2
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (y0 - y2) / np.where(np.abs(denom) > 1e-12, denom, 1.0), 0.0)
    radii = (peaks + 0.5 + np.clip(shift, -0.5, 0.5)) * BIN_PX
    ok = radii > 2.0
    return RingProfile(radii[ok], snr[ok], pixel)
