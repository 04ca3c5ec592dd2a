"""Writing patterns and cakes to files (atomically), for the CLI, batch and the GUI's save buttons.

Patterns: ``.xy`` (two columns, '#' header with geometry and settings), ``.dat`` (pyFAI-style,
with the standard error as a third column), ``.chi`` (Fit2D: four header lines) and ``.fxye``
(GSAS: x in centidegrees, with esd; 2θ only). Cakes: ``.tif`` (float32), ``.npy`` and ``.png``.
The cake arrays hold rows of χ and columns of the radial unit.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from pyFAI.geometry import Geometry

from .atomic import atomic_path, atomic_write_bytes, atomic_write_text
from .errors import XcalError
from .integration import Cake, Pattern, UNITS

_AXIS = {"2th_deg": "2theta_deg", "q_nm^-1": "q_nm^-1", "q_A^-1": "q_A^-1", "d_A": "d_A"}
_CHI_AXIS = {"2th_deg": "2-Theta Angle (Degrees)", "q_nm^-1": "Q (nm^-1)", "q_A^-1": "Q (A^-1)", "d_A": "D-spacing (A)"}
PATTERN_FORMATS = ("xy", "dat", "chi", "fxye")
CAKE_FORMATS = ("tif", "npy", "png")


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
    _write_columns(path, header, ["intensity"], [pattern.radial, pattern.intensity], pattern.unit)


def write_dat(path: str | Path, pattern: Pattern, header: list[str] = ()) -> None:
    """pyFAI-style three columns: position, intensity, standard error (0 where unknown)."""
    sigma = pattern.sigma if pattern.sigma is not None else np.zeros_like(pattern.intensity)
    _write_columns(path, header, ["intensity", "sigma"], [pattern.radial, pattern.intensity, sigma], pattern.unit)


def _write_columns(path: str | Path, header: list[str], names: list[str], columns: list[np.ndarray], unit: str) -> None:
    buf = io.StringIO()
    for line in header:
        buf.write(f"# {line}\n")
    buf.write(f"# {'  '.join([_AXIS.get(unit, unit), *names])}\n")
    np.savetxt(buf, np.column_stack(columns), fmt="%.8g")
    atomic_write_text(path, buf.getvalue())


def write_chi(path: str | Path, pattern: Pattern, title: str = "") -> None:
    """Fit2D .chi: title, axis label, intensity label, number of points, then the two columns."""
    buf = io.StringIO()
    buf.write(f"{title or Path(path).name}\n{_CHI_AXIS.get(pattern.unit, pattern.unit)}\nIntensity\n"
              f"{len(pattern.radial):>11d}\n")
    np.savetxt(buf, np.column_stack([pattern.radial, pattern.intensity]), fmt="%.8g")
    atomic_write_text(path, buf.getvalue())


def write_fxye(path: str | Path, pattern: Pattern, title: str = "") -> None:
    """GSAS FXYE (constant-wavelength): 2θ in centidegrees, intensity, esd; empty bins left out."""
    if pattern.unit != "2th_deg":
        raise XcalError(f"{Path(path).name}: the GSAS .fxye format needs the pattern in 2θ (unit 2th_deg), "
                        f"not {pattern.unit}.")
    sigma = pattern.sigma if pattern.sigma is not None else np.sqrt(np.maximum(pattern.intensity, 1.0))
    keep = sigma > 0
    x, y, e = 100 * pattern.radial[keep], pattern.intensity[keep], sigma[keep]
    step = float(x[1] - x[0]) if len(x) > 1 else 0.0
    buf = io.StringIO()
    buf.write(f"{(title or Path(path).name)[:80]}\n")
    buf.write(f"BANK 1 {len(x)} {len(x)} CONS {x[0] if len(x) else 0:.4f} {step:.6f} 0 0 FXYE\n")
    np.savetxt(buf, np.column_stack([x, y, e]), fmt="%15.6f %15.8g %15.8g")
    atomic_write_text(path, buf.getvalue())


def write_pattern(path: str | Path, pattern: Pattern, header: list[str] = (), title: str = "") -> None:
    """Write in the format the suffix names (.xy, .dat, .chi, .fxye)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix == "xy":
        write_xy(path, pattern, header)
    elif suffix == "dat":
        write_dat(path, pattern, header)
    elif suffix == "chi":
        write_chi(path, pattern, title)
    elif suffix == "fxye":
        write_fxye(path, pattern, title)
    else:
        raise XcalError(f"{Path(path).name}: unknown pattern format; use .{', .'.join(PATTERN_FORMATS)}.")


def write_cake(path: str | Path, cake: Cake, lines: np.ndarray | None = None, title: str = "") -> None:
    """Write the cake in the format the suffix names: .tif (float32), .npy or .png (with lines)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("tif", "tiff"):
        import fabio

        with atomic_path(path) as tmp:
            fabio.tifimage.TifImage(np.ascontiguousarray(cake.intensity, np.float32)).write(str(tmp))
    elif suffix == "npy":
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, cake.intensity)
    elif suffix == "png":
        write_cake_png(path, cake, lines, title)
    else:
        raise XcalError(f"{Path(path).name}: unknown cake format; use .{', .'.join(CAKE_FORMATS)}.")


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
