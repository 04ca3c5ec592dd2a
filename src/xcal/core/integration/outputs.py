"""Writing patterns and cakes to files (atomically), for the CLI, batch and the GUI's save buttons.

Patterns: ``.xy`` (two columns, '#' header with geometry and settings), ``.dat`` (pyFAI-style,
with the standard error as a third column), ``.chi`` (Fit2D: four header lines), ``.fxye``
(GSAS: x in centidegrees, with esd; 2θ only) and ``.nxs``/``.h5`` (NeXus NXazint1d, 2θ or q; see
:mod:`.nexus_output`). Cakes: ``.tif`` (float32), ``.npy`` and ``.png``. The cake arrays hold rows
of χ and columns of the radial unit. The format always follows the file's extension; callers check
it (and the output path) with :func:`pattern_format`, :func:`cake_format` and
:func:`check_output_path` before the work, and every writer turns an OS error (full disk...) into
an :class:`XcalError` naming the file.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pyFAI.detectors import Detector
from pyFAI.geometry import Geometry

from ..errors import XcalError
from ..io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from .formats import CAKE_SUFFIXES, PATTERN_SUFFIXES
from .integrator import UNITS, Cake, IntegrationSettings, Pattern

_AXIS = {"2th_deg": "2theta_deg", "q_nm^-1": "q_nm^-1", "q_A^-1": "q_A^-1", "d_A": "d_A"}
_CHI_AXIS = {"2th_deg": "2-Theta Angle (Degrees)", "q_nm^-1": "Q (nm^-1)", "q_A^-1": "Q (A^-1)", "d_A": "D-spacing (A)"}


def pattern_format(path: str | Path, unit: str | None = None) -> str:
    """The pattern format the extension of ``path`` names, checked against ``unit`` if given.

    Called before integrating, so a wrong name fails at once. :raises XcalError: an unknown
    extension (the known ones listed), or a unit the format cannot hold (.fxye: 2θ only; NeXus: no d).
    """
    name = Path(path).name
    fmt = PATTERN_SUFFIXES.get(Path(path).suffix.lower().lstrip("."))
    if fmt is None:
        raise XcalError(f"{name}: unknown pattern format; use .{', .'.join(PATTERN_SUFFIXES)}.")
    if unit is not None:
        check_format_unit(fmt, unit, name)
    return fmt


def check_format_unit(fmt: str, unit: str, name: str) -> None:
    """Refuse a pattern unit the format ``fmt`` cannot hold, naming the file (or the option)."""
    if fmt == "fxye" and unit != "2th_deg":
        raise XcalError(f"{name}: the GSAS .fxye format needs the pattern in 2θ (unit 2th_deg), not {unit}.")
    if fmt == "nxs":
        from .nexus_output import check_nexus_unit

        check_nexus_unit(unit, name)


def cake_format(path: str | Path) -> str:
    """The cake format the extension of ``path`` names. :raises XcalError: an unknown one (the known listed)."""
    fmt = CAKE_SUFFIXES.get(Path(path).suffix.lower().lstrip("."))
    if fmt is None:
        raise XcalError(f"{Path(path).name}: unknown cake format; use .{', .'.join(CAKE_SUFFIXES)}.")
    return fmt


def check_output_path(path: str | Path) -> Path:
    """Refuse, before any work, an output path that cannot be written, naming it and the reason.

    Catches a missing folder, a folder given as the file, a device or pipe (which the atomic
    replace would swap for a regular file), and a folder where nothing can be created (read-only,
    no permission: tried for real, since root passes every permission test).
    """
    target = Path(path)
    if not str(path).strip():
        raise XcalError("An output file name is empty.")
    if target.is_dir():
        raise XcalError(f"{path}: is a folder; give the name of the file to write.")
    if (target.exists() or target.is_symlink()) and not target.is_file():
        raise XcalError(f"{path}: exists and is not a regular file (a device, a pipe, a broken link); "
                        f"xcal writes only regular files.")
    parent = target.parent
    if not parent.is_dir():
        reason = "does not exist" if not parent.exists() else "is not a folder"
        raise XcalError(f"{path}: the folder {parent} {reason}.")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise XcalError(f"{path}: cannot write in the folder {parent}: {exc.strerror or exc}.") from None
    return target


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an OS error while writing ``path`` (a full disk, a folder removed meanwhile) into a message naming it."""
    try:
        yield
    except OSError as exc:
        raise XcalError(f"Cannot write {path}: {exc.strerror or exc}.") from exc


def geometry_header(geometry: Geometry) -> list[str]:
    f2d = geometry.getFit2D()
    return [
        f"Detector: {geometry.detector.name}, pixel {geometry.detector.pixel1 * 1e6:.2f} x {geometry.detector.pixel2 * 1e6:.2f} um",
        f"Wavelength: {geometry.wavelength * 1e10:.6f} A",
        f"Distance: {geometry.dist * 1e3:.4f} mm, PONI: {geometry.poni1 * 1e3:.4f}, {geometry.poni2 * 1e3:.4f} mm",
        f"Rot1/2/3: {geometry.rot1:.6f}, {geometry.rot2:.6f}, {geometry.rot3:.6f} rad",
        f"Beam centre: x={f2d['centerX']:.3f}, y={f2d['centerY']:.3f} px; tilt {f2d['tilt']:.4f} deg, plane {f2d['tiltPlanRotation']:.3f} deg",
    ]


