"""Manual calibration by point selection: click points on one ring, fit a circle, get centre and distance.

The MuscleX workflow, made robust: a first click on the image centres a magnified view there, a
second click in the magnified view adds the point precisely. Markers are removed by clicking them.
The circle is refitted after every change (from 3 points); with "Refine on image" the clicks are
moved onto the ring's intensity maximum first, so the answer does not depend on careful clicking.
The untilted geometry (beam centre, distance from the ring's d-spacing) is handed back on Done.

View coordinates follow :mod:`.image_view`: point (row, col) is drawn at (col + 0.5, row + 0.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QPointF, Qt, pyqtSignal
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout, QGridLayout,
    QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout,
    QWidget,
)

from ..core.calibrants import list_calibrants, load_calibrant
from ..core.circle_calibration import distance_from_radius
from ..core.circle_fit import CircleFit, fit_circle_robust, refine_clicks, trace_ring
from .image_view import ClickViewBox, auto_levels
from .worker import describe_exception

ZOOM_PX = 64  # side of the magnified area, image pixels
HIT_SCREEN_PX = 7.0  # a click this close to a marker (screen pixels) removes it
MIN_POINTS_FIT = 3
MIN_POINTS_DONE = 5
AGBH_D1_A = 58.38  # silver behenate, first order
_CUSTOM = "d-spacing"


@dataclass
class CircleOutcome:
    """A fit and the points it used (the clicks, moved onto the ring if refined, or the traced ring)."""

    fit: CircleFit
    rows: np.ndarray
    cols: np.ndarray
    source: str  # "clicks", "refined clicks", "traced ring"


def compute_circle(
    data: np.ndarray | None,
    invalid: np.ndarray | None,
    rows: np.ndarray,
    cols: np.ndarray,
    fixed_centre: tuple[float, float] | None = None,
    refine: bool = True,
    trace: bool = False,
) -> CircleOutcome:
    """Fit the clicks; with ``refine`` move them onto the ring maximum (twice) and refit; with ``trace``
    fit the points traced all along the ring. Raises PickError/FitError with the user's message."""
    rows, cols = np.asarray(rows, float), np.asarray(cols, float)
    fit = fit_circle_robust(rows, cols, fixed_centre=fixed_centre)
    outcome = CircleOutcome(fit, rows, cols, "clicks")
    if data is None or not (refine or trace):
        return outcome
    if refine:
        for _ in range(2):
            rr, cc = refine_clicks(data, invalid, rows, cols, outcome.fit)
            outcome = CircleOutcome(fit_circle_robust(rr, cc, fixed_centre=fixed_centre), rr, cc, "refined clicks")
    if trace:
        tr, tc = trace_ring(data, invalid, outcome.fit)
        if len(tr) >= MIN_POINTS_DONE:
            outcome = CircleOutcome(fit_circle_robust(tr, tc, fixed_centre=fixed_centre, start=None if fixed_centre else outcome.fit.circle),
                                    tr, tc, "traced ring")
    return outcome


class _Scatter(pg.ScatterPlotItem):
    """Markers that let clicks through to the view (which finds the marker under the click itself)."""

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - Qt naming
        ev.ignore()


