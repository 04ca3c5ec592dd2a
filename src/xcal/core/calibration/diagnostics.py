"""Can this calibration be trusted? Diagnostics of a geometry on its calibrant image.

A fit's RMS alone hides systematic errors: a beam centre 1 px off leaves rings that are still
thin, only shifted. The telling signs are shapes: a ring whose residual Δ2θ(χ) follows a sine
(first harmonic) is off-centre or wrongly tilted; cake lines that bend or sit beside their
calibrant positions mean the same. This module measures those shapes, in pixels (the unit users
judge a detector by), and turns them into a plain verdict: good / check / bad, with the reason.

Everything works for a finished fit (its points, uncertainties and correlations) and for a bare
geometry, e.g. a loaded .poni (points are then extracted on the image with that geometry; there
are no uncertainties).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from pyFAI.geometry import Geometry
from pyFAI.integrator.azimuthal import AzimuthalIntegrator

from ...peaks.coordinates import GeometryCoordinate
from ...peaks.ring_extraction import ExtractionOptions, extract_rings, search_windows
from ..errors import FitError, XcalError
from ..geometry.refinement import ControlPoints, FitResult, PointModel, geometry_values, radial_pixel_gradient, ring_tth
from ..integration.integrator import Cake
from .pipeline import CalibrationResult

if TYPE_CHECKING:
    from .session import CalibrationSession

# -- verdict thresholds, in pixels: perfect synthetic geometries are "good", the same moved by 1-2 px
# or tilted 0.2° are not, and the real reference calibrations are judged as their provenance says
# (tests/test_diagnostics.py). Real detectors leave ~0.2 px of scatter and ~0.1 px of systematic
# residual with a good geometry.
NOISE_CHECK_PX, NOISE_BAD_PX = 0.5, 1.5  # RMS scatter of the points about their (displaced) rings
SYSTEMATIC_CHECK_PX, SYSTEMATIC_BAD_PX = 0.2, 1.5  # RMS of the smooth part (offset + first harmonic) of the residuals
HARMONIC_CHECK_PX, HARMONIC_BAD_PX = 0.3, 1.0  # first-harmonic amplitude of a ring's Δ(χ)
HARMONIC_SIGNIFICANCE = 4.0  # an amplitude counts only beyond this many standard errors
HARMONIC_MIN_COVERAGE_DEG = 180.0  # on a shorter arc the harmonic trades off against the offset
CAKE_CHECK_PX, CAKE_BAD_PX = 0.4, 1.2  # RMS of the cake lines' distance to their calibrant positions
MIN_POINTS, MIN_RINGS = 50, 2
STRONG_CORRELATION = 0.95
LEVELS = ("good", "check", "bad")
CAKE_CHI_BIN_DEG = 5.0  # cake rows are averaged into χ bins this wide before peaks are located
CAKE_MIN_SNR = 5.0


@dataclass
class RingDiagnostics:
    """Residuals of one ring along χ and the fit of ``offset + A·cos(χ − phase)`` to them."""

    ring: int  # 0-based calibrant line
    tth_deg: float  # its 2θ
    chi_deg: np.ndarray  # per point
    delta_deg: np.ndarray  # per point, observed − expected 2θ
    delta_px: np.ndarray  # the same, as a radial distance in pixels (positive: ring lies outside)
    rms_deg: float
    rms_px: float
    offset_px: float  # mean radial shift: a distance (or wavelength) error if all rings share it
    harmonic_px: float  # first-harmonic amplitude: centre or tilt error
    harmonic_sigma_px: float  # its standard error (large for short arcs)
    harmonic_phase_deg: float  # χ towards which the observed ring is displaced
    coverage_deg: float  # azimuthal span covered by the points

    @property
    def count(self) -> int:
        return len(self.chi_deg)

    @property
    def significant(self) -> bool:
        """A first harmonic that is both measurable (a long enough arc) and beyond its noise."""
        return self.coverage_deg >= HARMONIC_MIN_COVERAGE_DEG and self.harmonic_px > HARMONIC_SIGNIFICANCE * self.harmonic_sigma_px

    def model_px(self, chi_deg: np.ndarray) -> np.ndarray:
        """The fitted offset + first harmonic at ``chi_deg``, for plotting over the points."""
        return self.offset_px + self.harmonic_px * np.cos(np.radians(np.asarray(chi_deg) - self.harmonic_phase_deg))


@dataclass
class ResidualMap:
    """Mean signed radial residual (px) of the points in square bins over the detector; NaN: no point."""

    mean_px: np.ndarray  # (n_rows, n_cols) bins
    counts: np.ndarray
    bin_px: int  # bin size in detector pixels; bin (i, j) covers rows [i·bin, (i+1)·bin)


@dataclass
class CakeLine:
    """Where one calibrant line lies in the cake, χ bin by χ bin."""

    ring: int
    expected_deg: float
    chi_deg: np.ndarray  # centres of the χ bins where the line was located
    peak_deg: np.ndarray
    deviation_px: np.ndarray  # peak − expected, in pixels


@dataclass
class Straightness:
    """How far the cake lines stray from their calibrant positions (the one-number cake check)."""

    lines: list[CakeLine]
    rms_px: float  # RMS of all deviations: 0 for straight lines on their calibrant positions
    scatter_px: float  # RMS after removing each line's mean: bending only, whatever the offset

    @property
    def samples(self) -> int:
        return int(sum(len(line.chi_deg) for line in self.lines))


@dataclass
class Correlations:
    """Correlations between the free parameters of the fit, and the pairs beyond ±0.95."""

    free: tuple[str, ...]
    matrix: np.ndarray
    strong: list[tuple[str, str, float]]


@dataclass
class Verdict:
    """The plain answer for the user: a level and the reasons behind it, worst first."""

    level: str  # "good", "check" or "bad"
    reasons: list[str]

    @property
    def text(self) -> str:
        return f"{self.level.upper()}: " + " ".join(self.reasons)


@dataclass
class Diagnostics:
    """Everything computed about one geometry on its image; ``verdict`` is judged on creation."""

    geometry: Geometry
    shape: tuple[int, int]
    rings: list[RingDiagnostics]
    residual_map: ResidualMap
    straightness: Straightness
    correlations: Correlations | None  # None without a fit
    sigma: dict[str, float]  # 1σ of the free parameters (SI units); empty without a fit
    warnings: list[str]  # the fit's own warnings
    checks: list[tuple[int, str]] = field(default_factory=list)  # graded findings of the calibration's checks (trust)
    verdict: Verdict = field(init=False)

    def __post_init__(self) -> None:
        self.verdict = judge(self)

    @property
    def n_points(self) -> int:
        return int(sum(r.count for r in self.rings))

    @property
    def rms_px(self) -> float:
        d = np.concatenate([r.delta_px for r in self.rings]) if self.rings else np.empty(0)
        return float(np.sqrt(np.nanmean(d**2))) if len(d) else float("nan")

    @property
    def systematic_px(self) -> float:
        """RMS over all points of each ring's smooth displacement: the error of the geometry itself."""
        m = np.concatenate([r.model_px(r.chi_deg) for r in self.rings]) if self.rings else np.empty(0)
        return float(np.sqrt(np.nanmean(m**2))) if len(m) else float("nan")

    @property
    def noise_px(self) -> float:
        """RMS scatter of the points beyond the smooth displacement: the quality of the peaks."""
        return float(np.sqrt(max(self.rms_px**2 - self.systematic_px**2, 0.0)))

    @property
    def rms_deg(self) -> float:
        d = np.concatenate([r.delta_deg for r in self.rings]) if self.rings else np.empty(0)
        return float(np.sqrt(np.mean(d**2))) if len(d) else float("nan")

    @property
    def fitted(self) -> bool:
        return self.correlations is not None


