"""What the Cake, Pattern and ring overlay show for one geometry, computed in the worker.

The integrations are the session's own (its cached pyFAI integrator); this module only gathers
them with the calibrant line positions and the iso-2θ contours of those lines on the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import contourpy
import numpy as np
from pyFAI.geometry import Geometry

from ..core.calibration.diagnostic_plots import overview_png
from ..core.calibration.diagnostics import Diagnostics, diagnose_session
from ..core.calibration.session import CalibrationSession
from ..core.errors import XcalError
from ..core.integration.integrator import Cake, Pattern, calibrant_positions
from ..core.progress import Task

_EMPTY = np.empty(0)


@dataclass
class Views:
    cake: Cake
    pattern: Pattern
    cake_lines: np.ndarray  # calibrant 2θ (°)
    pattern_lines: np.ndarray  # calibrant positions in the pattern's unit
    ring_x: np.ndarray  # view coordinates of the theoretical rings, NaN between polylines
    ring_y: np.ndarray
    diagnostics: Diagnostics | None = None
    diagnostics_png: bytes | None = None
    diagnostics_note: str = ""  # why there are none


def ring_contours(geometry: Geometry, shape: tuple[int, int], tth_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Iso-2θ lines at ``tth_rad`` in view coordinates (pixel centre at index + 0.5).

    2θ is computed on a grid of every ``step``-th pixel (1 up to ~1 Mpx): rings are smooth, so
    the linear interpolation of the contour stays far below a pixel while the cost drops step².
    """
    n1, n2 = shape
    step = 1 if n1 * n2 <= 1.2e6 else 2 if n1 * n2 <= 6e6 else 4
    rows = np.arange(0, n1 + step - 1, step, dtype=float).clip(max=n1 - 1)
    cols = np.arange(0, n2 + step - 1, step, dtype=float).clip(max=n2 - 1)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    tth = np.asarray(geometry.tth(rr, cc), dtype=float)
    levels = np.asarray(tth_rad, dtype=float)
    levels = levels[(levels > np.nanmin(tth)) & (levels < np.nanmax(tth))]
    if levels.size == 0:
        return _EMPTY, _EMPTY
    generator = contourpy.contour_generator(cols, rows, tth, line_type=contourpy.LineType.ChunkCombinedNan)
    # one level per call: contourpy holds the GIL while it runs, and the UI thread needs it back often
    parts = [chunks[0] for chunks in (generator.lines(level)[0] for level in levels) if chunks[0] is not None]
    if not parts:
        return _EMPTY, _EMPTY
    nan_row = np.full((1, 2), np.nan)
    points = np.concatenate([block for part in parts for block in (part, nan_row)])
    return points[:, 0] + 0.5, points[:, 1] + 0.5


def compute_views(
    session: CalibrationSession,
    geometry: Geometry,
    dspacing: np.ndarray | None,
    unit: str,
    polarization: float | None,
    task: Task,
) -> Views:
    """Cake, pattern and ring overlay for ``geometry`` on the session's current image and mask."""
    data, invalid = session.data, session.invalid
    task.report(0.0, "Integrating the cake")
    cake = session.integrator.cake(data, geometry, invalid, 1000, 360, polarization=polarization)
    task.report(0.5, "Integrating the pattern")
    pattern = session.integrator.pattern(data, geometry, invalid, 2000, unit, polarization=polarization)
    if dspacing is None:
        return Views(cake, pattern, _EMPTY, _EMPTY, _EMPTY, _EMPTY)
    task.report(0.8, "Drawing the calibrant rings")
    cake_lines = calibrant_positions(dspacing, geometry.wavelength, "2th_deg")
    pattern_lines = calibrant_positions(dspacing, geometry.wavelength, unit)
    ring_x, ring_y = ring_contours(geometry, data.shape, np.radians(cake_lines))
    views = Views(cake, pattern, cake_lines, pattern_lines, ring_x, ring_y)
    task.report(0.9, "Judging the calibration")
    try:
        views.diagnostics = diagnose_session(session, cake, geometry)
        views.diagnostics_png = overview_png(views.diagnostics)
    except XcalError as exc:  # e.g. no ring points found for a loaded geometry
        views.diagnostics_note = str(exc)
    return views
