"""The calibration report: one file that says what the geometry is and why it can be trusted.

``.html`` is a single self-contained page (plots embedded as base64 PNG), ``.pdf`` a few A4 pages
(summary, residuals versus χ with the cake straightness, residual map, cake, pattern). Both are
written atomically, like every other output of xcal.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from pyFAI.geometry import Geometry

from ..errors import XcalError
from ..geometry.beam import beam_centre
from ..geometry.refinement import PARAMS, make_geometry
from ..integration.integrator import Cake, Pattern, calibrant_positions
from ..io.atomic import atomic_write_bytes, atomic_write_text
from . import diagnostic_plots as plots
from .diagnostics import HARMONIC_MIN_COVERAGE_DEG, Diagnostics
from .session import HC_KEV_A, CalibrationSession

FORMATS = (".html", ".pdf")


@dataclass
class ReportInputs:
    """What the report shows besides the diagnostics (a session provides all of it)."""

    image_name: str
    calibrant: str | None
    dspacing: np.ndarray
    cake: Cake  # 2θ (°) × χ
    pattern: Pattern  # in 2θ (°)


def report_inputs(session: CalibrationSession, cake: Cake | None = None, pattern: Pattern | None = None) -> ReportInputs:
    """The session's image name, calibrant, cake and pattern (integrated here unless given)."""
    if session.dspacing is None:
        raise XcalError("Choose a calibrant first: the report draws its lines.")
    return ReportInputs(
        session.raw.name if session.raw is not None else "image",
        session.calibrant_name,
        np.asarray(session.dspacing, dtype=float),
        cake if cake is not None else session.cake(),
        pattern if pattern is not None else session.pattern(unit="2th_deg"),
    )


# -- tables ---------------------------------------------------------------------------------------

_DISPLAY = {  # name: (label, unit, factor from SI)
    "dist": ("distance", "mm", 1e3),
    "poni1": ("PONI 1", "mm", 1e3),
    "poni2": ("PONI 2", "mm", 1e3),
    "rot1": ("rot 1", "°", np.degrees(1.0)),
    "rot2": ("rot 2", "°", np.degrees(1.0)),
    "rot3": ("rot 3", "°", np.degrees(1.0)),
    "wavelength": ("wavelength", "Å", 1e10),
}
_FIT2D = (("directDist", "direct distance", "mm"), ("centerX", "beam centre x", "px"), ("centerY", "beam centre y", "px"),
          ("tilt", "tilt", "°"), ("tiltPlanRotation", "tilt plane rotation", "°"))


def geometry_table(d: Diagnostics) -> list[tuple[str, str, str, str]]:
    """Rows (parameter, value, 1σ, unit) of the geometry, pyFAI's parameters then Fit2D's.

    Fit2D uncertainties are propagated from the fit's covariance; fixed parameters and a bare
    geometry (no fit) have no 1σ ("fixed" / "").
    """
    g = d.geometry
    rows = []
    for name in PARAMS:
        label, unit, factor = _DISPLAY[name]
        value = float(getattr(g, name)) * factor
        sigma = d.sigma.get(name)
        rows.append((label, f"{value:.6g}", _sigma_text(sigma, factor, d.fitted), unit))
    energy = HC_KEV_A / (g.wavelength * 1e10)
    sigma_wl = d.sigma.get("wavelength")  # σE/E = σλ/λ
    rows.append(("energy", f"{energy:.6g}", _sigma_text(None if sigma_wl is None else energy * sigma_wl / g.wavelength, 1.0, d.fitted), "keV"))
    fit2d_sigma = _fit2d_sigma(g, d)
    x, y = beam_centre(g, d.shape)
    fit2d = g.getFit2D()
    f2d = {key: float(fit2d[key]) for key, _, _ in _FIT2D} | {"centerX": x, "centerY": y}
    for key, label, unit in _FIT2D:
        sigma = fit2d_sigma.get(key)
        rows.append((label, f"{f2d[key]:.6g}", "" if sigma is None else f"±{sigma:.2g}", unit))
    return rows


def _sigma_text(sigma: float | None, factor: float, fitted: bool) -> str:
    if sigma is None:
        return "fixed" if fitted else ""
    return f"±{sigma * factor:.2g}"


def _fit2d_sigma(g: Geometry, d: Diagnostics) -> dict[str, float]:
    """1σ of the Fit2D parameters by linear propagation of the free parameters' covariance."""
    if d.correlations is None or not d.sigma:
        return {}
    free = d.correlations.free
    s = np.array([d.sigma[p] for p in free])
    if not np.all(np.isfinite(s)):
        return {}
    cov = np.nan_to_num(d.correlations.matrix) * np.outer(s, s)
    jac = np.zeros((len(_FIT2D), len(free)))
    for k, name in enumerate(free):
        h = max(s[k], 1e-12)
        plus = make_geometry(g, {name: float(getattr(g, name)) + h}).getFit2D()
        minus = make_geometry(g, {name: float(getattr(g, name)) - h}).getFit2D()
        jac[:, k] = [(plus[key] - minus[key]) / (2 * h) for key, _, _ in _FIT2D]
    var = np.einsum("ij,jk,ik->i", jac, cov, jac)
    return {key: float(np.sqrt(max(v, 0.0))) for (key, _, _), v in zip(_FIT2D, var)}


