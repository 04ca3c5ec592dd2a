"""xcal: calibration of 2D X-ray diffraction detectors, built on pyFAI.

The headless API lives in :mod:`xcal.api`; the Qt application in :mod:`xcal.gui`.
"""

__version__ = "0.1.0"
