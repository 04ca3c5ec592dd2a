"""Cake (2θ × χ over 360°) and pattern (I vs 2θ, q or d) with the calibrant line positions.

Straight, vertical calibrant lines in the cake and peaks centred on the pattern's markers are
how a user sees at a glance that a calibration is right. Before the first result the views show
what will appear there, and while the worker computes one they say so; the cake has the image's
contrast controls (histogram, colormap, log scale), both have xcal's right-click menu, the zoom
rectangle, and a cursor read-out in 2θ, d, q (and χ on the cake).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QEvent, QObject, QPoint, QPointF, QRectF, Qt, pyqtSignal
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core.integration.integrator import UNITS, Cake, Pattern
from .image_view import ClickViewBox, view_menu
from .levels_control import Contrast
from .worker import Job

PATTERN_UNIT_LABELS = {"2th_deg": "2θ (°)", "q_A^-1": "q (Å⁻¹)", "q_nm^-1": "q (nm⁻¹)", "d_A": "d (Å)"}
# Dashed and translucent: the data under a calibrant line stays visible, so a bent ring shows.
_LINE_PEN = pg.mkPen(QColor(255, 70, 70, 150), width=1, style=Qt.DashLine)


def _vertical_lines(positions: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """x, y of vertical segments at ``positions`` from ``low`` to ``high`` (for connect='pairs')."""
    x = np.repeat(np.asarray(positions, dtype=float), 2)
    y = np.tile([low, high], len(positions)).astype(float)
    return x, y


# -- cursor read-out -------------------------------------------------------------------------------
def radial_parts(x: float, unit: str, wavelength: float | None) -> list[str]:
    """A radial position (in ``unit``) as 2θ, d and q, as far as the wavelength (m) allows."""
    q = {"q_A^-1": x, "q_nm^-1": x / 10, "d_A": 2 * math.pi / x if x > 0 else math.nan}.get(unit)
    parts = []
    if unit == "2th_deg":
        tth = x
        q = 4 * math.pi * math.sin(math.radians(tth) / 2) / (wavelength * 1e10) if wavelength else None
    else:
        sin_theta = q * wavelength * 1e10 / (4 * math.pi) if wavelength and q is not None else math.nan
        tth = math.degrees(2 * math.asin(sin_theta)) if 0 < sin_theta <= 1 else None
    if tth is not None:
        parts.append(f"2θ {tth:.4f}°")
    if q is not None and q > 0 and math.isfinite(q):
        parts += [f"d {2 * math.pi / q:.4f} Å", f"q {q:.4f} Å⁻¹"]
    return parts


def pattern_position_text(x: float, unit: str, intensity: float | None, wavelength: float | None) -> str:
    """The cursor's position on the pattern in 2θ, d and q (whatever the axis unit), and the intensity."""
    parts = radial_parts(x, unit, wavelength)
    if intensity is not None:
        parts.append(f"I {intensity:.6g}")
    return "   ".join(parts) or " "


def cake_position_text(x: float, chi: float, unit: str, intensity: float | None, wavelength: float | None) -> str:
    """The cursor's position on the cake: 2θ, χ, d, q and the intensity of the bin under it."""
    parts = radial_parts(x, unit, wavelength)
    parts.insert(1 if parts and parts[0].startswith("2θ") else 0, f"χ {chi:.2f}°")
    if intensity is not None:
        parts.append(f"I {intensity:.6g}")
    return "   ".join(parts)