# -- per-ring residuals ---------------------------------------------------------------------------


def first_harmonic(chi_rad: np.ndarray, delta: np.ndarray, clip_mads: float = 5.0) -> tuple[float, float, float, float]:
    """(offset, amplitude, its standard error, phase in rad) of ``delta ≈ offset + A·cos(χ − phase)``.

    Refits drop points beyond ``clip_mads`` scaled MADs of the model, so a few stray points
    (a spot, a gap edge) do not fake a harmonic.
    """
    a = np.column_stack([np.ones_like(chi_rad), np.cos(chi_rad), np.sin(chi_rad)])
    keep = np.isfinite(delta)
    coef = np.zeros(3)
    for _ in range(3):
        if keep.sum() < 4:
            return float(np.nanmean(delta)) if keep.any() else 0.0, 0.0, float("inf"), 0.0
        coef = np.linalg.lstsq(a[keep], delta[keep], rcond=None)[0]
        res = delta - a @ coef
        mad = 1.4826 * np.median(np.abs(res[keep]))
        new = np.isfinite(delta) & (np.abs(res) <= clip_mads * max(mad, 1e-3))
        if np.array_equal(new, keep):
            break
        keep = new
    res = (delta - a @ coef)[keep]
    s2 = float(res @ res) / max(int(keep.sum()) - 3, 1)
    try:
        cov = np.linalg.inv(a[keep].T @ a[keep]) * s2
    except np.linalg.LinAlgError:
        cov = np.full((3, 3), np.inf)
    c, s = coef[1], coef[2]
    amp = float(np.hypot(c, s))
    if amp > 0:
        var = (c * c * cov[1, 1] + s * s * cov[2, 2] + 2 * c * s * cov[1, 2]) / (amp * amp)
    else:
        var = 0.5 * (cov[1, 1] + cov[2, 2])
    return float(coef[0]), amp, float(np.sqrt(max(var, 0.0))), float(np.arctan2(s, c))


