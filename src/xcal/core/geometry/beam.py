"""Where the direct beam hits the image, in the array's own pixel coordinates.

pyFAI's Fit2D centre is expressed in the detector's frame, which for orientations other than the
default (3) is flipped with respect to the array; users and comparisons want array coordinates.
"""

from __future__ import annotations

from pyFAI.geometry import Geometry

# Orientation → (rows reversed, columns reversed) relative to pyFAI's default orientation 3.
_FLIPS = {0: (False, False), 3: (False, False), 2: (True, False), 4: (False, True), 1: (True, True)}


def beam_centre(geometry: Geometry, shape: tuple[int, int]) -> tuple[float, float]:
    """(x, y) of the direct beam in array pixels, pixel i spanning [i, i+1) (Fit2D/Dioptas convention)."""
    f2d = geometry.getFit2D()
    x, y = f2d["centerX"], f2d["centerY"]
    flip_rows, flip_cols = _FLIPS[int(geometry.detector.orientation or 3)]
    if flip_rows:
        y = shape[0] - y
    if flip_cols:
        x = shape[1] - x
    return float(x), float(y)
