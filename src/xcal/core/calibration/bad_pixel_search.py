"""Mask mode's hot/dead pixel search on the session's image: which reference, and why.

The azimuthal statistics (``hot_pixels``) compare each pixel with the others at its 2θ, which
catches hot pixels on the rings and single-crystal spots, but only if the geometry puts the rings
exactly where they are. A little off, the edges of every ring fall into the bins of the background
and look hot: on the example image (one planted hot pixel) the true geometry flags that one pixel,
a beam centre 1 px off 5 900 pixels, a distance 20 % off 46 000. So the session's geometry is used
only when the checks called it good on this image; otherwise (judged *check* or *bad*, or edited,
loaded, set by a circle fit: not checked) the search compares each pixel with its 3 × 3
neighbours (median filter), and says why.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyFAI.geometry import Geometry

from ..masks.hot_pixels import BadPixels, find_bad_pixels
from ..progress import Task, ensure_task
from .session import CalibrationSession

_FALLBACK = "pixels were compared with their 3 × 3 neighbours (median filter), not with the pixels at the same 2θ"


@dataclass
class BadPixelSearch:
    """What the search found, and why the median filter was used ('' when it was not, or there was no geometry)."""

    found: BadPixels
    note: str = ""


def mask_reference(session: CalibrationSession) -> tuple[Geometry | None, str]:
    """The geometry the search may compare pixels along (None: the median filter) and the reason it may not."""
    geometry = session.geometry
    if geometry is None:
        return None, ""
    verdict = session.verdict
    if verdict is None:
        label = session.history[-1].label
        return None, (f"The current geometry ({label}) has not been checked against this image, so {_FALLBACK}. "
                      "Press Refine (Calibration mode) to check it.")
    if verdict.level != "good":
        return None, f"The calibration was judged {verdict.level} ({verdict.reasons[0]}), so {_FALLBACK}."
    return geometry, ""


def search_bad_pixels(session: CalibrationSession, sigma: float = 8.0, task: Task | None = None) -> BadPixelSearch:
    """Hot and dead pixels of the session's image (gaps and masked pixels left out), ``sigma`` noise levels off.

    With a good geometry the 2θ map comes from the session's mask, which keeps it for the Arc tool.
    """
    task = ensure_task(task)
    geometry, note = mask_reference(session)
    data, invalid, mask = session.data, session.invalid, session.mask
    two_theta = None if geometry is None else mask.angle_maps(geometry)[0]
    return BadPixelSearch(find_bad_pixels(data, invalid, two_theta, sigma, task), note)
