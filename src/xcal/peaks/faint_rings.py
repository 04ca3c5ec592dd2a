"""Rings too faint to see pixel by pixel, found by averaging along them.

A ring of 30 counts over a background of 1000 is invisible in any one pixel (signal-to-noise about
one) but plain once the thousands of pixels along it are averaged, and averaging along a ring
needs its centre. The centre comes from the image's point symmetry: on a flat detector a powder
pattern is nearly symmetric about the beam, so the image convolved with itself peaks at twice the
beam centre, where every ring pixel meets its mirror image (one FFT for all rings at once). The
centre is then refined by cross-correlating the radial profiles of azimuthal sectors (a centre
error shifts the rings outwards on one side and inwards on the other), and the rings are the peaks
of the azimuthally averaged profile.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from .coordinates import EllipseCoordinate
from .ring_finder import FoundRing, RingSearch, arc_coverage_deg
from .sector_peaks import Candidates, sector_points

TARGET_SIZE = 512  # binned image size for the symmetry search
SECTORS = 24  # azimuthal sectors whose profiles refine the centre
BIN_PX = 0.5  # radial profile bin
MIN_OVERLAP = 0.15  # a centre needs this fraction of the valid pixels to have a valid mirror image
MATCHED_SIGMA = 1.0  # binned pixels: the smoothing across faint rings before the symmetry search
MIN_SYMMETRY_SNR = 7.0  # autoconvolution peak over its noise (pure noise peaks near 5): below, no centre
MIN_PROFILE_SNR = 6.0  # a ring's peak in the averaged profile over the profile's noise


def _normalised(data: np.ndarray, valid: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
    """b×b-binned image less its smooth background, in units of its noise; 0 where invalid."""
    h, w = (data.shape[0] // b) * b, (data.shape[1] // b) * b
    shape = (h // b, b, w // b, b)
    total = np.where(valid, data, 0.0)[:h, :w].reshape(shape).sum(axis=(1, 3), dtype=np.float64)
    count = valid[:h, :w].reshape(shape).sum(axis=(1, 3)).astype(float)
    ok = count > 0.5 * b * b
    mean = np.where(ok, total / np.maximum(count, 1), 0.0)
    background = _smooth(mean, ok, 8.0)
    z = np.where(ok, mean - background, 0.0)
    # rings are a few binned pixels wide: average across them (a matched filter of sorts)
    z = ndimage.gaussian_filter(z, MATCHED_SIGMA) * ok
    spread = 1.4826 * np.median(np.abs(z[ok])) if ok.any() else 0.0
    z = np.clip(z / spread, -5.0, 5.0) if spread > 0 else z  # hot pixels and bright rings must not dominate
    return z, ok


def _smooth(values: np.ndarray, ok: np.ndarray, sigma: float | tuple[float, ...]) -> np.ndarray:
    """Gaussian average over the valid entries only (no dip at gaps and edges); a sigma of 0 on
    an axis leaves that axis unsmoothed."""
    weight = ndimage.gaussian_filter(ok.astype(float), sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 1e-3, ndimage.gaussian_filter(np.where(ok, values, 0.0), sigma) / weight, 0.0)


def _autoconvolution_noise() -> float:
    """Standard deviation of the normalised autoconvolution of pure noise, in _normalised's units.

    Each pair of pixels enters the convolution twice (i with k-i, and k-i with i), and the matched
    filter correlates neighbours: std = sqrt(2 Σ ρ²) with ρ the filter's normalised autocorrelation.
    The signal's own structure must not count as noise, which is why this is not measured on the image.
    """
    delta = np.zeros((41, 41))
    delta[20, 20] = 1.0
    kernel = ndimage.gaussian_filter(delta, MATCHED_SIGMA)
    rho = signal.correlate(kernel, kernel)
    rho /= rho.max()
    return float(np.sqrt(2.0 * np.sum(rho**2)))


def symmetry_centre(data: np.ndarray, valid: np.ndarray) -> tuple[tuple[float, float], float]:
    """Centre of point symmetry (row, col) of the image and its signal-to-noise.

    The autoconvolution is divided by the square root of the number of valid pixel pairs behind
    each value, so that pure noise has the same spread at every candidate centre.
    """
    b = max(1, int(round(max(data.shape) / TARGET_SIZE)))
    z, ok = _normalised(data, valid, b)
    size = (2 * z.shape[0], 2 * z.shape[1])
    f = np.fft.rfft2(z, s=size)
    conv = np.fft.irfft2(f * f, s=size)
    fo = np.fft.rfft2(ok.astype(float), s=size)
    pairs = np.fft.irfft2(fo * fo, s=size)
    enough = pairs > MIN_OVERLAP * ok.sum()
    score = np.where(enough, conv / np.sqrt(np.maximum(pairs, 1.0)), 0.0)
    i, j = np.unravel_index(np.argmax(score), score.shape)
    # conv index k pairs bins summing to k: the centre is at k/2 binned pixels
    return ((i / 2 + 0.5) * b - 0.5, (j / 2 + 0.5) * b - 0.5), float(score[i, j] / _autoconvolution_noise())


class _Polar:
    """Valid pixels in polar coordinates about a centre, and their radial profiles."""

    def __init__(self, data: np.ndarray, valid: np.ndarray, centre: tuple[float, float], step: int = 1) -> None:
        rows, cols = np.nonzero(valid[::step, ::step])
        self.rows, self.cols = rows * step, cols * step
        self.values = data[self.rows, self.cols].astype(np.float64)
        self.move_to(centre)
        self.n_bins = int(self.radius.max() / BIN_PX) + 2

    def move_to(self, centre) -> None:
        """Radius and azimuth of every pixel about ``centre`` (row, col)."""
        self.centre = (float(centre[0]), float(centre[1]))
        dr, dc = self.rows - self.centre[0], self.cols - self.centre[1]
        self.radius = np.hypot(dr, dc)
        self.phi = np.arctan2(dr, dc)

    def profiles(self, n_sectors: int, shift: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """High-passed mean profile of each sector (n_sectors, n_bins) and pixel counts; radius
        corrected by ``shift`` (per pixel) first."""
        radius = self.radius if shift is None else self.radius - shift
        k = np.clip((radius / BIN_PX).astype(np.int64), 0, self.n_bins - 1)
        sector = np.minimum(((self.phi + np.pi) / (2 * np.pi) * n_sectors).astype(np.int64), n_sectors - 1)
        flat = sector * self.n_bins + k
        count = np.bincount(flat, minlength=n_sectors * self.n_bins).reshape(n_sectors, self.n_bins)
        total = np.bincount(flat, self.values, minlength=n_sectors * self.n_bins).reshape(n_sectors, self.n_bins)
        ok = count > 0
        mean = np.where(ok, total / np.maximum(count, 1), 0.0)
        background = _smooth(mean, ok, (0.0, 6.0 / BIN_PX))  # a smooth curve under the rings
        return np.where(ok, mean - background, 0.0), count

    def smoothed_profiles(self, n_sectors: int) -> np.ndarray:
        """Sector profiles averaged over about a ring width (1 px): less noise to match."""
        prof, _ = self.profiles(n_sectors)
        return ndimage.gaussian_filter1d(prof, 1.0 / BIN_PX, axis=1)


def _vertex(values: np.ndarray, k: int) -> float:
    """Offset from ``k`` of the vertex of the parabola through values k-1, k, k+1 (0 at an edge)."""
    if not 0 < k < len(values) - 1:
        return 0.0
    left, peak, right = values[k - 1], values[k], values[k + 1]
    denom = left - 2 * peak + right
    return float(0.5 * (left - right) / denom) if denom < 0 else 0.0


def _pair_shift(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[float, float]:
    """Radial shift (bins) of profile ``a`` against ``b`` and the correlation peak (0: none)."""
    corr = signal.correlate(a, b, mode="full", method="fft")
    mid = len(a) - 1
    window = corr[mid - max_lag : mid + max_lag + 1]
    k = int(np.argmax(window))
    if not (0 < k < len(window) - 1 and window[k] > 0):
        return 0.0, 0.0
    return k - max_lag + _vertex(window, k), float(window[k])


def _ring_offsets(prof: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of a linear model of the rings' radial offset f(φ) = Δcol cos φ + Δrow sin φ +
    e1 cos 2φ + e2 sin 2φ, measured between sectors half a turn apart (sensitive to the centre)
    and a quarter turn apart (sensitive to the ellipticity), and their weights.

    Sectors are compared with each other, never with the average profile: about a wrong centre
    the average ring is a broad double-horned blur that would pull every match to a horn.
    """
    n = len(prof)
    phi = -np.pi + (np.arange(n) + 0.5) * 2 * np.pi / n
    basis = np.column_stack([np.cos(phi), np.sin(phi), np.cos(2 * phi), np.sin(2 * phi)])
    pairs = [(s, s + n // 2) for s in range(n // 2)] + [(s, (s + n // 4) % n) for s in range(n)]
    rows, values, weights = [], [], []
    for s, o in pairs:
        shift, peak = _pair_shift(prof[s], prof[o], max_lag)
        if peak > 0:
            rows.append(basis[s] - basis[o])
            values.append(shift * BIN_PX)
            weights.append(peak)
    return np.array(rows).reshape(-1, 4), np.array(values), np.array(weights)


def _sharpness(polar: _Polar, centre: np.ndarray, ellipse: np.ndarray) -> float:
    """How sharp the averaged rings are about ``centre``: the squared signal of the profile."""
    polar.move_to(centre)
    prof, count = polar.profiles(1, ellipse[0] * np.cos(2 * polar.phi) + ellipse[1] * np.sin(2 * polar.phi))
    return float(np.sum(prof[0] ** 2 * count[0]))


def refine_centre(polar: _Polar, max_shift_px: float = 8.0, passes: int = 6) -> tuple[tuple[float, float], np.ndarray]:
    """Centre moved until opposite sectors' rings line up, and the remaining ellipticity of the
    rings (a tilted detector): coefficients (e1, e2) of cos 2φ and sin 2φ, in pixels.

    On faint rings a sector's match can be noise, so a move is kept only if it sharpens the
    averaged profile.
    """
    centre = np.array(polar.centre, dtype=float)
    ellipse = np.zeros(2)
    best = _sharpness(polar, centre, ellipse)
    for _ in range(passes):
        prof = polar.smoothed_profiles(SECTORS)
        design, offsets, weights = _ring_offsets(prof, int(np.ceil(2 * max_shift_px / BIN_PX)))
        if len(offsets) < 12:
            break
        w = np.sqrt(weights / weights.max())
        use = np.ones(len(offsets), bool)
        for _ in range(3):  # a sector spoilt by a streak or a spot must not pull the centre
            coef, *_ = np.linalg.lstsq(design[use] * w[use, None], offsets[use] * w[use], rcond=None)
            resid = offsets - design @ coef
            spread = 1.4826 * np.median(np.abs(resid[use])) + 0.05
            keep = np.abs(resid) < 4 * spread
            if keep.sum() < 12 or (keep == use).all():
                break
            use = keep
        trial, trial_ellipse = centre + (coef[1], coef[0]), coef[2:]
        sharpness = _sharpness(polar, trial, trial_ellipse)
        if sharpness <= best:
            break
        best, centre, ellipse = sharpness, trial, trial_ellipse
        moved = float(np.hypot(coef[0], coef[1]))
        max_shift_px = max(2.0, 3 * moved)
        if moved < 0.02:
            break
    polar.move_to(centre)
    return polar.centre, ellipse


def _profile_peaks(polar: _Polar, ellipse: np.ndarray, max_rings: int) -> list[tuple[float, float]]:
    """(radius, snr) of the peaks of the averaged, ellipticity-corrected profile, by radius."""
    shift = ellipse[0] * np.cos(2 * polar.phi) + ellipse[1] * np.sin(2 * polar.phi)
    prof, count = polar.profiles(1, shift)
    prof, count = prof[0], count[0]
    enough = count >= 20
    # noise of a bin's mean: the spread of the pixel values about the profile, over √count
    noise = 1.4826 * np.median(np.abs(prof[enough] - np.median(prof[enough]))) if enough.sum() > 10 else np.inf
    level = np.where(enough, prof / max(noise, 1e-12), 0.0)
    level = ndimage.gaussian_filter1d(level, 1.0)
    peaks, props = signal.find_peaks(level, height=MIN_PROFILE_SNR, distance=max(1, int(3.0 / BIN_PX)))
    order = np.argsort(props["peak_heights"])[::-1][:max_rings]
    found = []
    for k in peaks[order]:
        found.append(((k + 0.5 + _vertex(level, k)) * BIN_PX, float(level[k])))
    return sorted(found)


def _points_on(polar: _Polar, ellipse: np.ndarray, radius: float, snr: float) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel points on the ring, sectors long enough to hold a clear peak each."""
    half_px = max(4.0, 2.0 + 2 * np.hypot(ellipse[0], ellipse[1]))
    near = np.abs(polar.radius - radius) < half_px + 1
    coord = EllipseCoordinate.circle(polar.centre[0], polar.centre[1], radius)
    pixels = Candidates(polar.rows[near].astype(float), polar.cols[near].astype(float), polar.values[near],
                        polar.radius[near] / radius, polar.phi[near])
    n_sectors = int(np.clip((snr / MIN_PROFILE_SNR) ** 2, 8, 360))
    found = sector_points(pixels, coord, 1.0, half_px / radius, n_sectors, min_snr=3.0)
    return found.rows, found.cols


def find_faint_rings(data: np.ndarray, invalid: np.ndarray | None, max_rings: int = 30) -> RingSearch:
    """Beam centre and rings of an image whose rings stand out only when averaged along them.

    The search's ``contrast`` is the signal-to-noise of the point symmetry; a ring's ``points``
    are measured on it, one per sector long enough to show it, and its ``strength`` is its
    signal-to-noise in the averaged profile.
    """
    valid = np.isfinite(data) if invalid is None else (~invalid & np.isfinite(data))
    if valid.sum() < 1000:
        return RingSearch((data.shape[0] / 2, data.shape[1] / 2), 0.0, [])
    data = np.where(valid, data, 0.0)
    start, snr = symmetry_centre(data, valid)
    if snr < MIN_SYMMETRY_SNR:
        return RingSearch(start, snr, [])
    step = max(1, int(np.sqrt(valid.size / 2e6)))  # enough pixels for the profiles, fast on 12 Mpx
    polar = _Polar(data, valid, start, step)
    centre, ellipse = refine_centre(polar)
    rings = []
    for radius, ring_snr in _profile_peaks(polar, ellipse, max_rings):
        rows, cols = _points_on(polar, ellipse, radius, ring_snr)
        if len(rows) >= 3:
            rings.append(FoundRing(centre[0], centre[1], radius, np.column_stack([rows, cols]),
                                   arc_coverage_deg(rows, cols, centre), ring_snr))
    return RingSearch(centre, snr, rings)