def summary_lines(d: Diagnostics) -> list[str]:
    """The headline numbers, one per line."""
    s = d.straightness
    lines = [
        f"{d.n_points} points on {len(d.rings)} rings" + ("" if d.fitted else " (found with this geometry; no fit, no uncertainties)"),
        f"RMS residual: {d.rms_px:.3f} px ({d.rms_deg:.5f}° 2θ)",
        f"systematic ring displacement: {d.systematic_px:.3f} px RMS; scatter about the rings: {d.noise_px:.3f} px RMS",
        "cake straightness: " + ("not measured (no line located in the cake)" if not np.isfinite(s.rms_px)
                                 else f"{s.rms_px:.3f} px RMS from the calibrant positions, {s.scatter_px:.3f} px bending, "
                                      f"{len(s.lines)} lines × χ bins = {s.samples}"),
    ]
    if d.correlations is not None and d.correlations.strong:
        pairs = ", ".join(f"{a}–{b} {r:+.3f}" for a, b, r in d.correlations.strong)
        lines.append(f"strongly correlated (|r| > 0.95): {pairs}")
    return lines


RING_HEADER = ("ring", "d (Å)", "2θ (°)", "points", "arc (°)", "RMS (px)", "offset (px)", "sine (px)", "±1σ", "towards χ (°)")


def ring_table(d: Diagnostics, dspacing: np.ndarray) -> list[tuple[str, ...]]:
    """One row per ring, in the order of RING_HEADER."""
    rows = []
    for r in d.rings:
        sine = (f"{r.harmonic_px:.3f}", f"{r.harmonic_sigma_px:.3f}", f"{r.harmonic_phase_deg:.0f}")
        if r.coverage_deg < HARMONIC_MIN_COVERAGE_DEG:  # the arc is too short for the sine to mean anything
            sine = ("–", "–", "–")
        rows.append((str(r.ring + 1), f"{dspacing[r.ring]:.5f}", f"{r.tth_deg:.4f}", str(r.count), f"{r.coverage_deg:.0f}",
                     f"{r.rms_px:.3f}", f"{r.offset_px:+.3f}", *sine))
    return rows


# -- figures --------------------------------------------------------------------------------------


def report_figures(d: Diagnostics, inputs: ReportInputs) -> list[tuple[str, object]]:
    """(caption, Figure) of each plot page, in report order."""
    tth_lines = calibrant_positions(inputs.dspacing, d.geometry.wavelength, "2th_deg")
    residuals = plots.new_figure(8.27, 9.0)
    plots.draw_delta_chi(residuals.add_subplot(211), d)
    plots.draw_straightness(residuals.add_subplot(212), d.straightness)
    residuals.subplots_adjust(hspace=0.3)
    rmap = plots.new_figure(8.27, 7.0)
    plots.draw_residual_map(rmap.add_subplot(111), d)
    cake = plots.new_figure(8.27, 5.5)
    plots.draw_cake(cake.add_subplot(111), inputs.cake, tth_lines, d.straightness)
    pattern = plots.new_figure(8.27, 5.0)
    plots.draw_pattern(pattern.add_subplot(111), inputs.pattern, tth_lines)
    return [
        ("Residual of every point versus χ, with each ring's fitted offset + sine; below, each cake line's "
         "distance to its calibrant position per χ bin.", residuals),
        ("Residual map: mean signed residual of the points over the detector.", rmap),
        ("Cake with the calibrant lines (dashed) and the located line positions (red).", cake),
        ("Azimuthally integrated pattern with the calibrant lines.", pattern),
    ]


# -- writers --------------------------------------------------------------------------------------


