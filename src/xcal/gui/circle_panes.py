"""The circle dialog's image views: the whole image and a magnified part, each with the clicked points,
the points on the ring, the outliers, the fitted circle and its centre. The wheel over the magnified
part reports its turns (the dialog changes the magnification); over the whole image it zooms as usual.

View coordinates follow :mod:`.image_view`: point (row, col) is drawn at (col + 0.5, row + 0.5).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QPointF, pyqtSignal
from PyQt5.QtGui import QColor

from ..core.geometry.conics import Circle
from .image_view import ClickViewBox

_GREEN = QColor(80, 255, 120)


class _Scatter(pg.ScatterPlotItem):
    """Markers that let clicks through to the view (which finds the marker under the click itself)."""

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - Qt naming
        ev.ignore()


class ImagePane(pg.GraphicsLayoutWidget):
    """An image with markers, points on the ring, fitted circle and centre; reports clicks in view coordinates
    and, for the magnified part (``zoom``), wheel turns in notches (positive: away from the user)."""

    clicked = pyqtSignal(float, float)
    wheeled = pyqtSignal(float)

    def __init__(self, zoom: bool) -> None:
        super().__init__()
        self.zoom = zoom
        self.view = ClickViewBox(lockAspect=True, invertY=True)
        self.view.setDefaultPadding(0.0 if zoom else 0.01)
        if zoom:
            self.view.setMouseEnabled(False, False)
        self.addItem(self.view)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.circle_item = pg.PlotCurveItem(pen=pg.mkPen(_GREEN, width=1.5))
        self.refined_item = _Scatter(size=5 if not zoom else 7, symbol="o", pen=None, brush=pg.mkBrush(0, 220, 255))
        self.markers_item = _Scatter(size=11 if not zoom else 15, symbol="+", pen=pg.mkPen("#ff4040", width=2),
                                     brush=pg.mkBrush("#ff4040"))
        self.outliers_item = _Scatter(size=13 if not zoom else 17, symbol="x", pen=pg.mkPen("#ffd000", width=2),
                                      brush=pg.mkBrush("#ffd000"))
        self.centre_item = _Scatter(size=12, symbol="+", pen=pg.mkPen(_GREEN, width=2), brush=pg.mkBrush(_GREEN))
        items = (self.image_item, self.refined_item, self.circle_item, self.markers_item, self.outliers_item,
                 self.centre_item)  # the circle over the traced points, which can hide it all round
        for z, item in enumerate(items):
            item.setZValue(z)
            self.view.addItem(item)
        self.view.clicked.connect(self.clicked)

    def wheelEvent(self, ev) -> None:  # noqa: N802 - Qt naming
        if not self.zoom:
            super().wheelEvent(ev)
            return
        self.wheeled.emit(ev.angleDelta().y() / 120)  # Qt: 120 per notch of a standard wheel
        ev.accept()

    def show_circle(self, circle: Circle | None) -> None:
        """Draw the circle and its centre (nothing for None)."""
        if circle is None:
            self.circle_item.setData([], [])
            self.centre_item.setData([], [])
            return
        phi = np.linspace(0, 2 * np.pi, 721)
        self.circle_item.setData(circle.col + 0.5 + circle.radius * np.cos(phi), circle.row + 0.5 + circle.radius * np.sin(phi))
        self.centre_item.setData([circle.col + 0.5], [circle.row + 0.5])

    def show_points(self, rows: np.ndarray, cols: np.ndarray, on_ring: bool, outliers: np.ndarray | None) -> None:
        """The points a fit used (drawn as points on the ring unless they are the clicks) and its outliers."""
        x, y = np.asarray(cols) + 0.5, np.asarray(rows) + 0.5
        self.refined_item.setData(x if on_ring else [], y if on_ring else [])
        bad = np.zeros(len(x), bool) if outliers is None else outliers
        self.outliers_item.setData(x[bad], y[bad])

    def screen_distance(self, x0: float, y0: float, x1: float, y1: float) -> float:
        """Distance between two view points in screen pixels."""
        pw, ph = self.view.viewPixelSize()
        return math.hypot((x1 - x0) / max(pw, 1e-12), (y1 - y0) / max(ph, 1e-12))

    def viewport_pos(self, x: float, y: float):
        """Widget position of view point (x, y) in the viewport (for tests and screenshots)."""
        return self.mapFromScene(self.view.mapViewToScene(QPointF(x, y)))
