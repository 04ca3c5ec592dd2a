"""Masks: the user's mask and its shapes and files, and the pixels found unusable (hot, dead,
saturated)."""

from ..public import exports

__all__, __getattr__ = exports(__name__, {
    "dead_regions": ["DeadPixels", "find_dead"],
    "hot_pixels": ["BadPixels", "find_bad_pixels"],
    "model": ["MaskModel", "read_mask", "write_mask"],
    "saturation": ["SaturatedPixels", "find_saturated"],
})