def _coverage_deg(chi_deg: np.ndarray) -> float:
    if len(chi_deg) < 2:
        return 0.0
    x = np.sort(np.mod(chi_deg, 360.0))
    gaps = np.diff(np.concatenate([x, [x[0] + 360.0]]))
    return float(360.0 - gaps.max())


def point_residuals(geometry: Geometry, points: ControlPoints, dspacing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Δ2θ in degrees, the same as a radial distance in pixels) of each point, as the fit computes them."""
    expected = ring_tth(dspacing, points.rings, geometry.wavelength)
    delta_rad = PointModel(geometry, points.rows, points.cols).tth() - expected
    grad = radial_pixel_gradient(geometry, points.rows, points.cols)
    return np.degrees(delta_rad), delta_rad / np.where(grad > 0, grad, np.nan)


def ring_diagnostics(geometry: Geometry, points: ControlPoints, dspacing: np.ndarray, delta_deg: np.ndarray,
                     delta_px: np.ndarray) -> list[RingDiagnostics]:
    """Per-ring residual curves Δ(χ) of ``points`` and their offset + first-harmonic fits."""
    if len(points) == 0:
        return []
    chi = PointModel(geometry, points.rows, points.cols).chi()
    expected = ring_tth(dspacing, points.rings, geometry.wavelength)
    out = []
    for ring in np.unique(points.rings):
        sel = points.rings == ring
        chi_r, dpx = chi[sel], delta_px[sel]
        offset, amp, amp_sigma, phase = first_harmonic(chi_r, dpx)
        out.append(RingDiagnostics(
            int(ring), float(np.degrees(expected[sel][0])), np.degrees(chi_r), delta_deg[sel], dpx,
            float(np.sqrt(np.mean(delta_deg[sel] ** 2))), float(np.sqrt(np.nanmean(dpx**2))),
            offset, amp, amp_sigma, float(np.degrees(phase)), _coverage_deg(np.degrees(chi_r)),
        ))
    return out


def residual_map(points: ControlPoints, delta_px: np.ndarray, shape: tuple[int, int], bins: int = 64) -> ResidualMap:
    """Mean signed residual in square bins, ``bins`` along the longer side of the image."""
    bin_px = max(int(np.ceil(max(shape) / bins)), 1)
    n_rows, n_cols = -(-shape[0] // bin_px), -(-shape[1] // bin_px)
    i = np.clip(np.floor((points.rows + 0.5) / bin_px).astype(int), 0, n_rows - 1)
    j = np.clip(np.floor((points.cols + 0.5) / bin_px).astype(int), 0, n_cols - 1)
    ok = np.isfinite(delta_px)
    flat = (i * n_cols + j)[ok]
    counts = np.bincount(flat, minlength=n_rows * n_cols).reshape(n_rows, n_cols)
    sums = np.bincount(flat, weights=delta_px[ok], minlength=n_rows * n_cols).reshape(n_rows, n_cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / counts, np.nan)
    return ResidualMap(mean, counts, bin_px)


# -- cake straightness ----------------------------------------------------------------------------


def quick_cake(data: np.ndarray, invalid: np.ndarray | None, geometry: Geometry, npt_azimuth: int = 72) -> Cake:
    """A coarse 2θ × χ cake for the straightness check, ~1 radial bin per pixel, no pixel splitting.

    Without splitting pyFAI needs no pixel-corner arrays: ~0.3-0.5 s on 4 Mpx (2 cores) where the
    display cake takes ~2 s the first time. Pass the display cake to :func:`diagnose` when there is one.
    """
    ai = AzimuthalIntegrator(detector=geometry.detector, **geometry_values(geometry))
    ai.auto_gc = False
    npt_radial = int(np.clip(np.hypot(*data.shape), 200, 4000))
    res = ai.integrate2d(data, npt_radial, npt_azimuth, unit="2th_deg", mask=invalid, method=("no", "histogram", "cython"))
    return Cake(np.asarray(res.intensity), np.asarray(res.radial), np.asarray(res.azimuthal), "2th_deg")


def _chi_bins(cake: Cake, width_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Average the cake's rows into χ bins about ``width_deg`` wide (empty cells, 0 in pyFAI, ignored)."""
    step = float(np.median(np.diff(cake.azimuth))) if len(cake.azimuth) > 1 else 360.0
    group = max(int(round(width_deg / step)), 1)
    n = len(cake.azimuth) // group
    if n == 0:
        return cake.intensity, cake.azimuth
    inten = cake.intensity[: n * group].reshape(n, group, -1)
    filled = (inten != 0) & np.isfinite(inten)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(filled.sum(1) > 0, np.where(filled, inten, 0).sum(1) / filled.sum(1), 0.0)
    return mean, cake.azimuth[: n * group].reshape(n, group).mean(1)


