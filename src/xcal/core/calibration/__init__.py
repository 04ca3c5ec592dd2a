"""Calibration: the session the GUI and the CLI drive, the clicked and no-click pipelines, ring
numbering, the checks against the image, diagnostics and reports."""

from ..public import exports

__all__, __getattr__ = exports(__name__, {
    "session": ["CalibrationSession"],
    "pipeline": ["CalibrationResult", "RefineOptions", "calibrate"],
    "no_click": ["auto_calibrate"],
    "picks": ["PickGroup", "PickSet"],
    "diagnostics": ["Diagnostics", "diagnose_session"],
    "report": ["write_report"],
    "trust": ["TrustReport"],
    "synthetic": ["ring_image"],
})
