"""The colormaps the image and cake views offer, by a stable name that the settings store.

Grey first (what a detector image is usually read in, and Dioptas' default), its inverse for
faint rings on a white page, then perceptually uniform maps whose brightness rises steadily, so
that a weak outer ring is not hidden by a hue change.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5.QtGui import QIcon, QImage, QPixmap

COLORMAPS: dict[str, str] = {
    "grey": "Grey",
    "grey_r": "Grey, inverted",
    "viridis": "Viridis",
    "inferno": "Inferno",
    "magma": "Magma",
    "plasma": "Plasma",
    "cividis": "Cividis",
    "turbo": "Turbo",
}
DEFAULT_COLORMAP = "grey"


def colormap(name: str) -> pg.ColorMap:
    """The colormap called ``name`` (an unknown name, e.g. from an old settings file, gives grey)."""
    if name == "grey_r":
        return pg.ColorMap([0.0, 1.0], [(255, 255, 255), (0, 0, 0)])
    if name in COLORMAPS and name != "grey":
        return pg.colormap.get(name)
    return pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)])


def colormap_icon(name: str, width: int = 48, height: int = 12) -> QIcon:
    """A swatch of the colormap, left (low) to right (high), for menus and combo boxes."""
    rgb = np.ascontiguousarray(np.repeat(colormap(name).getLookupTable(nPts=width, alpha=False)[np.newaxis], height, axis=0),
                               dtype=np.uint8)
    image = QImage(rgb.data, width, height, 3 * width, QImage.Format_RGB888)
    return QIcon(QPixmap.fromImage(image.copy()))
