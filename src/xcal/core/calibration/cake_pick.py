"""From a point of the cake (2θ, χ) back to the detector pixel it came from, to pick a ring there.

A Dioptas user clicks on the cake to pick more rings after a calibration. The cake is the image
re-binned in (2θ, χ) with the current geometry, so the pixel behind a cake point is the one where
pyFAI's own ``tth`` and ``chi`` take those values. pyFAI has no inverse of those maps; this module
solves them numerically with pyFAI's forward functions (any detector, tilt or orientation): a coarse
grid gives the start, a least-squares fit on the scattering direction the exact pixel. Directions
are compared as unit vectors, so χ wrapping at ±180° and the χ of 2θ ≈ 0 need no special case.
"""

from __future__ import annotations

import numpy as np
from pyFAI.geometry import Geometry
from scipy.optimize import least_squares

from ..errors import PickError
from .picks import PickGroup
from .session import CalibrationSession

_GRID = 65  # start points per image side
_TOLERANCE_RAD = 1e-7  # the pixel found must give the asked direction to this angle


def _directions(tth: np.ndarray, chi: np.ndarray) -> np.ndarray:
    """Unit scattering directions (..., 3) for 2θ and χ in radians."""
    s = np.sin(tth)
    return np.stack([np.cos(tth), s * np.cos(chi), s * np.sin(chi)], axis=-1)


def detector_pixel(geometry: Geometry, shape: tuple[int, int], tth_deg: float, chi_deg: float) -> tuple[float, float]:
    """The pixel (row, col; pyFAI index convention, centre of pixel i at i) where 2θ and χ (degrees, pyFAI's χ as
    in the cake) fall on an image of ``shape``.

    :raises PickError: that direction misses the image (the cake has no data there).
    """
    target = _directions(np.radians(tth_deg), np.radians(chi_deg))
    n1, n2 = shape
    rows, cols = np.meshgrid(np.linspace(0, n1 - 1, _GRID), np.linspace(0, n2 - 1, _GRID), indexing="ij")
    grid = _directions(np.asarray(geometry.tth(rows, cols)), np.asarray(geometry.chi(rows, cols)))
    start = np.unravel_index(np.argmax(grid @ target), rows.shape)

    def residual(p: np.ndarray) -> np.ndarray:
        r, c = np.array([p[0]]), np.array([p[1]])
        return _directions(np.asarray(geometry.tth(r, c)), np.asarray(geometry.chi(r, c)))[0] - target

    fit = least_squares(residual, [rows[start], cols[start]], x_scale=[n1, n2], xtol=1e-12, ftol=1e-15, gtol=1e-15)
    row, col = (float(v) for v in fit.x)
    inside = -0.5 <= row <= n1 - 0.5 and -0.5 <= col <= n2 - 0.5
    if not inside or np.linalg.norm(fit.fun) > _TOLERANCE_RAD:
        raise PickError(f"2θ {tth_deg:.3f}°, χ {chi_deg:.1f}° is off the detector: "
                        "click on the cake where it shows the image.")
    return row, col


def pick_on_cake(session: CalibrationSession, geometry: Geometry, tth_deg: float, chi_deg: float, ring: int,
                 mode: str = "ring", method: str = "massif", search_size: int = 10) -> PickGroup:
    """Pick ring ``ring`` (0-based) at a cake point, exactly as a click on the image pixel behind it would.

    ``geometry`` is the one the cake was made with (the image is the session's working image).
    """
    row, col = detector_pixel(geometry, session.data.shape, tth_deg, chi_deg)
    return session.pick(row, col, ring, mode, method, search_size)
