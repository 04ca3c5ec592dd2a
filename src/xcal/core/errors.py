"""Errors raised by the engine.

Every message is written for the user: it names the file or parameter at fault and what is
wrong with it, so the GUI and the CLI can show it as it is, without a traceback.
"""


class XcalError(Exception):
    """Base class of every error meant to be shown to the user."""


class ImageError(XcalError):
    """An image file cannot be read or its content is unusable."""


class DetectorError(XcalError):
    """Unknown detector, or a detector that does not fit the image."""


class CalibrantError(XcalError):
    """Unknown calibrant, or a calibrant file that is empty or malformed."""


class GeometryFileError(XcalError):
    """A .poni (or other geometry) file cannot be read or written."""


class PickError(XcalError):
    """Peak picking found nothing usable, or the picks are not enough for a fit."""


class FitError(XcalError):
    """A geometry fit did not converge or gave an unphysical answer."""


class Cancelled(XcalError):
    """The user cancelled a running task."""
