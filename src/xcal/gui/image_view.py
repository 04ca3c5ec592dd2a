"""The detector image: zoom/pan, contrast (histogram, colormap, auto, log), mask, picks and calibrant rings.

View coordinates follow the Fit2D/Dioptas convention: pixel (row i, column j) covers
x in [j, j+1), y in [i, i+1), row 0 at the top. pyFAI and the picks use pixel indices whose
integer values are pixel centres, so a point (row, col) is drawn at (col + 0.5, row + 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from pyFAI.geometry import Geometry
from PyQt5.QtCore import QEvent, QObject, QPoint, QPointF, QRectF, Qt, pyqtSignal
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import QFileDialog, QHBoxLayout, QMenu, QMessageBox, QToolButton, QVBoxLayout, QWidget
from pyqtgraph.exporters import ImageExporter

from ..core.calibration.picks import PickGroup
from .levels_control import Contrast

# Ring colours: distinct hues that stay visible on a grey image.
_PALETTE = ("#ff4040", "#40c0ff", "#ffd000", "#40ff60", "#ff60ff", "#ff9020", "#a0a0ff", "#00ffd0", "#ffffff", "#c08040")
_EXPORT_WIDTH = 2048  # pixels of a saved view, as Dioptas
_png_folder = ""  # where the last view was saved: the next save dialog opens there


def ring_color(ring: int) -> QColor:
    """Colour of a ring (0-based) for its picks and labels."""
    return QColor(_PALETTE[ring % len(_PALETTE)])


def position_text(x: float, y: float, value: float | None, geometry: Geometry | None) -> str:
    """The status line for the cursor at view position (x, y): pixel, intensity, 2θ, χ, d, q."""
    parts = [f"x {x:.1f}", f"y {y:.1f}"]
    if value is not None:
        parts.append(f"I {value:.6g}")
    if geometry is not None and geometry.wavelength:
        row, col = np.array([y - 0.5]), np.array([x - 0.5])
        tth = float(geometry.tth(row, col)[0])
        chi = float(geometry.chi(row, col)[0])
        wavelength_a = geometry.wavelength * 1e10
        sin_theta = math.sin(tth / 2)
        parts += [f"2θ {math.degrees(tth):.4f}°", f"χ {math.degrees(chi):.2f}°"]
        if sin_theta > 0:
            parts += [f"d {wavelength_a / (2 * sin_theta):.4f} Å", f"q {4 * math.pi * sin_theta / wavelength_a:.4f} Å⁻¹"]
    return "   ".join(parts)


class ClickViewBox(pg.ViewBox):
    """A ViewBox with the mouse of Dioptas: clicks reported, a zoom rectangle, xcal's own menu.

    Left clicks and double clicks are reported in view coordinates. A right drag, or a left drag
    with Ctrl held, draws a rectangle and zooms to it; a right click asks for the view's menu
    (``menu_requested``: screen position, view x, y) instead of pyqtgraph's generic one. While
    ``drawing`` is set (a mask tool is chosen), other left drags are reported as ``dragged``
    instead of panning: (stage "start"/"move"/"finish", x0, y0 where the button went down,
    x, y now, keyboard modifiers). The middle button and the wheel still pan and zoom.
    """

    clicked = pyqtSignal(float, float)
    double_clicked = pyqtSignal(float, float)
    dragged = pyqtSignal(str, float, float, float, float, int)
    menu_requested = pyqtSignal(QPoint, float, float)
    drawing = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, enableMenu=False, **kwargs)
        self._zooming = False  # the current drag draws the zoom rectangle

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - Qt naming
        pos = self.mapSceneToView(ev.scenePos())
        if ev.button() == Qt.LeftButton:
            ev.accept()
            (self.double_clicked if ev.double() else self.clicked).emit(pos.x(), pos.y())
        elif ev.button() == Qt.RightButton:
            ev.accept()
            self.menu_requested.emit(ev.screenPos().toPoint(), pos.x(), pos.y())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - Qt naming
        if ev.isStart():
            self._zooming = ev.button() == Qt.RightButton or (
                ev.button() == Qt.LeftButton and bool(ev.modifiers() & Qt.ControlModifier))
        if self._zooming:
            self._zoom_drag(ev)
        elif self.drawing and ev.button() == Qt.LeftButton:
            ev.accept()
            start = self.mapSceneToView(ev.buttonDownScenePos())
            pos = self.mapSceneToView(ev.scenePos())
            stage = "start" if ev.isStart() else "finish" if ev.isFinish() else "move"
            self.dragged.emit(stage, start.x(), start.y(), pos.x(), pos.y(), int(ev.modifiers()))
        else:
            super().mouseDragEvent(ev, axis)

    def _zoom_drag(self, ev) -> None:
        """The rubber band while the button is held; on release, the view shows what it enclosed."""
        ev.accept()
        if not ev.isFinish():
            self.updateScaleBox(ev.buttonDownPos(), ev.pos())
            return
        self.rbScaleBox.hide()
        self._zooming = False
        rect = self.childGroup.mapRectFromParent(QRectF(ev.buttonDownPos(), ev.pos())).normalized()
        if rect.width() > 0 and rect.height() > 0:
            self.showAxRect(rect, padding=0)

    def zoom(self, factor: float, x: float, y: float) -> None:
        """Zoom in (factor > 1) or out around view point (x, y)."""
        self.scaleBy((1 / factor, 1 / factor), center=QPointF(x, y))


def save_view_png(parent: QWidget, item: pg.GraphicsObject, title: str) -> str:
    """Ask for a file name and save ``item`` as shown, 2048 pixels wide; the path written ('' if none)."""
    global _png_folder
    path, _ = QFileDialog.getSaveFileName(parent, title, _png_folder, "PNG images (*.png)")
    if not path:
        return ""
    if not path.lower().endswith(".png"):
        path += ".png"
    _png_folder = str(Path(path).parent)
    exporter = ImageExporter(item)
    exporter.parameters()["width"] = _EXPORT_WIDTH
    if not exporter.export(toBytes=True).save(path):
        QMessageBox.warning(parent, title, f"Could not write {path}: check the folder exists and is writable.")
        return ""
    return path


def view_menu(parent: QWidget, box: ClickViewBox, x: float, y: float, fit: Callable[[], None],
              contrast: Contrast | None, export: pg.GraphicsObject, title: str) -> QMenu:
    """xcal's right-click menu of a view: fit, zoom at the click, contrast, save as PNG."""
    menu = QMenu(parent)
    menu.addAction("Fit to window", fit)
    menu.addAction("Zoom in", lambda: box.zoom(2.0, x, y))
    menu.addAction("Zoom out", lambda: box.zoom(0.5, x, y))
    if contrast is not None:
        menu.addSeparator()
        contrast.add_actions(menu)
    menu.addSeparator()
    menu.addAction("Save view as PNG…", lambda: save_view_png(parent, export, f"Save the {title} as PNG"))
    return menu