# -- the views -------------------------------------------------------------------------------------
class _ComputedPlot(QWidget):
    """A plot that a worker job computes: a message until the first result, "Computing…" while it runs.

    Subclasses put their plot widgets in ``content`` (shown once there is a result) and keep
    ``has_data`` up to date; the cursor position over the plot is emitted in view coordinates.
    """

    cursor_moved = pyqtSignal(float, float)
    cursor_left = pyqtSignal()
    contrast: Contrast | None = None  # the cake's; offered in the right-click menu

    def __init__(self, what: str, hint: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.what, self.hint = what, hint
        self.has_data = False
        self.menu: QMenu | None = None  # the right-click menu last opened
        self._job: Job | None = None
        self.plot = pg.PlotWidget(viewBox=ClickViewBox())
        self.plot.setMenuEnabled(False)
        self.box: ClickViewBox = self.plot.getPlotItem().vb
        self.message = QLabel(hint)
        self.message.setAlignment(Qt.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #888888;")
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(240)
        self.busy_bar.setTextVisible(False)
        placeholder = QWidget()
        column = QVBoxLayout(placeholder)
        column.addStretch(1)
        column.addWidget(self.message)
        column.addWidget(self.busy_bar, 0, Qt.AlignHCenter)
        column.addStretch(1)
        self.status = QLabel(f"Computing the {what}…")  # over a result already shown
        self.status.setStyleSheet("color: #d0a000;")
        self.content = QWidget()
        self.stack = QStackedWidget()
        self.stack.addWidget(placeholder)
        self.stack.addWidget(self.content)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)
        self.plot.viewport().installEventFilter(self)
        self.box.menu_requested.connect(self._show_menu)
        self._update_state()

    @property
    def computing(self) -> bool:
        return self._job is not None

    def show_computing(self, job: Job) -> None:
        """Say that ``job`` computes this view, until it ends (done, failed, cancelled or superseded)."""
        self._job = job
        for signal in (job.signals.done, job.signals.failed, job.signals.cancelled):
            signal.connect(lambda *_, job=job: self._job_ended(job))
        self._update_state()

    def _job_ended(self, job: Job) -> None:
        if job is self._job:
            self._job = None
            self._update_state()

    def _update_state(self) -> None:
        self.stack.setCurrentWidget(self.content if self.has_data else self.stack.widget(0))
        self.message.setText(f"Computing the {self.what}…" if self.computing else self.hint)
        self.busy_bar.setVisible(self.computing)
        self.status.setVisible(self.computing and self.has_data)

    def fit(self) -> None:
        """Show all the data, and follow the next results until the user zooms again."""
        self.box.enableAutoRange()

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        if self.has_data and self.box.sceneBoundingRect().contains(scene_pos):
            pos = self.box.mapSceneToView(scene_pos)
            self.cursor_moved.emit(pos.x(), pos.y())
        else:
            self.cursor_left.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        """The mouse leaving the plot, or the plot hidden (another tab or mode), ends the read-out."""
        if event.type() in (QEvent.Leave, QEvent.Hide):
            self.cursor_left.emit()
        return False

    def _show_menu(self, screen_pos: QPoint, x: float, y: float) -> None:
        self.menu = view_menu(self, self.box, x, y, self.fit, self.contrast, self.plot.getPlotItem(), self.what)
        self.menu.popup(screen_pos)


class CakeView(_ComputedPlot):
    """The cake image with the calibrant lines as vertical red lines, and its contrast controls.

    ``compact`` (a pane of integration mode) puts the histogram under the cake.
    """

    def __init__(self, parent: QWidget | None = None, compact: bool = False) -> None:
        super().__init__("cake", "The cake appears after a calibration or a loaded .poni", parent)
        self._cake: Cake | None = None
        self.plot.setLabel("bottom", UNITS["2th_deg"])
        self.plot.setLabel("left", "χ (°)")
        self.box.setDefaultPadding(0.0)
        self.image_item = pg.ImageItem(axisOrder="row-major", autoDownsample=True)
        self.lines_item = pg.PlotCurveItem(pen=_LINE_PEN, connect="pairs")
        self.lines_item.setZValue(1)
        self.plot.addItem(self.image_item)
        self.plot.addItem(self.lines_item)
        self.histogram = pg.HistogramLUTWidget(orientation="horizontal" if compact else "vertical")
        self.contrast = Contrast(self.image_item, self.histogram.item, log=True, parent=self)  # outer rings are faint
        self.fit_button = QToolButton()
        self.fit_button.setText("Fit" if compact else "Fit to window")
        self.fit_button.setToolTip("Show the whole cake (right-drag or Ctrl+drag: zoom to a rectangle)")
        if compact:
            self.contrast.set_compact()
            self.histogram.setMinimumHeight(60)
            self.histogram.setMaximumHeight(75)
        plots = QVBoxLayout() if compact else QHBoxLayout()
        plots.addWidget(self.plot, 1)
        plots.addWidget(self.histogram)
        controls = QHBoxLayout()
        for widget in (self.contrast.colormap_box, self.contrast.log_box, self.contrast.auto_button, self.fit_button):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.status)
        layout = QVBoxLayout(self.content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(plots, 1)
        layout.addLayout(controls)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)
        self.fit_button.clicked.connect(self.fit)

    def set_cake(self, cake: Cake, lines: np.ndarray) -> None:
        radial, azimuth = cake.radial, cake.azimuth
        dx = (radial[-1] - radial[0]) / max(len(radial) - 1, 1)
        dy = (azimuth[-1] - azimuth[0]) / max(len(azimuth) - 1, 1)
        self._cake = cake
        self.contrast.set_data(cake.intensity, ~(cake.intensity > 0), reset=False)  # empty bins are 0
        self.image_item.setRect(QRectF(radial[0] - dx / 2, azimuth[0] - dy / 2, dx * len(radial), dy * len(azimuth)))
        self.plot.setLabel("bottom", UNITS[cake.unit])
        inside = lines[(lines >= radial[0]) & (lines <= radial[-1])]
        self.lines_item.setData(*_vertical_lines(inside, azimuth[0] - dy / 2, azimuth[-1] + dy / 2))
        self.has_data = True
        self._update_state()

    def clear(self) -> None:
        self._cake = None
        self.image_item.clear()
        self.lines_item.setData([], [])
        self.has_data = False
        self._update_state()

    def value_at(self, x: float, chi: float) -> float | None:
        """Intensity of the cake bin at radial position ``x`` and azimuth ``chi`` (None outside)."""
        cake = self._cake
        if cake is None:
            return None
        j = int(round((x - cake.radial[0]) / ((cake.radial[-1] - cake.radial[0]) / max(len(cake.radial) - 1, 1))))
        i = int(round((chi - cake.azimuth[0]) / ((cake.azimuth[-1] - cake.azimuth[0]) / max(len(cake.azimuth) - 1, 1))))
        if 0 <= i < cake.intensity.shape[0] and 0 <= j < cake.intensity.shape[1]:
            return float(cake.intensity[i, j])
        return None

    def position_text(self, x: float, chi: float, wavelength: float | None) -> str:
        unit = self._cake.unit if self._cake is not None else "2th_deg"
        return cake_position_text(x, chi, unit, self.value_at(x, chi), wavelength)


