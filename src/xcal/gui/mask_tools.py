"""Drawing mask shapes on the image with the mouse, and the mask overlays of the Mask mode.

The tools turn mouse gestures on the :class:`~.image_view.ImageView` into a finished shape:
a label and a function that applies it to a :class:`~xcal.core.masks.model.MaskModel`. While a shape
is drawn, a preview follows the mouse. The tools never change the mask themselves: the
controller applies the shape, so undo, refusals and redraws stay in one place.

View coordinates are the image view's: pixel (row, col) has its centre at (col + 0.5, row + 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from pyFAI.geometry import Geometry
from PyQt5.QtCore import QEvent, QObject, QRectF, Qt, pyqtSignal
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import QWidget

from ..core.masks.model import MaskModel
from ..core.masks.shapes import sector, short_arc
from .image_view import ImageView

Apply = Callable[[MaskModel, bool], int]  # (mask, True to mask / False to unmask) -> pixels changed
DRAG_TOOLS = ("rectangle", "circle", "ellipse", "arc")
MAX_SUGGESTION_MARKERS = 20_000  # beyond this the circles hide the image anyway
_PREVIEW_PIXELS = 250_000  # the arc preview is computed on a subsample of about this many pixels
_PREVIEW_PEN = pg.mkPen(QColor(255, 230, 0), width=1.5, style=Qt.DashLine)


def _pixel(x: float, y: float) -> tuple[float, float]:
    return y - 0.5, x - 0.5


def _ellipse_outline(row: float, col: float, radius_row: float, radius_col: float) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 2 * np.pi, 97)
    return row + radius_row * np.sin(t), col + radius_col * np.cos(t)


def _annulus_outline(centre: tuple[float, float], radii: tuple[float, float],
                     angles: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Closed outline of a ring sector (angles as ``mask_shapes.annulus``), or two circles for a full ring."""
    r_in, r_out = sorted(radii)
    if angles is None:
        t = np.linspace(0, 2 * np.pi, 145)
        t = np.concatenate([t, [np.nan], t])
        r = np.concatenate([np.full(145, r_out), [np.nan], np.full(145, r_in)])
    else:
        span = (angles[1] - angles[0]) % 360.0
        t = np.radians(angles[0] + np.linspace(0, span, max(int(span), 2) + 1))
        t = np.concatenate([t, t[::-1], t[:1]])
        r = np.concatenate([np.full(len(t) // 2, r_out), np.full(len(t) // 2, r_in), [r_out]])
    return centre[0] + r * np.sin(t), centre[1] + r * np.cos(t)


class _Marks(pg.ScatterPlotItem):
    """Markers for show only: a click on one reaches the view (a double click on the last vertex closes)."""

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph naming
        ev.ignore()


class MaskTools(QObject):
    """The Mask mode's mouse tools on the image view. ``drawn`` carries each finished shape."""

    drawn = pyqtSignal(str, object)  # label, Apply
    hint = pyqtSignal(str)  # what the user should do next, for the status bar
    refused = pyqtSignal(str)  # why a gesture drew nothing, for the message strip

    def __init__(self, image_view: ImageView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.image_view = image_view
        self.view = image_view.view
        self.tool = "pan"
        self.active = False
        self.point_radius = 0.0
        self.mask: MaskModel | None = None  # the mask drawn on: for its shape and cached 2θ/χ maps
        self.geometry: Geometry | None = None
        self._vertices: list[tuple[float, float]] = []
        self._centre: tuple[float, float] | None = None  # of a pixel arc, without a geometry
        self._hover: tuple[float, float] | None = None
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.region_preview = pg.ImageItem(axisOrder="row-major")
        self.outline = pg.PlotCurveItem(pen=_PREVIEW_PEN, connect="finite")
        self.markers = _Marks(size=7, brush=pg.mkBrush(255, 230, 0), pen=pg.mkPen("k"))
        self.suggestion = _Marks(size=11, symbol="o", brush=None, pen=pg.mkPen(QColor(0, 230, 255), width=1.5))
        for z, item in ((1.1, self.overlay), (1.2, self.region_preview), (5, self.outline), (6, self.markers),
                        (6, self.suggestion)):
            item.setZValue(z)
            item.setVisible(False)
            self.view.addItem(item)
        self.view.dragged.connect(self._dragged)
        self.view.clicked.connect(self._clicked)
        self.view.double_clicked.connect(self._double_clicked)
        image_view.cursor_moved.connect(self._moved)

    # -- state -------------------------------------------------------------------------------------
    def set_active(self, active: bool) -> None:
        """Mask mode on or off: off, clicks and drags are the other modes' again."""
        self.cancel()
        self.active = active
        for item in (self.overlay, self.region_preview, self.outline, self.markers):
            item.setVisible(active)
        self.suggestion.setVisible(active and len(self.suggestion.data) > 0)
        self._update_drawing()

    @property
    def drawing_in_progress(self) -> bool:
        """A polygon has vertices, or a pixel arc has its centre."""
        return bool(self._vertices) or self._centre is not None

    def set_tool(self, tool: str) -> None:
        self.cancel()
        self.tool = tool
        self._update_drawing()

    def _update_drawing(self) -> None:
        self.view.drawing = self.active and self.tool in DRAG_TOOLS

    def cancel(self) -> None:
        """Drop the shape being drawn (Esc, a new tool, leaving the mode)."""
        self._vertices, self._centre = [], None
        self._clear_preview()
        self.markers.setData([])

    def _clear_preview(self) -> None:
        self.outline.setData([], [])
        self.region_preview.clear()

    # -- overlays ----------------------------------------------------------------------------------
    def show_mask(self, mask: np.ndarray | None) -> None:
        """The user's mask in the mask colour at the overlay opacity (None: nothing)."""
        if mask is None:
            self.overlay.clear()
        else:
            self.overlay.setImage(mask.view(np.uint8), autoLevels=False, levels=(0, 1), lut=self.image_view.mask_lut())

    def show_suggestion(self, pixels: np.ndarray | None) -> None:
        """Circles around suggested pixels (a bool image), so that single pixels show at any zoom."""
        if pixels is None or not pixels.any():
            self.suggestion.setData([])
            self.suggestion.setVisible(False)
            return
        rows, cols = np.nonzero(pixels)
        rows, cols = rows[:MAX_SUGGESTION_MARKERS], cols[:MAX_SUGGESTION_MARKERS]
        self.suggestion.setData(cols + 0.5, rows + 0.5)
        self.suggestion.setVisible(self.active)

    def _show_outline(self, rows: np.ndarray, cols: np.ndarray) -> None:
        self.outline.setData(np.asarray(cols, float) + 0.5, np.asarray(rows, float) + 0.5)

    # -- gestures ----------------------------------------------------------------------------------
    def _no_image(self) -> bool:
        """True (and the reason said) when a drawing tool is used before there is an image to draw on."""
        if self.mask is None and self.tool != "pan":
            self.refused.emit("Load an image first: the mask is drawn on it.")
        return self.mask is None

    def _dragged(self, stage: str, x0: float, y0: float, x1: float, y1: float, modifiers: int) -> None:
        if not self.active or (stage == "finish" and self._no_image()) or self.mask is None:
            return
        shape = self._drag_shape(_pixel(x0, y0), _pixel(x1, y1), bool(modifiers & Qt.ShiftModifier))
        if shape is None:
            return
        label, apply, preview = shape
        if stage == "finish":
            self._clear_preview()  # a pixel arc's centre stays, for the next arc around it
            self.drawn.emit(label, apply)
        else:
            preview()

    def _clicked(self, x: float, y: float) -> None:
        if not self.active or self._no_image():
            return
        row, col = _pixel(x, y)
        if self.tool == "point":
            radius = self.point_radius
            self.drawn.emit("point", lambda m, v: m.point(row, col, radius, v))
        elif self.tool == "polygon":
            self._vertices.append((row, col))
            self._show_polygon()
        elif self.tool == "arc" and self.geometry is None:
            self._centre = (row, col)
            self.markers.setData([col + 0.5], [row + 0.5])
            self.hint.emit("Arc centre set: now drag across the radii and angles to mask (Shift: the full ring).")

    def _double_clicked(self, x: float, y: float) -> None:
        if not (self.active and self.tool == "polygon"):
            return
        vertices = np.array(self._vertices, float)
        self.cancel()
        if len(vertices) < 3:
            self.hint.emit("A polygon needs at least three vertices: click them, then double-click.")
            return
        self.drawn.emit("polygon", lambda m, v: m.polygon(vertices, v))

    def _moved(self, x: float, y: float) -> None:
        self._hover = _pixel(x, y)
        if self.active and self.tool == "polygon" and self._vertices:
            self._show_polygon()

    def _show_polygon(self) -> None:
        points = self._vertices + ([self._hover] if self._hover is not None else [])
        rows, cols = np.array(points, float).T
        self._show_outline(np.append(rows, rows[0]), np.append(cols, cols[0]))
        vr, vc = np.array(self._vertices, float).T
        self.markers.setData(vc + 0.5, vr + 0.5)

    # -- shapes from a drag ------------------------------------------------------------------------
    def _drag_shape(self, a: tuple[float, float], b: tuple[float, float], full: bool):
        """(label, Apply, preview callable) for a drag from ``a`` to ``b`` (row, col), or None."""
        (r0, c0), (r1, c1) = a, b
        if self.tool == "rectangle":
            return ("rectangle", lambda m, v: m.rectangle(r0, c0, r1, c1, v),
                    lambda: self._show_outline([r0, r0, r1, r1, r0], [c0, c1, c1, c0, c0]))
        if self.tool == "circle":
            radius = math.hypot(r1 - r0, c1 - c0)
            return ("circle", lambda m, v: m.circle(r0, c0, radius, v),
                    lambda: self._show_outline(*_ellipse_outline(r0, c0, radius, radius)))
        if self.tool == "ellipse":
            row, col, half_rows, half_cols = (r0 + r1) / 2, (c0 + c1) / 2, abs(r1 - r0) / 2, abs(c1 - c0) / 2
            return ("ellipse", lambda m, v: m.ellipse(row, col, half_rows, half_cols, 0.0, v),
                    lambda: self._show_outline(*_ellipse_outline(row, col, half_rows, half_cols)))
        if self.tool == "arc":
            return self._angular_arc(a, b, full) if self.geometry is not None else self._pixel_arc(a, b, full)
        return None

    def _angular_arc(self, a: tuple[float, float], b: tuple[float, float], full: bool):
        """A 2θ range x χ arc between the two points, for the current geometry."""
        geometry = self.geometry
        rows, cols = np.array([a[0], b[0]]), np.array([a[1], b[1]])
        tth = tuple(float(t) for t in np.degrees(geometry.tth(rows, cols)))
        chi = None if full else short_arc(*(float(c) for c in np.degrees(geometry.chi(rows, cols))))
        return ("arc" if chi else "annulus", lambda m, v: m.sector(geometry, tth, chi, v),
                lambda: self._show_sector(geometry, tth, chi))

    def _show_sector(self, geometry: Geometry, tth: tuple[float, float], chi: tuple[float, float] | None) -> None:
        mask = self.mask
        if mask is None or not mask.angle_maps_ready(geometry):
            return  # the maps are computed in the worker when the Arc tool is chosen
        step = max(1, int(math.sqrt(mask.array.size / _PREVIEW_PIXELS)))
        tth_map, chi_map = (m[::step, ::step] for m in mask.angle_maps(geometry))
        inside = sector(tth_map, chi_map, tth, chi)
        self.region_preview.setImage(inside.view(np.uint8), autoLevels=False, levels=(0, 1),
                                     lut=np.array([[0, 0, 0, 0], [255, 230, 0, 110]], np.ubyte))
        self.region_preview.setRect(QRectF(0, 0, inside.shape[1] * step, inside.shape[0] * step))

    def _pixel_arc(self, a: tuple[float, float], b: tuple[float, float], full: bool):
        """A ring sector around the clicked centre, without a geometry."""
        if self._centre is None:
            self.hint.emit("Without a geometry, click the centre of the arc first, then drag.")
            return None
        centre = self._centre
        radii = tuple(math.hypot(p[0] - centre[0], p[1] - centre[1]) for p in (a, b))
        directions = (math.degrees(math.atan2(p[0] - centre[0], p[1] - centre[1])) for p in (a, b))
        angles = None if full else short_arc(*directions)
        return ("arc" if angles else "annulus", lambda m, v: m.annulus(*centre, *radii, angles, v),
                lambda: self._show_outline(*_annulus_outline(centre, radii, angles)))


class OffImageWatch(QObject):
    """Notices left clicks and drags on views the mask tools cannot draw on (cake, pattern), so that
    the Mask mode can say why nothing was drawn. It only watches: the views still get every event."""

    used = pyqtSignal(str)  # the view's name

    def __init__(self, viewports: dict[str, QWidget], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._names = {viewport: name for name, viewport in viewports.items()}
        for viewport in viewports.values():
            viewport.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if event.type() == QEvent.MouseButtonRelease and event.button() == Qt.LeftButton and watched in self._names:
            self.used.emit(self._names[watched])
        return False