class _ImagePane(pg.GraphicsLayoutWidget):
    """An image with markers, refined points, fitted circle and centre; reports clicks in view coordinates."""

    clicked = pyqtSignal(float, float)

    def __init__(self, zoom: bool) -> None:
        super().__init__()
        self.view = ClickViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setDefaultPadding(0.0 if zoom else 0.01)
        if zoom:
            self.view.setMouseEnabled(False, False)
        self.addItem(self.view)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.circle_item = pg.PlotCurveItem(pen=pg.mkPen(QColor(80, 255, 120), width=1.5))
        self.refined_item = _Scatter(size=5 if not zoom else 7, symbol="o", pen=None, brush=pg.mkBrush(0, 220, 255))
        self.markers_item = _Scatter(size=11 if not zoom else 15, symbol="+", pen=pg.mkPen("#ff4040", width=2),
                                               brush=pg.mkBrush("#ff4040"))
        self.outliers_item = _Scatter(size=13 if not zoom else 17, symbol="x", pen=pg.mkPen("#ffd000", width=2),
                                                brush=pg.mkBrush("#ffd000"))
        self.centre_item = _Scatter(size=12, symbol="+", pen=pg.mkPen(QColor(80, 255, 120), width=2),
                                              brush=pg.mkBrush(80, 255, 120))
        self.extra_item = pg.PlotCurveItem(pen=pg.mkPen("#ffffff", width=1, style=Qt.DashLine))
        items = (self.image_item, self.circle_item, self.refined_item, self.markers_item, self.outliers_item,
                 self.centre_item, self.extra_item)
        for z, item in enumerate(items):
            item.setZValue(z)
            self.view.addItem(item)
        self.view.clicked.connect(self.clicked)

    def screen_distance(self, x0: float, y0: float, x1: float, y1: float) -> float:
        """Distance between two view points in screen pixels."""
        pw, ph = self.view.viewPixelSize()
        return math.hypot((x1 - x0) / max(pw, 1e-12), (y1 - y0) / max(ph, 1e-12))

    def viewport_pos(self, x: float, y: float):
        """Widget position of view point (x, y) in the viewport (for tests and screenshots)."""
        return self.mapFromScene(self.view.mapViewToScene(QPointF(x, y)))