def mask_header(detector: Detector, gaps: np.ndarray | None, user_mask: np.ndarray | None = None,
                user_name: str = "user mask") -> str:
    """The header line saying exactly what a pattern excludes: the detector's gaps, the user's mask
    (``user_name``), and each image's own unusable pixels."""
    masked = [] if gaps is None else [f"detector gaps ({detector.name}, {int(gaps.sum())} px)"]
    if user_mask is not None:
        masked.append(f"{user_name} ({int(user_mask.sum())} px)")
    masked.append("negative or non-finite pixels of each image")
    line = "Mask: " + ", ".join(masked)
    if gaps is None:
        line += ("; no detector gaps masked (generic detector: no module gaps known)" if type(detector) is Detector
                 else f"; the {detector.name} has no module gaps")
    return line


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
    buf.write(f"{' '.join((title or Path(path).name).split())}\n{_CHI_AXIS.get(pattern.unit, pattern.unit)}\nIntensity\n"
              f"{len(pattern.radial):>11d}\n")
    np.savetxt(buf, np.column_stack([pattern.radial, pattern.intensity]), fmt="%.8g")
    atomic_write_text(path, buf.getvalue())


def write_fxye(path: str | Path, pattern: Pattern, title: str = "") -> None:
    """GSAS FXYE (constant wavelength), as GSAS-II reads and writes it: a title line, then
    ``BANK 1 NCHAN NREC CONS START STEP 0 0 FXYE`` (START and STEP in centidegrees; one record per
    point), then one ``2θ(centidegrees) intensity esd`` triplet per line. Bins no pixel reached
    (esd 0) and non-finite values are left out: GSAS takes each point's x from its line.
    """
    name = Path(path).name
    check_format_unit("fxye", pattern.unit, name)
    sigma = pattern.sigma if pattern.sigma is not None else np.sqrt(np.maximum(pattern.intensity, 1.0))
    keep = (sigma > 0) & np.isfinite(sigma) & np.isfinite(pattern.intensity) & np.isfinite(pattern.radial)
    if not keep.any():
        raise XcalError(f"{name}: the pattern has no point with intensity to write.")
    x, y, e = 100 * pattern.radial[keep], pattern.intensity[keep], sigma[keep]
    step = 100 * float(pattern.radial[1] - pattern.radial[0]) if len(pattern.radial) > 1 else 0.0
    buf = io.StringIO()
    buf.write(f"{' '.join((title or name).split())[:80]}\n")  # one line: GSAS reads the first line as the title
    buf.write(f"BANK 1 {len(x)} {len(x)} CONS {x[0]:.4f} {step:.6f} 0 0 FXYE\n")
    np.savetxt(buf, np.column_stack([x, y, e]), fmt="%15.6f %15.8g %15.8g")
    atomic_write_text(path, buf.getvalue())


def write_pattern(path: str | Path, pattern: Pattern, header: list[str] = (), title: str = "", *,
                  geometry: Geometry | None = None, settings: IntegrationSettings | None = None) -> None:
    """Write in the format the extension names (.xy, .dat, .chi, .fxye, .nxs/.h5).

    NeXus files hold the wavelength and the detector geometry: ``geometry`` is needed for them
    (``settings`` says which corrections were applied). :raises XcalError: an unknown extension, a
    unit the format cannot hold, or the file cannot be written (the reason named).
    """
    fmt = pattern_format(path, pattern.unit)
    with writing(path):
        if fmt == "xy":
            write_xy(path, pattern, header)
        elif fmt == "dat":
            write_dat(path, pattern, header)
        elif fmt == "chi":
            write_chi(path, pattern, title)
        elif fmt == "fxye":
            write_fxye(path, pattern, title)
        else:
            if geometry is None:
                raise XcalError(f"{Path(path).name}: a NeXus pattern holds the geometry, and none was given.")
            from .nexus_output import write_nexus

            write_nexus(path, pattern, geometry, settings=settings, header=header, title=title)


def write_cake(path: str | Path, cake: Cake, lines: np.ndarray | None = None, title: str = "") -> None:
    """Write the cake in the format the suffix names: .tif (float32), .npy or .png (with lines)."""
    fmt = cake_format(path)
    with writing(path):
        if fmt == "tif":
            import fabio

            with atomic_path(path) as tmp:
                fabio.tifimage.TifImage(np.ascontiguousarray(cake.intensity, np.float32)).write(str(tmp))
        elif fmt == "npy":
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as handle:
                    np.save(handle, cake.intensity)
        else:
            write_cake_png(path, cake, lines, title)


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