def _line_peaks(profiles: np.ndarray, radial: np.ndarray, centre: float, half: float, noise: np.ndarray) -> np.ndarray:
    """Peak position of one line in each row (NaN where it is not clearly there).

    Background: the line through the window's end bins; position: background-subtracted centroid
    over a window recentred on the estimate, three times (unbiased for a symmetric peak).
    """
    sel = np.flatnonzero(np.abs(radial - centre) <= half)
    out = np.full(len(profiles), np.nan)
    if len(sel) < 5:
        return out
    x, y = radial[sel], profiles[:, sel]
    complete = np.all((y != 0) & np.isfinite(y), axis=1)  # a masked cell would bias the centroid
    bg = y[:, :1] + (y[:, -1:] - y[:, :1]) * (x - x[0]) / (x[-1] - x[0])
    sig = y - bg
    height = sig[:, 1:-1].max(axis=1)
    inside = (np.argmax(sig, axis=1) > 0) & (np.argmax(sig, axis=1) < len(sel) - 1)
    strong = complete & inside & (height > CAKE_MIN_SNR * noise)
    pos = np.full(len(profiles), centre)
    w = np.clip(sig, 0, None)
    step = float(np.median(np.diff(radial)))
    for _ in range(3):
        win = np.abs(x[None, :] - pos[:, None]) <= 0.5 * half + 0.5 * step
        ww = np.where(win, w, 0.0)
        tot = ww.sum(axis=1)
        pos = np.where(tot > 0, (ww * x).sum(axis=1) / np.where(tot > 0, tot, 1), pos)
    out[strong] = pos[strong]
    return out


