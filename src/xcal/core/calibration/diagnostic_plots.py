"""The diagnostics as pictures: matplotlib drawings for the report, plain arrays for the GUI.

Each ``draw_*`` function draws on an Axes it is given, so the report lays out its own pages and
the GUI can embed a matplotlib canvas; no pyplot, no global state (safe in a worker thread).
The GUI's pyqtgraph views can instead use the arrays of :mod:`xcal.core.calibration.diagnostics` directly,
plus :func:`harmonic_curve` and :func:`map_extent` here.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..integration.integrator import UNITS, Cake, Pattern
from .diagnostics import HARMONIC_MIN_COVERAGE_DEG, Correlations, Diagnostics, RingDiagnostics, Straightness

MAX_LEGEND = 12


def new_figure(width: float = 8.27, height: float = 5.0, dpi: int = 110) -> Figure:
    """A figure with no pyplot state behind it (A4 width by default)."""
    return Figure(figsize=(width, height), dpi=dpi)


def figure_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def harmonic_curve(ring: RingDiagnostics, n: int = 361) -> tuple[np.ndarray, np.ndarray]:
    """(χ°, fitted offset + first harmonic in px) over the full circle, to draw over a ring's points."""
    chi = np.linspace(-180.0, 180.0, n)
    return chi, ring.model_px(chi)


def map_extent(d: Diagnostics) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) of the residual map in image pixels, for imshow with origin 'upper'."""
    n_rows, n_cols = d.residual_map.mean_px.shape
    b = d.residual_map.bin_px
    return 0.0, float(n_cols * b), float(n_rows * b), 0.0


def _ring_colours(n: int) -> np.ndarray:
    from matplotlib import colormaps

    return colormaps["viridis"](np.linspace(0.0, 0.9, max(n, 1)))


def draw_delta_chi(ax: Axes, d: Diagnostics) -> None:
    """Δ2θ (as px) of every point versus χ, one colour per ring, with each ring's fitted sine."""
    colours = _ring_colours(len(d.rings))
    for k, (ring, colour) in enumerate(zip(d.rings, colours)):
        label = f"ring {ring.ring + 1}" if k < MAX_LEGEND else None
        ax.plot(ring.chi_deg, ring.delta_px, ".", ms=1.5, color=colour, alpha=0.5, label=label)
        if ring.coverage_deg >= HARMONIC_MIN_COVERAGE_DEG:  # on a shorter arc the sine means nothing
            chi, model = harmonic_curve(ring)
            ax.plot(chi, np.where(_within_coverage(chi, ring.chi_deg), model, np.nan), "-", lw=1.0, color=colour)
    ax.axhline(0.0, color="k", lw=0.6)
    lim = _robust_limit(np.concatenate([r.delta_px for r in d.rings]) if d.rings else np.zeros(1))
    ax.set_ylim(-lim, lim)
    ax.set_xlim(-180, 180)
    ax.set_xlabel("χ (°)")
    ax.set_ylabel("Δ2θ as radial distance (px)")
    ax.set_title("Residual versus χ (a sine means a centre or tilt error)")
    if d.rings:
        ax.legend(fontsize=6, markerscale=5, ncol=2, loc="upper right")


def _within_coverage(chi: np.ndarray, points_chi: np.ndarray, gap_deg: float = 15.0) -> np.ndarray:
    """True where ``chi`` lies within ``gap_deg`` of a point: the fitted curve is drawn only where there is data."""
    if len(points_chi) == 0:
        return np.zeros(len(chi), bool)
    p = np.sort(points_chi)
    p = np.concatenate([p - 360.0, p, p + 360.0])  # χ wraps around
    j = np.clip(np.searchsorted(p, chi), 1, len(p) - 1)
    return np.minimum(chi - p[j - 1], p[j] - chi) <= gap_deg


def _robust_limit(values: np.ndarray, percentile: float = 99.5) -> float:
    v = np.abs(values[np.isfinite(values)])
    return float(max(np.percentile(v, percentile) * 1.2, 0.1)) if len(v) else 1.0


def draw_residual_map(ax: Axes, d: Diagnostics) -> None:
    """Mean signed residual over the detector (red: rings outside their predicted place)."""
    values = d.residual_map.mean_px
    finite = values[np.isfinite(values)]
    lim = _robust_limit(finite, 98.0) if len(finite) else 1.0
    image = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu_r", vmin=-lim, vmax=lim, extent=map_extent(d),
                      interpolation="nearest", origin="upper")
    ax.set_xlim(0, d.shape[1])
    ax.set_ylim(d.shape[0], 0)
    ax.set_aspect("equal")
    ax.set_xlabel("column (px)")
    ax.set_ylabel("row (px)")
    ax.set_title(f"Mean residual per {d.residual_map.bin_px}×{d.residual_map.bin_px} px bin")
    ax.figure.colorbar(image, ax=ax, label="Δ (px)", shrink=0.8)