def report_format(path: str | Path) -> str:
    """The report format (".html" or ".pdf") a path asks for; check it before a long calculation.

    :raises XcalError: any other suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise XcalError(f"Cannot write a report to {Path(path).name}: the name must end in .html or .pdf.")
    return suffix


def write_report(path: str | Path, source: CalibrationSession | ReportInputs, diagnostics: Diagnostics) -> Path:
    """Write the report as .html or .pdf (chosen by the suffix), atomically; returns the path.

    :raises XcalError: another suffix, or a session without calibrant.
    """
    path = Path(path)
    suffix = report_format(path)
    inputs = source if isinstance(source, ReportInputs) else report_inputs(source)
    if suffix == ".html":
        atomic_write_text(path, html_report(diagnostics, inputs))
    else:
        atomic_write_bytes(path, pdf_report(diagnostics, inputs))
    return path


def _title(inputs: ReportInputs) -> str:
    return f"Calibration report: {inputs.image_name}" + (f" ({inputs.calibrant})" if inputs.calibrant else "")


def _context(d: Diagnostics) -> str:
    det = d.geometry.detector
    return (f"{time.strftime('%Y-%m-%d %H:%M')} · detector {det.name}, {d.shape[1]}×{d.shape[0]} px of "
            f"{det.pixel2 * 1e6:.1f}×{det.pixel1 * 1e6:.1f} µm · xcal")


_COLOURS = {"good": "#1b7f3b", "check": "#b36b00", "bad": "#b00020"}


def _html_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def html_report(d: Diagnostics, inputs: ReportInputs) -> str:
    """The report as one self-contained HTML page."""
    v = d.verdict
    parts = [
        f"<h1>{html.escape(_title(inputs))}</h1><p class='small'>{html.escape(_context(d))}</p>",
        f"<div class='verdict' style='border-color:{_COLOURS[v.level]}'><b style='color:{_COLOURS[v.level]}'>"
        f"{v.level.upper()}</b><ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in v.reasons) + "</ul></div>",
        "<h2>Geometry</h2>" + _html_table(("parameter", "value", "1σ", "unit"), geometry_table(d)),
        "<h2>Quality</h2><ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in summary_lines(d)) + "</ul>",
    ]
    if d.correlations is not None and len(d.correlations.free) > 1:
        fig = plots.new_figure(4.5, 4.0)
        plots.draw_correlations(fig.add_subplot(111), d.correlations)
        parts.append(_html_img(fig, "Correlations between the free parameters; pyFAI's PONI and rotations are "
                                    "always strongly correlated, distance–wavelength is the pair to watch."))
    if d.warnings:
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in d.warnings) + "</ul>")
    parts.append("<h2>Rings</h2>" + _html_table(RING_HEADER, ring_table(d, inputs.dspacing)))
    parts.append("<h2>Plots</h2>")
    parts += [_html_img(fig, caption) for caption, fig in report_figures(d, inputs)]
    style = ("body{font-family:sans-serif;max-width:60em;margin:auto;padding:1em}table{border-collapse:collapse;font-size:90%}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#eee}"
             ".verdict{border:3px solid;padding:0.5em 1em;margin:1em 0}.small{color:#666;font-size:85%}"
             "img{max-width:100%}figure{margin:1em 0}figcaption{font-size:90%;color:#444}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(_title(inputs))}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def _html_img(fig, caption: str) -> str:
    data = base64.b64encode(plots.figure_png(fig)).decode("ascii")
    return f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(caption)}'><figcaption>{html.escape(caption)}</figcaption></figure>"


def pdf_report(d: Diagnostics, inputs: ReportInputs) -> bytes:
    """The report as PDF bytes: a summary page, then one page per plot."""
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": _title(inputs), "Creator": "xcal"}) as pdf:
        pdf.savefig(_summary_page(d, inputs))
        for caption, fig in report_figures(d, inputs):
            fig.text(0.5, 0.005, caption, ha="center", va="bottom", fontsize=7, wrap=True)
            pdf.savefig(fig)
    return buf.getvalue()


def _summary_page(d: Diagnostics, inputs: ReportInputs):
    """A4 page of text: verdict, geometry, quality numbers, warnings and the first rings."""
    fig = plots.new_figure(8.27, 11.69)
    lines: list[tuple[str, dict]] = [(_title(inputs), {"fontsize": 13, "weight": "bold"}),
                                     (_context(d), {"fontsize": 7, "color": "#666"}), ("", {})]
    colour = _COLOURS[d.verdict.level]
    lines.append((f"Verdict: {d.verdict.level.upper()}", {"fontsize": 12, "weight": "bold", "color": colour}))
    for reason in d.verdict.reasons:
        lines += [(text, {"color": colour}) for text in textwrap.wrap("• " + reason, 110)]
    lines += [("", {}), ("Geometry", {"weight": "bold"})]
    lines += [(f"{name:<22}{value:>14} {sigma:>10}  {unit}", {"family": "monospace"}) for name, value, sigma, unit in geometry_table(d)]
    lines += [("", {}), ("Quality", {"weight": "bold"})]
    for line in summary_lines(d):
        lines += [(text, {}) for text in textwrap.wrap(line, 110)]
    if d.warnings:
        lines += [("", {}), ("Warnings", {"weight": "bold"})]
        for w in d.warnings:
            lines += [(text, {}) for text in textwrap.wrap("• " + w, 110)]
    lines += [("", {}), ("Rings", {"weight": "bold"})]
    widths = (5, 9, 9, 7, 8, 9, 12, 10, 7, 14)
    table = [RING_HEADER, *ring_table(d, inputs.dspacing)]
    room = max(0, 70 - len(lines) - 1)
    for row in table[:room]:
        lines.append(("".join(c.rjust(w) for c, w in zip(row, widths)), {"family": "monospace", "fontsize": 7}))
    if len(table) > room:
        lines.append((f"… {len(table) - room} more rings in the HTML report", {"fontsize": 7}))
    y = 0.97
    for text, style in lines:
        fig.text(0.06, y, text, va="top", **({"fontsize": 8} | style))
        y -= 0.0133 * (style.get("fontsize", 8) / 8 if text else 0.7)
    return fig