def cake_straightness(cake: Cake, geometry: Geometry, dspacing: np.ndarray, chi_bin_deg: float = CAKE_CHI_BIN_DEG) -> Straightness:
    """Locate every resolvable calibrant line in each χ bin of the cake and measure its straightness."""
    if cake.unit != "2th_deg" or cake.intensity.size == 0:
        return Straightness([], float("nan"), float("nan"))
    profiles, chi = _chi_bins(cake, chi_bin_deg)
    radial = np.asarray(cake.radial, dtype=float)
    tth_all = ring_tth(dspacing, np.arange(len(dspacing)), geometry.wavelength)
    rings = np.flatnonzero(np.isfinite(tth_all) & (np.degrees(tth_all) > radial[0]) & (np.degrees(tth_all) < radial[-1]))
    if len(rings) == 0:
        return Straightness([], float("nan"), float("nan"))
    step = np.deg2rad(float(np.median(np.diff(radial))))
    # windows as in peak extraction, but at least 3 bins each side in a coarse cake
    centres, half = search_windows(geometry, dspacing, rings, max(np.deg2rad(0.1), 3 * step))
    coordinate = GeometryCoordinate(geometry)
    px_per_rad = np.array([coordinate.pixels_per_radial_unit(c) for c in centres])
    # noise of a cell: robust scatter of differences between neighbouring radial bins
    diffs = np.diff(np.where(profiles == 0, np.nan, profiles), axis=1)
    with np.errstate(all="ignore"):
        noise = 1.4826 * np.nanmedian(np.abs(diffs - np.nanmedian(diffs, axis=1, keepdims=True)), axis=1) / np.sqrt(2)
    noise = np.where(np.isfinite(noise), noise, np.inf)
    lines = []
    for ring, centre, hw, ppr in zip(rings, centres, half, px_per_rad):
        if hw < 2.5 * step or hw * ppr < 2.0:  # fewer bins or pixels than a peak needs
            continue
        peaks = _line_peaks(profiles, radial, np.degrees(centre), np.degrees(hw), noise)
        ok = np.isfinite(peaks)
        if ok.sum() < 3:
            continue
        dev = np.radians(peaks[ok] - np.degrees(centre)) * ppr
        lines.append(CakeLine(int(ring), float(np.degrees(centre)), chi[ok], peaks[ok], dev))
    if not lines:
        return Straightness([], float("nan"), float("nan"))
    dev = np.concatenate([line.deviation_px for line in lines])
    scatter = np.concatenate([line.deviation_px - np.median(line.deviation_px) for line in lines])
    return Straightness(lines, float(np.sqrt(np.mean(dev**2))), float(np.sqrt(np.mean(scatter**2))))


# -- correlations and verdict -----------------------------------------------------------------------


def correlations(fit: FitResult, threshold: float = STRONG_CORRELATION) -> Correlations:
    """The fit's correlation matrix and the pairs with |r| > ``threshold`` (e.g. distance–wavelength)."""
    m = np.asarray(fit.correlation, dtype=float)
    strong = [
        (fit.free[i], fit.free[j], float(m[i, j]))
        for i in range(len(fit.free)) for j in range(i + 1, len(fit.free))
        if np.isfinite(m[i, j]) and abs(m[i, j]) > threshold
    ]
    return Correlations(tuple(fit.free), m, strong)


def _off_centre(rings: list[RingDiagnostics]) -> list[RingDiagnostics]:
    """Rings with a significant first harmonic beyond HARMONIC_CHECK_PX, largest first.

    Empty unless two rings show it (or the only ring long enough to tell): a centre or tilt
    error shifts every ring, while one ring alone is more often a spotty ring or a module edge.
    """
    measurable = [r for r in rings if r.coverage_deg >= HARMONIC_MIN_COVERAGE_DEG]
    shifted = sorted((r for r in measurable if r.significant and r.harmonic_px > HARMONIC_CHECK_PX),
                     key=lambda r: -r.harmonic_px)
    return shifted if len(shifted) >= min(2, len(measurable)) else []