def draw_straightness(ax: Axes, s: Straightness) -> None:
    """Deviation of each cake line from its calibrant position, χ bin by χ bin."""
    colours = _ring_colours(len(s.lines))
    for k, (line, colour) in enumerate(zip(s.lines, colours)):
        chi, dev = _break_gaps(line.chi_deg, line.deviation_px)
        ax.plot(chi, dev, "o-", ms=2, lw=0.6, color=colour, label=f"ring {line.ring + 1}" if k < MAX_LEGEND else None)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xlim(-180, 180)
    if s.lines:
        ax.set_ylim(*(np.array([-1, 1]) * _robust_limit(np.concatenate([line.deviation_px for line in s.lines]))))
        ax.legend(fontsize=6, ncol=2, loc="upper right")
    ax.set_xlabel("χ (°)")
    ax.set_ylabel("cake line − calibrant (px)")
    rms = "n/a" if not np.isfinite(s.rms_px) else f"{s.rms_px:.3f} px"
    ax.set_title(f"Cake straightness: RMS {rms}")


def _break_gaps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Insert NaN where consecutive x are further apart than 1.5 steps, so lines do not bridge gaps."""
    if len(x) < 2:
        return x, y
    step = float(np.min(np.diff(x)))
    cut = np.flatnonzero(np.diff(x) > 1.5 * step) + 1
    return np.insert(x.astype(float), cut, np.nan), np.insert(y.astype(float), cut, np.nan)


def draw_cake(ax: Axes, cake: Cake, lines: np.ndarray | None = None, straightness: Straightness | None = None) -> None:
    """The cake (log scale) with the calibrant lines dashed and, if given, the located line positions."""
    inten = np.asarray(cake.intensity, dtype=float)
    img = np.ma.masked_where((inten == 0) | ~np.isfinite(inten), np.log10(np.clip(inten, 1e-3, None) + 1))
    extent = (cake.radial[0], cake.radial[-1], cake.azimuth[0], cake.azimuth[-1])
    lo, hi = np.percentile(img.compressed(), [2, 99.8]) if img.count() else (0, 1)
    ax.imshow(img, origin="lower", aspect="auto", extent=extent, cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
    if lines is not None:
        for x in np.asarray(lines)[(np.asarray(lines) > extent[0]) & (np.asarray(lines) < extent[1])]:
            ax.axvline(x, color="w", lw=0.6, alpha=0.6, ls="--")
    if straightness is not None:
        for line in straightness.lines:
            ax.plot(line.peak_deg, line.chi_deg, ".", ms=1.0, color="r", alpha=0.6)
    ax.set_xlabel(UNITS.get(cake.unit, cake.unit))
    ax.set_ylabel("χ (°)")
    ax.set_title("Cake: straight lines on the dashed calibrant positions")


def draw_pattern(ax: Axes, pattern: Pattern, lines: np.ndarray | None = None) -> None:
    """The azimuthally integrated pattern with the calibrant positions."""
    ax.plot(pattern.radial, pattern.intensity, "-", lw=0.7, color="C0")
    if lines is not None:
        lo, hi = pattern.radial[0], pattern.radial[-1]
        for x in np.asarray(lines)[(np.asarray(lines) > lo) & (np.asarray(lines) < hi)]:
            ax.axvline(x, color="C3", lw=0.5, alpha=0.6, ls="--")
    positive = pattern.intensity[pattern.intensity > 0]
    if len(positive):
        ax.set_yscale("log")
        ax.set_ylim(np.percentile(positive, 1) * 0.8, positive.max() * 1.5)
    ax.set_xlabel(UNITS.get(pattern.unit, pattern.unit))
    ax.set_ylabel("intensity")
    ax.set_title("Pattern: every peak on its calibrant line")


def draw_correlations(ax: Axes, c: Correlations) -> None:
    """The correlation matrix of the free parameters, with the values written in."""
    ax.imshow(np.nan_to_num(c.matrix), cmap="RdBu_r", vmin=-1, vmax=1)
    n = len(c.free)
    ax.set_xticks(range(n), c.free, rotation=45, fontsize=7)
    ax.set_yticks(range(n), c.free, fontsize=7)
    for i in range(n):
        for j in range(n):
            value = c.matrix[i, j]
            weight = "bold" if i != j and abs(value) > 0.95 else "normal"
            colour = "w" if abs(value) > 0.6 else "k"
            ax.text(j, i, f"{value:+.2f}", ha="center", va="center", fontsize=6, weight=weight, color=colour)
    ax.set_title("Parameter correlations")


def overview_png(d: Diagnostics, dpi: int = 90) -> bytes:
    """The GUI's Diagnostics tab in one picture: Δ2θ versus χ, cake straightness, residual map."""
    fig = new_figure(11.0, 8.0, dpi)
    draw_delta_chi(fig.add_subplot(221), d)
    draw_straightness(fig.add_subplot(223), d.straightness)
    draw_residual_map(fig.add_subplot(122), d)
    fig.subplots_adjust(hspace=0.35, wspace=0.3)
    return figure_png(fig)