class ImageView(QWidget):
    """Image with histogram/LUT and overlays; emits clicks as pyFAI pixel indices (row, col).

    ``compact`` (a pane of integration mode) puts the histogram under the image and shortens
    the button labels, so the image keeps the pane's width.
    """

    pixel_clicked = pyqtSignal(float, float)  # row, col (pyFAI index convention)
    cursor_moved = pyqtSignal(float, float)  # view x, y
    cursor_left = pyqtSignal()

    def __init__(self, parent: QWidget | None = None, compact: bool = False) -> None:
        super().__init__(parent)
        self._data: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._mask_transparent = True
        self.mask_color = QColor(255, 40, 40)
        self.mask_opacity = 0.3  # of the transparent mask overlay
        self.menu: QMenu | None = None  # the right-click menu last opened
        self.graphics = pg.GraphicsLayoutWidget()
        self.view = ClickViewBox(lockAspect=True, invertY=True)
        self.view.setDefaultPadding(0.01)
        self.graphics.addItem(self.view, 0, 0)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.mask_item = pg.ImageItem(axisOrder="row-major")
        self.rings_item = pg.PlotCurveItem(pen=pg.mkPen(QColor(80, 255, 120, 140), width=1), connect="finite")
        self.picks_item = pg.ScatterPlotItem(size=6, pen=pg.mkPen("k", width=0.6), pxMode=True)
        for z, item in enumerate((self.image_item, self.mask_item, self.rings_item, self.picks_item)):
            item.setZValue(z)
            self.view.addItem(item)
        self._labels: list[pg.TextItem] = []
        self.histogram = pg.HistogramLUTItem(orientation="horizontal" if compact else "vertical")
        self.graphics.addItem(self.histogram, *((1, 0) if compact else (0, 1)))
        self.contrast = Contrast(self.image_item, self.histogram, parent=self)
        self.log_box, self.auto_button = self.contrast.log_box, self.contrast.auto_button
        self.fit_button = QToolButton()
        self.fit_button.setText("Fit" if compact else "Fit to window")
        self.fit_button.setToolTip("Show the whole image (right-drag or Ctrl+drag: zoom to a rectangle)")
        if compact:
            self.contrast.set_compact()
        controls = QHBoxLayout()
        for widget in (self.contrast.colormap_box, self.log_box, self.auto_button, self.fit_button):
            controls.addWidget(widget)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(controls)

        self.fit_button.clicked.connect(self.fit)
        self.view.clicked.connect(lambda x, y: self.pixel_clicked.emit(y - 0.5, x - 0.5))
        self.view.menu_requested.connect(self._show_menu)
        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)
        self.graphics.viewport().installEventFilter(self)

    # -- image -------------------------------------------------------------------------------------
    def set_image(self, data: np.ndarray, invalid: np.ndarray, reset_view: bool) -> None:
        """Show a new working array; a new shape or ``reset_view`` fits it to the window.

        The same shape keeps the user's zoom (the next frame or file of a series). ``invalid``
        pixels (gaps, dead pixels) are left out of the automatic contrast.
        """
        new_shape = self._data is None or self._data.shape != data.shape
        self._data = data
        self.contrast.set_data(data, invalid, reset=reset_view or new_shape)
        if reset_view or new_shape:
            self.fit()

    def fit(self) -> None:
        """The whole image in the window (only the image: overlays of another shape may linger)."""
        self.view.autoRange(padding=0.01, items=[self.image_item])

    def _show_menu(self, screen_pos: QPoint, x: float, y: float) -> None:
        self.menu = view_menu(self, self.view, x, y, self.fit, self.contrast, self.view, "image")
        self.menu.popup(screen_pos)

    def value_at(self, x: float, y: float) -> float | None:
        if self._data is None:
            return None
        row, col = int(math.floor(y)), int(math.floor(x))
        if 0 <= row < self._data.shape[0] and 0 <= col < self._data.shape[1]:
            return float(self._data[row, col])
        return None

    # -- overlays ----------------------------------------------------------------------------------
    def set_mask(self, mask: np.ndarray | None, transparent: bool) -> None:
        """Masked pixels in the mask colour: at the mask opacity if ``transparent``, else opaque; None hides the mask."""
        self._mask, self._mask_transparent = mask, transparent
        if mask is None:
            self.mask_item.clear()
            return
        self.mask_item.setImage(mask.view(np.uint8), autoLevels=False, levels=(0, 1),
                                lut=self.mask_lut(1.0 if not transparent else None))

    def mask_lut(self, opacity: float | None = None) -> np.ndarray:
        """Look-up table for a 0/1 overlay: clear, then the mask colour at ``opacity`` (default: the mask opacity)."""
        alpha = round(255 * (self.mask_opacity if opacity is None else opacity))
        c = self.mask_color
        return np.array([[0, 0, 0, 0], [c.red(), c.green(), c.blue(), alpha]], dtype=np.ubyte)

    def set_mask_style(self, color: QColor, opacity: float) -> None:
        """Colour and opacity of the mask overlays (redraws the mask shown)."""
        self.mask_color, self.mask_opacity = QColor(color), float(opacity)
        self.set_mask(self._mask, self._mask_transparent)

    def set_picks(self, groups: list[PickGroup]) -> None:
        """Picked peaks coloured by ring, with the 1-based ring number beside each group."""
        for label in self._labels:
            self.view.removeItem(label)
        self._labels = []
        spots = []
        for group in groups:
            color = ring_color(group.ring)
            brush = pg.mkBrush(color)
            spots += [{"pos": (c + 0.5, r + 0.5), "brush": brush} for r, c in group.points]
            label = pg.TextItem(str(group.ring + 1), color=color, anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 170))
            font = label.textItem.font()
            font.setBold(True)
            label.setFont(font)
            label.setZValue(4)
            row, col = group.points[0]
            label.setPos(QPointF(col + 0.5 + 3, row + 0.5 - 3))
            self.view.addItem(label)
            self._labels.append(label)
        self.picks_item.setData(spots)

    def set_rings(self, x: np.ndarray, y: np.ndarray) -> None:
        """Theoretical calibrant rings: NaN-separated polylines in view coordinates."""
        self.rings_item.setData(x, y)

    def clear_rings(self) -> None:
        self.rings_item.setData([], [])

    # -- cursor ------------------------------------------------------------------------------------
    def _mouse_moved(self, scene_pos: QPointF) -> None:
        if self._data is not None and self.view.sceneBoundingRect().contains(scene_pos):
            pos = self.view.mapSceneToView(scene_pos)
            self.cursor_moved.emit(pos.x(), pos.y())
        else:
            self.cursor_left.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        """The mouse leaving the view, or the view hidden (another tab or mode), ends the read-out."""
        if event.type() in (QEvent.Leave, QEvent.Hide):
            self.cursor_left.emit()
        return False
