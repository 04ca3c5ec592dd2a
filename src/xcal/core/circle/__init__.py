"""The manual circle fit of SAXS and fibre users (MuscleX style): a circle through clicked points or
found on the image, and the untilted geometry it gives."""

from ..public import exports

__all__, __getattr__ = exports(__name__, {
    "fit": ["CircleFit"],
    "geometry": ["geometry_from_circle", "ring_radius_px"],
    "image": ["CircleOutcome", "find_ring", "fit_clicks", "fit_traced"],
})