class CircleDialog(QDialog):
    """Point selection on one ring → robust circle fit → beam centre and distance."""

    def __init__(
        self,
        data: np.ndarray,
        invalid: np.ndarray | None,
        wavelength_m: float | None = None,
        pixel_um: float | None = None,
        runner=None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Manual calibration by point selection")
        self.data, self.invalid, self.runner = data, invalid, runner
        self.rows: list[float] = []  # the clicks, pyFAI (row, col) indices
        self.cols: list[float] = []
        self.outcome: CircleOutcome | None = None
        self._generation = 0
        self._zoom_locked = False
        self._zoom_centre = (data.shape[1] / 2, data.shape[0] / 2)

        self.main_pane = _ImagePane(zoom=False)
        self.zoom_pane = _ImagePane(zoom=True)
        self.zoom_pane.setFixedSize(300, 300)
        self.zoom_box_item = pg.PlotCurveItem(pen=pg.mkPen("#ffd000", width=1))
        self.zoom_box_item.setZValue(10)
        self.main_pane.view.addItem(self.zoom_box_item)
        levels = auto_levels(data, invalid)
        for pane in (self.main_pane, self.zoom_pane):
            pane.image_item.setImage(data, autoLevels=False, levels=levels)
        self.main_pane.view.autoRange(padding=0.01)

        left = QVBoxLayout()
        self.help_label = QLabel("Click on the ring in the image, then click the ring precisely in the magnified view to add "
                                 "a point. Click a marker to remove it.")
        self.help_label.setWordWrap(True)
        left.addWidget(self.help_label)
        left.addWidget(self.main_pane, 1)

        middle = QVBoxLayout()
        middle.addWidget(QLabel(f"Magnified {ZOOM_PX} × {ZOOM_PX} px: click to add a point"))
        middle.addWidget(self.zoom_pane, 0, Qt.AlignHCenter)
        self.points_label = QLabel()
        middle.addWidget(self.points_label)
        self.refine_check = QCheckBox("Refine on image")
        self.refine_check.setChecked(True)
        self.refine_check.setToolTip("Move each click onto the ring's intensity maximum before fitting")
        self.trace_check = QCheckBox("Trace the whole ring")
        self.trace_check.setToolTip("Fit points found all along the ring near the fitted circle (runs in the background)")
        middle.addWidget(self.refine_check)
        middle.addWidget(self.trace_check)
        self.refit_button = QPushButton("Refit")
        self.reset_button = QPushButton("Reset")
        row = QHBoxLayout()
        row.addWidget(self.refit_button)
        row.addWidget(self.reset_button)
        middle.addLayout(row)
        middle.addWidget(self._settings_box())
        middle.addStretch(1)

        right = QVBoxLayout()
        right.addWidget(self._results_box(), 1)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.message_label.setStyleSheet("background:#f8d7da; color:#58151c; border:1px solid #f1aeb5; border-radius:4px; padding:4px;")
        self.message_label.hide()
        right.addWidget(self.message_label)
        self.done_button = QPushButton("Done")
        self.done_button.setToolTip(f"Use the fitted centre and distance as the calibration (needs {MIN_POINTS_DONE} points)")
        self.cancel_button = QPushButton("Cancel")
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.done_button)
        right.addLayout(row)

        layout = QHBoxLayout(self)
        layout.addLayout(left, 3)
        middle_widget = QWidget()
        middle_widget.setLayout(middle)
        middle_widget.setFixedWidth(380)
        layout.addWidget(middle_widget)
        layout.addLayout(right, 2)

        self.main_pane.clicked.connect(self._main_clicked)
        self.zoom_pane.clicked.connect(self._zoom_clicked)
        self.main_pane.scene().sigMouseMoved.connect(self._hover)
        self.refit_button.clicked.connect(self.refit)
        self.reset_button.clicked.connect(self.reset)
        self.refine_check.toggled.connect(lambda _: self.refit())
        self.trace_check.toggled.connect(lambda _: self.refit())
        self.done_button.clicked.connect(self.accept)
        self.cancel_button.clicked.connect(self.reject)
        self.export_button.clicked.connect(self.export_csv)
        self._set_zoom(*self._zoom_centre)
        if wavelength_m:
            self.wavelength_box.setValue(wavelength_m * 1e10)
        if pixel_um:
            self.pixel_box.setValue(pixel_um)
            self.pixel_box.setEnabled(False)
            self.pixel_box.setToolTip("The pixel size of the session's detector")
        self.resize(1450, 860)
        self._update_state()

    # -- construction --------------------------------------------------------------------------------
    def _settings_box(self) -> QGroupBox:
        box = QGroupBox("Calibration")
        form = QFormLayout(box)
        self.calibrant_box = QComboBox()
        self.calibrant_box.addItem(_CUSTOM)
        self.calibrant_box.addItems(list_calibrants())
        self.calibrant_box.setCurrentText("AgBh")
        self.ring_box = QSpinBox()
        self.ring_box.setRange(1, 999)
        self.d_box = QDoubleSpinBox()
        self.d_box.setDecimals(5)
        self.d_box.setRange(0.1, 10000.0)
        self.d_box.setSuffix(" Å")
        self.d_box.setValue(AGBH_D1_A)
        self.wavelength_box = QDoubleSpinBox()
        self.wavelength_box.setDecimals(5)
        self.wavelength_box.setRange(0.001, 20.0)
        self.wavelength_box.setValue(1.0)
        self.wavelength_box.setSuffix(" Å")
        self.pixel_box = QDoubleSpinBox()
        self.pixel_box.setDecimals(3)
        self.pixel_box.setRange(1.0, 10000.0)
        self.pixel_box.setValue(100.0)
        self.pixel_box.setSuffix(" µm")
        self.fixed_check = QCheckBox("Fixed centre (fit the radius only)")
        self.fixed_check.setToolTip("Fit the radius about the centre entered below (x, y in pixels)")
        self.fixed_x_box = QDoubleSpinBox()
        self.fixed_y_box = QDoubleSpinBox()
        for spin, size in ((self.fixed_x_box, self.data.shape[1]), (self.fixed_y_box, self.data.shape[0])):
            spin.setDecimals(2)
            spin.setRange(-10 * size, 11 * size)
            spin.setValue(size / 2)
            spin.setEnabled(False)
        centre_row = QHBoxLayout()
        centre_row.addWidget(QLabel("x"))
        centre_row.addWidget(self.fixed_x_box)
        centre_row.addWidget(QLabel("y"))
        centre_row.addWidget(self.fixed_y_box)
        ring_row = QHBoxLayout()
        ring_row.addWidget(self.calibrant_box, 1)
        ring_row.addWidget(QLabel("ring"))
        ring_row.addWidget(self.ring_box)
        form.addRow("Calibrant", ring_row)
        form.addRow("d-spacing", self.d_box)
        form.addRow("Wavelength", self.wavelength_box)
        form.addRow("Pixel size", self.pixel_box)
        form.addRow(self.fixed_check)
        form.addRow("Centre", centre_row)
        self.calibrant_box.currentIndexChanged.connect(lambda _: self._ring_chosen())
        self.ring_box.valueChanged.connect(lambda _: self._ring_chosen())
        for spin in (self.d_box, self.wavelength_box, self.pixel_box):
            spin.valueChanged.connect(lambda _: self._show_results())
        self.fixed_check.toggled.connect(self._fixed_toggled)
        self.fixed_x_box.valueChanged.connect(lambda _: self.refit())
        self.fixed_y_box.valueChanged.connect(lambda _: self.refit())
        return box

    def _results_box(self) -> QGroupBox:
        box = QGroupBox("Result")
        layout = QVBoxLayout(box)
        grid = QGridLayout()
        self.result_labels = {}
        for i, (key, title) in enumerate((("centre", "Centre (x, y)"), ("radius", "Radius"), ("rms", "RMS"),
                                          ("distance", "Distance"))):
            label = QLabel("–")
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            grid.addWidget(QLabel(title), i, 0)
            grid.addWidget(label, i, 1)
            self.result_labels[key] = label
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["x", "y", "Δr (px)", "used"])
        self.table.horizontalHeaderItem(2).setToolTip("Signed distance of the point from the fitted circle")
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        layout.addWidget(self.table, 2)
        self.history_plot = pg.PlotWidget()
        self.history_plot.setBackground("w")
        self.history_plot.setLabel("bottom", "stage")
        self.history_plot.setLabel("left", "robust cost")
        self.history_plot.setTitle("Optimisation history", color="k", size="10pt")
        self.history_plot.setMinimumHeight(180)
        self.history_curve = self.history_plot.plot([], [], pen=pg.mkPen("#1f77b4", width=2), symbol="o", symbolSize=6,
                                                     symbolBrush="#1f77b4")
        layout.addWidget(self.history_plot, 1)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Save the fit history (one line per stage, then the result)")
        layout.addWidget(self.export_button, 0, Qt.AlignRight)
        return box

    # -- settings -----------------------------------------------------------------------------------
    def _ring_chosen(self) -> None:
        name = self.calibrant_box.currentText()
        if name == _CUSTOM:
            return
        try:
            dspacing = load_calibrant(name).dspacing
        except Exception as exc:  # noqa: BLE001 - a bad calibrant file is a message, not a crash
            self.show_error(describe_exception(exc))
            return
        index = self.ring_box.value() - 1
        if index >= len(dspacing):
            self.show_error(f"{name} has {len(dspacing)} rings: there is no ring {index + 1}.")
            return
        self.d_box.setValue(float(dspacing[index]))

    def _fixed_toggled(self, on: bool) -> None:
        self.fixed_x_box.setEnabled(on)
        self.fixed_y_box.setEnabled(on)
        if on and self.outcome is not None:  # start from the current centre
            for spin, value in ((self.fixed_x_box, self.outcome.fit.col + 0.5), (self.fixed_y_box, self.outcome.fit.row + 0.5)):
                spin.blockSignals(True)
                spin.setValue(value)
                spin.blockSignals(False)
        self.refit()

    @property
    def fixed_centre(self) -> tuple[float, float] | None:
        """(row, col) of the fixed centre, from the x, y boxes (Fit2D convention)."""
        if not self.fixed_check.isChecked():
            return None
        return self.fixed_y_box.value() - 0.5, self.fixed_x_box.value() - 0.5

    @property
    def d_spacing_A(self) -> float:
        return self.d_box.value()

    @property
    def wavelength_m(self) -> float:
        return self.wavelength_box.value() * 1e-10

    @property
    def pixel_m(self) -> float:
        return self.pixel_box.value() * 1e-6

    # -- mouse --------------------------------------------------------------------------------------
    def _hover(self, scene_pos) -> None:
        view = self.main_pane.view
        if not self._zoom_locked and view.sceneBoundingRect().contains(scene_pos):
            pos = view.mapSceneToView(scene_pos)
            self._set_zoom(pos.x(), pos.y())

    def _set_zoom(self, x: float, y: float) -> None:
        self._zoom_centre = (x, y)
        h = ZOOM_PX / 2
        self.zoom_pane.view.setRange(xRange=(x - h, x + h), yRange=(y - h, y + h), padding=0)
        self.zoom_box_item.setData([x - h, x + h, x + h, x - h, x - h], [y - h, y - h, y + h, y + h, y - h])

    def _marker_at(self, pane: _ImagePane, x: float, y: float) -> int | None:
        best, best_d = None, HIT_SCREEN_PX
        for i, (r, c) in enumerate(zip(self.rows, self.cols)):
            d = pane.screen_distance(c + 0.5, r + 0.5, x, y)
            if d <= best_d:
                best, best_d = i, d
        return best

    def _main_clicked(self, x: float, y: float) -> None:
        """A click on a marker removes it; elsewhere it centres the magnified view there."""
        index = self._marker_at(self.main_pane, x, y)
        if index is not None:
            self.remove_point(index)
            return
        self._set_zoom(x, y)
        self._zoom_locked = True

    def _zoom_clicked(self, x: float, y: float) -> None:
        """A click on a marker removes it; elsewhere it adds a point there."""
        index = self._marker_at(self.zoom_pane, x, y)
        if index is not None:
            self.remove_point(index)
            return
        self.add_point(y - 0.5, x - 0.5)
        self._zoom_locked = False

    # -- points -------------------------------------------------------------------------------------
    def add_point(self, row: float, col: float) -> None:
        self.rows.append(float(row))
        self.cols.append(float(col))
        self.refit()

    def remove_point(self, index: int) -> None:
        del self.rows[index]
        del self.cols[index]
        self.refit()

    def reset(self) -> None:
        self.rows.clear()
        self.cols.clear()
        self.refit()

    @property
    def points(self) -> np.ndarray:
        return np.column_stack([self.rows, self.cols]) if self.rows else np.empty((0, 2))

    # -- fit ----------------------------------------------------------------------------------------
    def refit(self) -> None:
        """Fit the points (from 3 on): at once, or in the runner when the whole ring is traced."""
        self._generation += 1
        self._draw_points()
        if len(self.rows) < MIN_POINTS_FIT:
            self.outcome = None
            self._show_results()
            if self.rows:
                self.show_error(f"{len(self.rows)} point(s): click at least {MIN_POINTS_FIT} points on the ring "
                                f"({MIN_POINTS_DONE} or more to reject wrong clicks).", "info")
            else:
                self.clear_error()
            return
        args = (self.data, self.invalid, np.array(self.rows), np.array(self.cols), self.fixed_centre,
                self.refine_check.isChecked(), self.trace_check.isChecked())
        generation = self._generation
        if self.trace_check.isChecked() and self.runner is not None:
            self.points_label.setText(self.points_label.text() + " – tracing the ring…")
            self.runner.submit("Tracing the ring", lambda task: compute_circle(*args),
                               lambda outcome: self._fitted(generation, outcome),
                               on_failed=lambda message: self._failed(generation, message), blocking=False, kind="circle fit")
            return
        try:
            outcome = compute_circle(*args)
        except Exception as exc:  # noqa: BLE001 - PickError/FitError are messages; a bug too, never a traceback box
            self._failed(generation, describe_exception(exc))
        else:
            self._fitted(generation, outcome)

    @property
    def busy(self) -> bool:
        """A background fit is running for the current points."""
        return self.runner is not None and any(job.kind == "circle fit" for job in getattr(self.runner, "_pending", []))

    def _fitted(self, generation: int, outcome: CircleOutcome) -> None:
        if generation != self._generation:
            return  # the points changed meanwhile: a newer fit is on its way
        self.outcome = outcome
        self.clear_error()
        self._show_results()

    def _failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.outcome = None
        self._show_results()
        self.show_error(message)

    def show_error(self, message: str, level: str = "error") -> None:
        style = ("background:#f8d7da; color:#58151c; border:1px solid #f1aeb5;" if level == "error"
                 else "background:#cfe2ff; color:#052c65; border:1px solid #9ec5fe;")
        self.message_label.setStyleSheet(style + " border-radius:4px; padding:4px;")
        self.message_label.setText(message)
        self.message_label.show()

    def clear_error(self) -> None:
        self.message_label.clear()
        self.message_label.hide()

    @property
    def message(self) -> str:
        return self.message_label.text() if self.message_label.isVisible() else ""

    # -- display ------------------------------------------------------------------------------------
    def _draw_points(self) -> None:
        x, y = np.array(self.cols) + 0.5, np.array(self.rows) + 0.5
        for pane in (self.main_pane, self.zoom_pane):
            pane.markers_item.setData(x, y)
        n = len(self.rows)
        self.points_label.setText(f"{n} point{'s' if n != 1 else ''}" + ("" if n >= MIN_POINTS_DONE
                                  else f" (Done needs {MIN_POINTS_DONE})"))

    def _show_results(self) -> None:
        outcome = self.outcome
        labels = self.result_labels
        for pane in (self.main_pane, self.zoom_pane):
            for item in (pane.refined_item, pane.outliers_item, pane.centre_item):
                item.setData([], [])
            pane.circle_item.setData([], [])
        self.table.setRowCount(0)
        self.history_curve.setData([], [])
        if outcome is None:
            for label in labels.values():
                label.setText("–")
            self._update_state()
            return
        fit = outcome.fit
        phi = np.linspace(0, 2 * np.pi, 721)
        cx, cy = fit.col + 0.5 + fit.radius * np.cos(phi), fit.row + 0.5 + fit.radius * np.sin(phi)
        px, py = outcome.cols + 0.5, outcome.rows + 0.5
        for pane in (self.main_pane, self.zoom_pane):
            pane.circle_item.setData(cx, cy)
            pane.centre_item.setData([fit.col + 0.5], [fit.row + 0.5])
            if outcome.source != "clicks":
                pane.refined_item.setData(px, py)
            pane.outliers_item.setData(px[~fit.inliers], py[~fit.inliers])
        labels["centre"].setText(f"{fit.col + 0.5:.3f}, {fit.row + 0.5:.3f} px")
        labels["radius"].setText(f"{fit.radius:.3f} px")
        labels["rms"].setText(f"{fit.rms_px:.3f} px on {int(fit.inliers.sum())} of {len(fit.inliers)} {outcome.source}")
        try:
            distance = distance_from_radius(fit.radius, self.d_spacing_A, self.wavelength_m, self.pixel_m)
            labels["distance"].setText(f"{distance * 1e3:.3f} mm")
        except Exception as exc:  # noqa: BLE001 - a spacing out of reach is shown where the distance would be
            labels["distance"].setText(describe_exception(exc))
        self.table.setRowCount(len(fit.residuals))
        outlier_brush = QColor("#ffe08a")
        for i, (r, c, res, ok) in enumerate(zip(outcome.rows, outcome.cols, fit.residuals, fit.inliers)):
            cells = (f"{c + 0.5:.2f}", f"{r + 0.5:.2f}", f"{res:+.3f}", "yes" if ok else "outlier")
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if not ok:
                    item.setBackground(outlier_brush)
                self.table.setItem(i, j, item)
        if fit.history:
            cost = np.array([h[5] for h in fit.history], float)
            self.history_curve.setData(np.arange(len(cost)), cost)
            self.history_plot.getAxis("bottom").setTicks([[(i, h[1]) for i, h in enumerate(fit.history)]])
        self._update_state()

    def _update_state(self) -> None:
        ready = self.outcome is not None and len(self.rows) >= MIN_POINTS_DONE
        self.done_button.setEnabled(ready)
        self.export_button.setEnabled(self.outcome is not None)

    # -- results ------------------------------------------------------------------------------------
    def export_csv(self) -> None:
        if self.outcome is None:
            self.show_error("There is no fit to export yet: click at least 3 points on the ring.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export circle fit", "circle_fit.csv", "CSV files (*.csv);;All files (*)")
        if not path:
            return
        try:
            self.outcome.fit.to_csv(path)
        except Exception as exc:  # noqa: BLE001
            self.show_error(describe_exception(exc))
        else:
            self.show_error(f"Fit history saved to {path}.", "info")

    @property
    def fit(self) -> CircleFit | None:
        return None if self.outcome is None else self.outcome.fit

    def accept(self) -> None:
        if self.outcome is None or len(self.rows) < MIN_POINTS_DONE:
            self.show_error(f"Click at least {MIN_POINTS_DONE} points on the ring and get a fit first.")
            return
        super().accept()
