"""Writing patterns and cakes to files (atomically), for the CLI and the GUI's save buttons."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from pyFAI.geometry import Geometry

from .atomic import atomic_write_bytes, atomic_write_text
from .integration import Cake, Pattern, UNITS

_AXIS = {"2th_deg": "2theta_deg", "q_nm^-1": "q_nm^-1", "q_A^-1": "q_A^-1", "d_A": "d_A"}


def geometry_header(geometry: Geometry) -> list[str]:
    f2d = geometry.getFit2D()
    return [
        f"Detector: {geometry.detector.name}, pixel {geometry.detector.pixel1 * 1e6:.2f} x {geometry.detector.pixel2 * 1e6:.2f} um",
        f"Wavelength: {geometry.wavelength * 1e10:.6f} A",
        f"Distance: {geometry.dist * 1e3:.4f} mm, PONI: {geometry.poni1 * 1e3:.4f}, {geometry.poni2 * 1e3:.4f} mm",
        f"Rot1/2/3: {geometry.rot1:.6f}, {geometry.rot2:.6f}, {geometry.rot3:.6f} rad",
        f"Beam centre: x={f2d['centerX']:.3f}, y={f2d['centerY']:.3f} px; tilt {f2d['tilt']:.4f} deg, plane {f2d['tiltPlanRotation']:.3f} deg",
    ]


def write_xy(path: str | Path, pattern: Pattern, header: list[str] = ()) -> None:
    """Two-column text pattern with a '#' header (geometry and settings)."""
    buf = io.StringIO()
    for line in header:
        buf.write(f"# {line}\n")
    buf.write(f"# {_AXIS.get(pattern.unit, pattern.unit)}  intensity\n")
    np.savetxt(buf, np.column_stack([pattern.radial, pattern.intensity]), fmt="%.8g")
    atomic_write_text(path, buf.getvalue())


def write_cake_png(path: str | Path, cake: Cake, lines: np.ndarray | None = None, title: str = "") -> None:
    """The cake as a PNG (log scale), with the calibrant lines drawn over it if given."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5), dpi=110)
    ax = fig.add_subplot(111)
    img = np.ma.masked_invalid(np.log10(np.clip(cake.intensity, 1e-3, None) + 1))
    img = np.ma.masked_where(cake.intensity == 0, img)
    extent = (cake.radial[0], cake.radial[-1], cake.azimuth[0], cake.azimuth[-1])
    lo, hi = np.percentile(img.compressed(), [2, 99.8]) if img.count() else (0, 1)
    ax.imshow(img, origin="lower", aspect="auto", extent=extent, cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
    if lines is not None:
        for x in lines[(lines > extent[0]) & (lines < extent[1])]:
            ax.axvline(x, color="w", lw=0.6, alpha=0.6, ls="--")
    ax.set_xlabel(UNITS.get(cake.unit, cake.unit))
    ax.set_ylabel("χ (°)")
    if title:
        ax.set_title(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
