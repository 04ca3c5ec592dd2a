"""The detector and its geometry: pyFAI detectors and the guess of one from an image, the image's
rotations and flips, conics, the point model and its least squares, first geometries."""

from ..public import exports

__all__, __getattr__ = exports(__name__, {
    "beam": ["beam_centre"],
    "conics": ["Circle", "circles_through", "fit_circle", "fit_ellipse"],
    "detector_guess": ["DetectorGuess", "guess_detector"],
    "detectors": ["detector_description", "detector_mask", "detector_names", "make_detector", "pixel_size", "suggest_detectors"],
    "initial_guess": ["guess_geometries"],
    "refinement": ["ControlPoints", "FitResult", "PARAMS", "PointModel", "geometry_values", "mad_outliers", "new_geometry", "refine"],
    "transforms": ["ImageTransform", "raw_geometry", "working_geometry"],
})