class PatternView(_ComputedPlot):
    """The azimuthally integrated pattern, with a unit chooser and the calibrant line markers."""

    unit_changed = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("pattern", "The pattern appears after a calibration or a loaded .poni", parent)
        self._unit = "2th_deg"  # of the pattern shown (the box may already name the next one)
        self.unit_box = QComboBox()
        for unit, label in PATTERN_UNIT_LABELS.items():
            self.unit_box.addItem(label, unit)
        self.plot.setLabel("left", "Intensity")
        self.plot.setLabel("bottom", PATTERN_UNIT_LABELS["2th_deg"])
        self.curve = pg.PlotDataItem(pen=pg.mkPen("#f0f0f0", width=1.2))
        self.lines_item = pg.PlotCurveItem(pen=_LINE_PEN, connect="pairs")
        self.plot.addItem(self.lines_item)
        self.plot.addItem(self.curve)
        self.fit_button = QToolButton()
        self.fit_button.setText("Fit to window")
        self.fit_button.setToolTip("Show the whole pattern (right-drag or Ctrl+drag: zoom to a rectangle)")
        top = QHBoxLayout()
        top.addWidget(QLabel("Unit:"))
        top.addWidget(self.unit_box)
        top.addWidget(self.fit_button)
        top.addStretch(1)
        top.addWidget(self.status)
        content = QVBoxLayout(self.content)
        content.setContentsMargins(0, 0, 0, 0)
        content.addWidget(self.plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.stack, 1)
        self.unit_box.currentIndexChanged.connect(lambda _: self.unit_changed.emit(self.unit))
        self.fit_button.clicked.connect(self.fit)

    @property
    def unit(self) -> str:
        return self.unit_box.currentData()

    def set_pattern(self, pattern: Pattern, lines: np.ndarray) -> None:
        radial, intensity = pattern.radial, pattern.intensity
        self._unit = pattern.unit
        self.curve.setData(radial, intensity)
        self.plot.setLabel("bottom", PATTERN_UNIT_LABELS[pattern.unit])
        finite = intensity[np.isfinite(intensity)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        inside = lines[(lines >= radial.min()) & (lines <= radial.max())] if radial.size else lines[:0]
        self.lines_item.setData(*_vertical_lines(inside, low, high))
        self.has_data = True
        self._update_state()

    def clear(self) -> None:
        self.curve.setData([], [])
        self.lines_item.setData([], [])
        self.has_data = False
        self._update_state()

    def position_text(self, x: float, y: float, wavelength: float | None) -> str:
        """2θ, d, q at the cursor and the pattern's intensity at the nearest point (``y`` is not used)."""
        radial, intensity = self.curve.getData()
        value = float(intensity[int(np.argmin(np.abs(radial - x)))]) if radial is not None and len(radial) else None
        return pattern_position_text(x, self._unit, value, wavelength)
