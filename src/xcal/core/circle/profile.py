"""Which circles on an image are rings: the peaks of its azimuthally averaged radial profile.

A ring is a peak of the profile about its centre: the intensity rises AND falls across it, over a
width small next to its radius. The other circles of a SAXS image are not rings. The edge of the
detector's active area, a beamstop's shadow and the detector's outline are steps (no fall, or no
rise), and the halo of scattered direct beam around a beamstop rises out of the shadow and decays
over a distance comparable with its radius (it is not resolved from the beam). The strongest ring
is the one with the highest peak above its higher base: the clearest to calibrate from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

from xcal.core.geometry.conics import Circle

MIN_COUNT = 20  # pixels in a 1 px wide ring bin for its mean to count
MIN_SNR = 6.0  # peak height over the standard error of the bin's mean
MAX_RELATIVE_WIDTH = 0.25  # FWHM over radius: a wider peak is the beam's halo, not a ring
MIN_WIDTH_PX = 1.5  # a narrower peak is one bin: a hot spot the clipping left
CLIP_SIGMA = 5.0  # pixels this far from their bin's mean (zingers, hot pixels) are left out
MAX_PIXELS = 2e6  # a larger image is profiled on every 2nd (3rd...) row and column


@dataclass(frozen=True)
class ProfilePeak:
    """A ring seen in the radial profile about (row, col)."""

    row: float
    col: float
    radius: float  # px, the peak bin's centre
    height: float  # above the higher of the peak's two bases, image units
    snr: float  # height over the standard error of the peak bin's mean
    width: float  # full width at half height, px

    @property
    def circle(self) -> Circle:
        return Circle(self.row, self.col, self.radius)


class RadialProfiles:
    """Radial profiles of one image about any centre: the valid pixels are listed once (every
    ``step``-th row and column of a large image: 2 Mpx hold plenty per 1 px ring, and stay fast)."""

    def __init__(self, data: np.ndarray, invalid: np.ndarray | None) -> None:
        step = max(1, int(np.sqrt(data.size / MAX_PIXELS)))
        data = data[::step, ::step]
        valid = np.isfinite(data) if invalid is None else (~invalid[::step, ::step] & np.isfinite(data))
        rows, cols = np.nonzero(valid)
        self.values = data[rows, cols].astype(np.float64)
        self.rows, self.cols = (rows * step).astype(np.float32), (cols * step).astype(np.float32)

    def profile(self, centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, its standard error and the pixel count in 1 px rings about ``centre``, after one pass
        of clipping pixels beyond ``CLIP_SIGMA`` of their ring's mean."""
        k = np.hypot(self.rows - np.float32(centre[0]), self.cols - np.float32(centre[1])).astype(np.int64)
        mean, sd, count = _moments(k, self.values, None)
        keep = np.abs(self.values - mean[k]) <= CLIP_SIGMA * sd[k]
        mean, sd, count = _moments(k, self.values, keep)
        return mean, sd / np.sqrt(np.maximum(count, 1)), count

    def peaks(self, centre: tuple[float, float]) -> list[ProfilePeak]:
        """The rings about ``centre``, strongest first."""
        mean, se, count = self.profile(centre)
        enough = count >= MIN_COUNT
        if enough.sum() < 8:
            return []
        first, last = np.flatnonzero(enough)[[0, -1]]
        r = np.arange(first, last + 1)
        smooth = ndimage.gaussian_filter1d(np.interp(r, r[enough[r]], mean[r][enough[r]]), 1.0)
        k, props = signal.find_peaks(smooth, prominence=0.0)
        prominence = (props["prominences"], props["left_bases"], props["right_bases"])
        width = signal.peak_widths(smooth, k, rel_height=0.5, prominence_data=prominence)[0]
        found = []
        for j, i in enumerate(k):
            radius, height, b = float(r[i]) + 0.5, float(props["prominences"][j]), r[i]
            snr = height / max(float(se[b]), 1e-12 * max(abs(float(mean[b])), 1.0))
            if (enough[b] and snr >= MIN_SNR and MIN_WIDTH_PX <= width[j] <= MAX_RELATIVE_WIDTH * radius):
                found.append(ProfilePeak(float(centre[0]), float(centre[1]), radius, height, snr, float(width[j])))
        return sorted(found, key=lambda p: -p.height)

    def is_ring(self, circle: Circle, tolerance_px: float = 3.0) -> bool:
        """Whether a peak of the profile about the circle's centre lies on the circle."""
        return any(abs(p.radius - circle.radius) <= max(tolerance_px, 0.5 * p.width)
                   for p in self.peaks((circle.row, circle.col)))


def _moments(k: np.ndarray, values: np.ndarray, keep: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard deviation and count of ``values`` per bin ``k`` (only the ``keep`` ones)."""
    w = None if keep is None else keep.astype(np.float64)
    n_bins = int(k.max()) + 1 if len(k) else 1
    count = np.bincount(k, w, n_bins)
    total = np.bincount(k, values if w is None else values * w, n_bins)
    square = np.bincount(k, values * values if w is None else values * values * w, n_bins)
    n = np.maximum(count, 1)
    mean = total / n
    return mean, np.sqrt(np.maximum(square / n - mean * mean, 0.0)), count
