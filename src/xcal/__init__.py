"""xcal: calibration of 2D X-ray diffraction detectors, built on pyFAI.

The headless engine lives in :mod:`xcal.core` (and :mod:`xcal.peaks`), the command line in
:mod:`xcal.cli`, the Qt application in :mod:`xcal.gui`.
"""

__version__ = "0.1.0"