def _cause(d: Diagnostics, shifted: list[RingDiagnostics]) -> str:
    """What a systematic ring displacement points to, in words."""
    if shifted:
        worst = shifted[0]
        names = ", ".join(str(r.ring + 1) for r in sorted(shifted, key=lambda r: r.ring))
        free = set(d.correlations.free) if d.correlations is not None else set()
        why = ("the fit was free to move the centre and tilt, so the rings disagree with each other: the detector is not "
               "one flat plane, or points sit on wrong rings." if {"poni1", "poni2", "rot1", "rot2"} <= free
               else "the beam centre or the tilt is off.")
        return (f"ring{'s' if len(shifted) > 1 else ''} {names} {'are' if len(shifted) > 1 else 'is'} off-centre (the residual "
                f"follows a sine along χ, up to {worst.harmonic_px:.2f} px outwards towards χ = {worst.harmonic_phase_deg:.0f}°): {why}")
    if not any(r.coverage_deg >= HARMONIC_MIN_COVERAGE_DEG for r in d.rings):
        return ("the rings are only arcs on this detector, so a wrong beam centre, distance or tilt look alike "
                "(see Δ2θ versus χ).")
    mean = float(np.nanmean(np.concatenate([r.model_px(r.chi_deg) for r in d.rings])))
    if abs(mean) > 0.7 * d.systematic_px:
        side = "outside" if mean > 0 else "inside"
        return f"the rings lie {side} their predicted positions ({mean:+.2f} px on average): the distance or the wavelength is off."
    return "the displacement varies along the rings (see Δ2θ versus χ): the tilt, or the detector's flatness, is off."


def judge(d: Diagnostics) -> Verdict:
    """good / check / bad with plain-language reasons, from the thresholds at the top of this module."""
    if d.n_points == 0:
        return Verdict("bad", ["No calibrant ring was found where this geometry puts the rings."])
    systematic, noise, cake = d.systematic_px, d.noise_px, d.straightness.rms_px
    shifted = _off_centre(d.rings)
    geometry_level = _level(systematic, SYSTEMATIC_CHECK_PX, SYSTEMATIC_BAD_PX)
    if shifted:  # the second ring decides: one ring alone does not make a bad geometry
        key = shifted[min(1, len(shifted) - 1)].harmonic_px
        geometry_level = max(geometry_level, _level(key, HARMONIC_CHECK_PX, HARMONIC_BAD_PX))
    found = [(geometry_level, f"The rings sit {systematic:.2f} px (RMS) from where this geometry puts them, "
                              f"systematically: {_cause(d, shifted)}")]
    cake_level = _level(cake, CAKE_CHECK_PX, CAKE_BAD_PX)
    if cake_level > geometry_level:  # the cake tells something the points did not
        found.append((cake_level, f"The cake lines stray {cake:.2f} px (RMS) from their calibrant positions."))
    found.append((_level(noise, NOISE_CHECK_PX, NOISE_BAD_PX),
                  f"The points scatter {noise:.2f} px (RMS) about their rings, beyond any systematic shift: "
                  "noisy or spotty peaks, or points on the wrong ring."))
    if len(d.rings) < MIN_RINGS:
        found.append((1, "Only one ring was used: distance, tilt and centre are not determined independently."))
    if d.n_points < MIN_POINTS:
        found.append((1, f"Only {d.n_points} points were used."))
    found += [(1, w) for w in d.warnings]
    seen = {text for _, text in found}
    found += [(level, text) for level, text in d.checks if text not in seen]  # ring numbers, wavelength, calibrant
    found = sorted((f for f in found if f[0] > 0), key=lambda f: -f[0])
    if found:
        return Verdict(LEVELS[found[0][0]], [text for _, text in found])
    straight = f", cake lines within {cake:.2f} px of their positions" if np.isfinite(cake) else ""
    return Verdict("good", [f"RMS {d.rms_px:.3f} px over {d.n_points} points on {len(d.rings)} rings{straight}; "
                            f"no systematic ring displacement ({systematic:.3f} px)."])


