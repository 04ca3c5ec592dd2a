"""The detector image: zoom/pan, contrast (histogram, auto, log), mask, picks and calibrant rings.

View coordinates follow the Fit2D/Dioptas convention: pixel (row i, column j) covers
x in [j, j+1), y in [i, i+1), row 0 at the top. pyFAI and the picks use pixel indices whose
integer values are pixel centres, so a point (row, col) is drawn at (col + 0.5, row + 0.5).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from pyFAI.geometry import Geometry
from PyQt5.QtCore import QPointF, Qt, pyqtSignal
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import QCheckBox, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from ..core.picks import PickGroup

# Ring colours: distinct hues that stay visible on a grey image.
_PALETTE = ("#ff4040", "#40c0ff", "#ffd000", "#40ff60", "#ff60ff", "#ff9020", "#a0a0ff", "#00ffd0", "#ffffff", "#c08040")
_LEVEL_PERCENTILES = (1.0, 99.8)


def ring_color(ring: int) -> QColor:
    """Colour of a ring (0-based) for its picks and labels."""
    return QColor(_PALETTE[ring % len(_PALETTE)])


def auto_levels(data: np.ndarray, invalid: np.ndarray | None = None) -> tuple[float, float]:
    """Contrast from percentiles of a subsample of the valid pixels (fast on 4 Mpx images)."""
    step = max(1, int(math.sqrt(data.size / 250_000)))
    sample = data[::step, ::step]
    keep = np.isfinite(sample)
    if invalid is not None:
        keep &= ~invalid[::step, ::step]
    sample = sample[keep]
    if sample.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(sample, _LEVEL_PERCENTILES)
    return float(low), float(high if high > low else low + 1.0)


def log_scaled(data: np.ndarray) -> np.ndarray:
    """log10(1 + I), with negative (gap) and non-finite pixels shown as 0."""
    with np.errstate(invalid="ignore"):
        return np.log10(np.where(data > 0, data, 0.0) + 1.0, dtype=np.float32)


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
    """A ViewBox that reports left clicks and double clicks in view coordinates.

    While ``drawing`` is set (a mask tool is chosen), left drags are reported as ``dragged``
    instead of panning: (stage "start"/"move"/"finish", x0, y0 where the button went down,
    x, y now, keyboard modifiers). The middle button and the wheel still pan and zoom.
    """

    clicked = pyqtSignal(float, float)
    double_clicked = pyqtSignal(float, float)
    dragged = pyqtSignal(str, float, float, float, float, int)
    drawing = False

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - Qt naming
        if ev.button() == Qt.LeftButton:
            ev.accept()
            pos = self.mapSceneToView(ev.scenePos())
            (self.double_clicked if ev.double() else self.clicked).emit(pos.x(), pos.y())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - Qt naming
        if not (self.drawing and ev.button() == Qt.LeftButton):
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        start = self.mapSceneToView(ev.buttonDownScenePos())
        pos = self.mapSceneToView(ev.scenePos())
        stage = "start" if ev.isStart() else "finish" if ev.isFinish() else "move"
        self.dragged.emit(stage, start.x(), start.y(), pos.x(), pos.y(), int(ev.modifiers()))


class ImageView(QWidget):
    """Image with histogram/LUT and overlays; emits clicks as pyFAI pixel indices (row, col)."""

    pixel_clicked = pyqtSignal(float, float)  # row, col (pyFAI index convention)
    cursor_moved = pyqtSignal(float, float)  # view x, y
    cursor_left = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._data: np.ndarray | None = None
        self._invalid: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._mask_transparent = True
        self.mask_color = QColor(255, 40, 40)
        self.mask_opacity = 0.3  # of the transparent mask overlay
        self.graphics = pg.GraphicsLayoutWidget()
        self.view = ClickViewBox(lockAspect=True, invertY=True, enableMenu=True)
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
        self.histogram = pg.HistogramLUTItem(image=self.image_item)
        self.graphics.addItem(self.histogram, 0, 1)

        self.auto_button = QPushButton("Auto contrast")
        self.auto_button.setToolTip("Set the contrast from the 1st to the 99.8th percentile of the pixels")
        self.log_box = QCheckBox("Log scale")
        self.fit_button = QPushButton("Fit to window")
        controls = QHBoxLayout()
        for widget in (self.auto_button, self.log_box, self.fit_button):
            controls.addWidget(widget)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(controls)

        self.auto_button.clicked.connect(self.auto_contrast)
        self.log_box.toggled.connect(lambda _: self._show_data(reset_levels=True))
        self.fit_button.clicked.connect(self.view.autoRange)
        self.view.clicked.connect(lambda x, y: self.pixel_clicked.emit(y - 0.5, x - 0.5))
        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)

    # -- image -------------------------------------------------------------------------------------
    def set_image(self, data: np.ndarray, invalid: np.ndarray, reset_view: bool) -> None:
        """Show a new working array; a new shape or ``reset_view`` fits it to the window.

        ``invalid`` pixels (gaps, dead pixels) are left out of the automatic contrast.
        """
        new_shape = self._data is None or self._data.shape != data.shape
        self._data, self._invalid = data, invalid
        self._show_data(reset_levels=reset_view or new_shape)
        if reset_view or new_shape:
            self.view.autoRange(padding=0.01)

    def _show_data(self, reset_levels: bool) -> None:
        if self._data is None:
            return
        shown = log_scaled(self._data) if self.log_box.isChecked() else self._data
        levels = auto_levels(shown, self._invalid) if reset_levels or self.image_item.image is None else self.histogram.getLevels()
        self.image_item.setImage(shown, autoLevels=False, levels=levels)
        self.histogram.setLevels(*levels)

    def auto_contrast(self) -> None:
        if self.image_item.image is not None:
            levels = auto_levels(self.image_item.image, self._invalid)
            self.image_item.setLevels(levels)
            self.histogram.setLevels(*levels)

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
