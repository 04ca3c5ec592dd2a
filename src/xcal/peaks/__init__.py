"""Peak and ring search on detector images (no Qt): the ring under a click, rings found with no
click, the peaks of every ring a geometry predicts, the tilt-corrected radial profile.

Below the calibration pipeline and above the geometry primitives: this package imports only
``xcal.core.geometry``, ``xcal.core.errors`` and ``xcal.core.progress``.
"""

from ..core.public import exports

__all__, __getattr__ = exports(__name__, {
    "picking": ["RingPicker", "pick_single_peak"],
    "ring_finder": ["FoundRing", "RingSearch", "find_rings"],
    "faint_rings": ["find_faint_rings"],
    "ring_extraction": ["ExtractionOptions", "extract_rings"],
    "ring_profile": ["RingProfile", "ring_profile"],
})