def _level(value: float, check_at: float, bad_at: float) -> int:
    """0 (good), 1 (check) or 2 (bad); NaN (not measured) is good."""
    return 0 if not value > check_at else 1 if not value > bad_at else 2


# -- entry points ---------------------------------------------------------------------------------


def diagnose(
    source: CalibrationResult | FitResult | Geometry,
    data: np.ndarray,
    invalid: np.ndarray | None,
    dspacing: np.ndarray,
    cake: Cake | None = None,
    extraction: ExtractionOptions | None = None,
    map_bins: int = 64,
    checks: list[tuple[int, str]] | None = None,
) -> Diagnostics:
    """Diagnostics of a fit (or of a bare geometry, on points extracted with it) on its image.

    :param cake: a 2θ(°) × χ cake of ``data`` for the same geometry (the GUI's); made coarsely if None.
    :param extraction: peak search options, used only when ``source`` is a bare geometry.
    """
    dspacing = np.asarray(dspacing, dtype=float)
    warnings: list[str] = []
    if isinstance(source, CalibrationResult):
        warnings = list(source.warnings)
        source = source.fit
    if isinstance(source, FitResult):
        fit: FitResult | None = source
        geometry, points = source.geometry, source.points
        warnings = warnings or list(source.warnings)
        delta_deg, delta_px = source.residual_deg, source.residual_px
    else:
        fit, geometry = None, source
        points = extract_rings(data, invalid, geometry, dspacing, extraction)
        delta_deg, delta_px = point_residuals(geometry, points, dspacing)
    rings = ring_diagnostics(geometry, points, dspacing, delta_deg, delta_px)
    rmap = residual_map(points, delta_px, data.shape, map_bins)
    straight = cake_straightness(cake if cake is not None else quick_cake(data, invalid, geometry), geometry, dspacing)
    return Diagnostics(
        geometry, tuple(data.shape), rings, rmap, straight,
        correlations(fit) if fit is not None else None,
        dict(fit.sigma) if fit is not None else {},
        warnings,
        list(checks or []),
    )


def diagnose_points(fit: FitResult, dspacing: np.ndarray, shape: tuple[int, int], warnings: list[str] | None = None,
                    map_bins: int = 64) -> Diagnostics:
    """Diagnostics of a fit from its points alone (no cake): the verdict every calibration ends with."""
    rings = ring_diagnostics(fit.geometry, fit.points, np.asarray(dspacing, float), fit.residual_deg, fit.residual_px)
    rmap = residual_map(fit.points, fit.residual_px, shape, map_bins)
    return Diagnostics(fit.geometry, tuple(shape), rings, rmap, Straightness([], float("nan"), float("nan")),
                       correlations(fit), dict(fit.sigma), list(fit.warnings if warnings is None else warnings))


def diagnose_session(session: "CalibrationSession", cake: Cake | None = None, geometry: Geometry | None = None) -> Diagnostics:
    """Diagnostics of the session's current geometry (or ``geometry``), with its fit if it comes from one.

    :param geometry: the geometry a view was computed for, when the session may have moved on (GUI worker).
    """
    geometry = geometry if geometry is not None else session.geometry
    if geometry is None:
        raise FitError("There is no geometry to diagnose yet: calibrate or load a .poni file.")
    if session.dspacing is None:
        raise XcalError("Choose a calibrant first: the diagnostics compare the rings with its lines.")
    result = session.result
    source = result if result is not None and result.geometry is geometry else geometry
    checks = session.verdict.graded if session.verdict is not None and source is result else []
    return diagnose(source, session.data, session.invalid, session.dspacing, cake, checks=checks)
