"""``annulus_pixels`` evaluates only each row's chords through the annulus; it must return exactly
what a brute-force pass over the ellipse's whole bounding box returns (same pixels, same order,
same values), or click tracing would change its results.
"""

from __future__ import annotations

import numpy as np
import pytest

from xcal.peaks.coordinates import EllipseCoordinate
from xcal.peaks.sector_peaks import Candidates, annulus_pixels


def _bounding_box_annulus(data: np.ndarray, invalid: np.ndarray, coord: EllipseCoordinate, half: float) -> Candidates:
    """The reference: radius of every pixel of the bounding box, then the annulus test."""
    h, w = data.shape
    reach = max(coord.a, coord.b) * (1 + half) + 2
    r0, r1 = int(max(coord.row - reach, 0)), int(min(coord.row + reach + 1, h))
    c0, c1 = int(max(coord.col - reach, 0)), int(min(coord.col + reach + 1, w))
    rows, cols = np.ogrid[r0:r1, c0:c1]
    radial = coord.radial(rows, cols)
    inside = (np.abs(radial - 1.0) < half) & ~invalid[r0:r1, c0:c1]
    rr, cc = np.nonzero(inside)
    rr, cc = (rr + r0).astype(np.float64), (cc + c0).astype(np.float64)
    return Candidates(rr, cc, data[r0:r1, c0:c1][inside].astype(np.float64), radial[inside], coord.azimuth(rr, cc))


ELLIPSES = [
    EllipseCoordinate.circle(150.3, 170.8, 90.0),  # inside the image
    EllipseCoordinate(120.0, 40.5, 160.0, 130.0, 0.7),  # tilted, cut by the image edges
    EllipseCoordinate(-60.2, 200.0, 140.0, 120.0, -1.2),  # centre outside the image: arcs only
    EllipseCoordinate(100.0, 100.0, 4.0, 3.5, 0.3),  # tiny ring
    EllipseCoordinate(500.0, 500.0, 40.0, 35.0, 0.0),  # entirely outside the image
]


@pytest.mark.parametrize("coord", ELLIPSES)
@pytest.mark.parametrize("half", [0.005, 0.05, 0.4, 1.2])
def test_annulus_pixels_match_the_bounding_box_scan(coord: EllipseCoordinate, half: float) -> None:
    rng = np.random.default_rng(0)
    data = rng.random((300, 340)).astype(np.float32)
    invalid = rng.random(data.shape) < 0.05
    got = annulus_pixels(data, invalid, coord, half)
    want = _bounding_box_annulus(data, invalid, coord, half)
    for name in ("rows", "cols", "intensity", "radial", "azimuth"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
