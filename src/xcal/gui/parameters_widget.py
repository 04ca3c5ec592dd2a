"""The geometry: pyFAI and Fit2D parameters (editable, ± 1σ, fix flags), residuals, history.

The widget only shows values and reports edits; the window turns an edit into
``CalibrationSession.set_geometry_values`` and a history click into ``restore``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyFAI.geometry import Geometry
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core.calibration.session import HistoryEntry
from ..core.geometry.refinement import DEFAULT_FIX, FitResult, make_geometry
from ..core.io.poni import to_fit2d


@dataclass(frozen=True)
class Param:
    name: str  # pyFAI attribute or Fit2D key
    label: str
    unit: str
    scale: float  # display = stored * scale
    decimals: int
    low: float
    high: float
    tip: str


PYFAI_PARAMS = (
    Param("dist", "Distance", "mm", 1e3, 4, 1e-3, 1e5, "Sample to detector plane, along the plane's normal"),
    Param("poni1", "PONI 1", "mm", 1e3, 4, -1e5, 1e5, "Point of normal incidence, vertical (slow) axis"),
    Param("poni2", "PONI 2", "mm", 1e3, 4, -1e5, 1e5, "Point of normal incidence, horizontal (fast) axis"),
    Param("rot1", "Rot 1", "°", math.degrees(1), 5, -180, 180, "Rotation about the vertical axis"),
    Param("rot2", "Rot 2", "°", math.degrees(1), 5, -180, 180, "Rotation about the horizontal axis"),
    Param("rot3", "Rot 3", "°", math.degrees(1), 5, -180, 180, "Rotation about the beam (sets the χ origin)"),
    Param("wavelength", "Wavelength", "Å", 1e10, 6, 1e-3, 100, "X-ray wavelength"),
)
FIT2D_PARAMS = (
    Param("directDist", "Direct dist.", "mm", 1, 4, 1e-3, 1e6, "Sample to detector along the direct beam"),
    Param("centerX", "Centre x", "px", 1, 3, -1e6, 1e6, "Beam centre, horizontal pixel (Fit2D convention)"),
    Param("centerY", "Centre y", "px", 1, 3, -1e6, 1e6, "Beam centre, vertical pixel (Fit2D convention)"),
    Param("tilt", "Tilt", "°", 1, 4, 0, 90, "Angle between the detector normal and the beam"),
    Param("tiltPlanRotation", "Tilt plane", "°", 1, 3, -360, 360, "Rotation of the tilt plane"),
)


def fit2d_sigma(fit: FitResult) -> dict[str, float]:
    """1σ of the Fit2D parameters, propagated from the fit's covariance by finite differences."""
    free = list(fit.free)
    if not free:
        return {}
    sig = np.array([fit.sigma.get(p, 0.0) for p in free])
    cov = np.asarray(fit.correlation, dtype=float) * np.outer(sig, sig)
    base = to_fit2d(fit.geometry)
    keys = [p.name for p in FIT2D_PARAMS]
    jac = np.zeros((len(keys), len(free)))
    for j, name in enumerate(free):
        h = sig[j] * 1e-3 or 1e-9
        shifted = to_fit2d(make_geometry(fit.geometry, {name: getattr(fit.geometry, name) + h}))
        for i, key in enumerate(keys):
            delta = shifted[key] - base[key]
            if key == "tiltPlanRotation":
                delta = (delta + 180.0) % 360.0 - 180.0
            jac[i, j] = delta / h
    variance = np.einsum("ij,jk,ik->i", jac, cov, jac)
    return {key: float(math.sqrt(max(v, 0.0))) for key, v in zip(keys, variance)}


class _ParamGrid(QWidget):
    """One row per parameter: name, value box, ± σ, and optionally a fix checkbox."""

    edited = pyqtSignal(str, float)  # name, value in stored units

    def __init__(self, params: tuple[Param, ...], fixable: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.params = {p.name: p for p in params}
        self.boxes: dict[str, QDoubleSpinBox] = {}
        self.sigmas: dict[str, QLabel] = {}
        self.fix: dict[str, QCheckBox] = {}
        self._shown: dict[str, float] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        for col, title in enumerate(("Parameter", "Value", "", "± 1σ", "Fix" if fixable else "")):
            grid.addWidget(QLabel(f"<b>{title}</b>"), 0, col)
        for row, p in enumerate(params, start=1):
            label = QLabel(p.label)
            label.setToolTip(p.tip)
            box = QDoubleSpinBox()
            box.setDecimals(p.decimals)
            box.setRange(p.low, p.high)
            box.setKeyboardTracking(False)
            box.setButtonSymbols(QDoubleSpinBox.NoButtons)
            box.setAlignment(Qt.AlignRight)
            box.setToolTip(f"{p.tip}; type a value and press Enter to try it")
            box.editingFinished.connect(lambda name=p.name: self._finished(name))
            sigma = QLabel("—")
            grid.addWidget(label, row, 0)
            grid.addWidget(box, row, 1)
            grid.addWidget(QLabel(p.unit), row, 2)
            grid.addWidget(sigma, row, 3)
            self.boxes[p.name], self.sigmas[p.name] = box, sigma
            if fixable:
                check = QCheckBox()
                check.setChecked(p.name in DEFAULT_FIX)
                check.setToolTip(f"Keep {p.label} fixed during Calibrate and Refine")
                grid.addWidget(check, row, 4, Qt.AlignCenter)
                self.fix[p.name] = check
        grid.setColumnStretch(1, 2)
        grid.setColumnStretch(3, 1)

    def show_values(self, values: dict[str, float] | None, sigma: dict[str, float]) -> None:
        for name, p in self.params.items():
            box = self.boxes[name]
            box.setEnabled(values is not None)
            if values is None:
                box.clear()
                self.sigmas[name].setText("—")
                continue
            box.blockSignals(True)
            box.setValue(values[name] * p.scale)
            box.blockSignals(False)
            self._shown[name] = box.value()
            s = sigma.get(name)
            self.sigmas[name].setText("—" if s is None or not math.isfinite(s) else _significant(s * p.scale))

    def _finished(self, name: str) -> None:
        box = self.boxes[name]
        if name in self._shown and box.value() != self._shown[name]:
            self._shown[name] = box.value()
            self.edited.emit(name, box.value() / self.params[name].scale)


def _significant(value: float) -> str:
    return f"{value:.2g}" if value else "0"


class ParametersWidget(QWidget):
    """pyFAI and Fit2D tabs, residuals per ring, and the history of geometries."""

    pyfai_edited = pyqtSignal(str, float)  # pyFAI name, SI value
    fit2d_edited = pyqtSignal(dict)  # every Fit2D value, the edited one changed
    restore_requested = pyqtSignal(int)  # index into the session history

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pyfai = _ParamGrid(PYFAI_PARAMS, fixable=True)
        self.fit2d = _ParamGrid(FIT2D_PARAMS, fixable=False)
        self.pixel_label = QLabel()
        fit2d_page = QWidget()
        fit2d_layout = QVBoxLayout(fit2d_page)
        fit2d_layout.setContentsMargins(0, 0, 0, 0)
        fit2d_layout.addWidget(self.fit2d)
        fit2d_layout.addWidget(self.pixel_label)
        fit2d_layout.addStretch(1)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.pyfai, "pyFAI")
        self.tabs.addTab(fit2d_page, "Fit2D")

        self.rms_label = QLabel("No fit yet.")
        self.rms_label.setWordWrap(True)
        self.rings_table = QTableWidget(0, 4)
        self.rings_table.setHorizontalHeaderLabels(["Ring", "Points", "RMS (°)", "RMS (px)"])
        self.rings_table.verticalHeader().setVisible(False)
        self.rings_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.rings_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.rings_table.setMinimumHeight(110)
        residuals = QGroupBox("Residuals")
        res_layout = QVBoxLayout(residuals)
        res_layout.addWidget(self.rms_label)
        res_layout.addWidget(self.rings_table)

        self.history_list = QListWidget()
        self.history_list.setMinimumHeight(90)
        self.restore_button = QPushButton("Restore selected")
        self.restore_button.setEnabled(False)
        history = QGroupBox("History")
        hist_layout = QVBoxLayout(history)
        hist_layout.addWidget(self.history_list)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.restore_button)
        hist_layout.addLayout(row)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        layout.addWidget(residuals)
        layout.addWidget(history)

        self.pyfai.edited.connect(self.pyfai_edited)
        self.fit2d.edited.connect(self._fit2d_changed)
        self.history_list.currentRowChanged.connect(lambda r: self.restore_button.setEnabled(r >= 0))
        self.history_list.itemDoubleClicked.connect(lambda _: self._restore())
        self.restore_button.clicked.connect(self._restore)
        self._fit2d_values: dict[str, float] = {}

    def fixed(self) -> tuple[str, ...]:
        return tuple(name for name, box in self.pyfai.fix.items() if box.isChecked())

    def set_fixed(self, names: tuple[str, ...] | list[str]) -> None:
        for name, box in self.pyfai.fix.items():
            box.setChecked(name in names)

    def show_geometry(self, geometry: Geometry | None, fit: FitResult | None, history: list[HistoryEntry]) -> None:
        """Show ``geometry``; ``fit`` is its fit (for ± and residuals), None after a hand edit or load."""
        if geometry is None:
            self.pyfai.show_values(None, {})
            self.fit2d.show_values(None, {})
            self.pixel_label.setText("")
        else:
            values = {p.name: float(getattr(geometry, p.name)) for p in PYFAI_PARAMS}
            self.pyfai.show_values(values, fit.sigma if fit else {})
            self._fit2d_values = to_fit2d(geometry)
            self.fit2d.show_values(self._fit2d_values, fit2d_sigma(fit) if fit else {})
            self.pixel_label.setText(
                f"Pixel size: x {self._fit2d_values['pixelX']:.4g} µm, y {self._fit2d_values['pixelY']:.4g} µm"
            )
        self._show_residuals(fit)
        self._show_history(history)

    def _show_residuals(self, fit: FitResult | None) -> None:
        self.rings_table.setRowCount(0)
        if fit is None:
            self.rms_label.setText("No fit for this geometry (start values, hand edit or loaded file).")
            return
        self.rms_label.setText(
            f"RMS {fit.rms_deg:.5f}° 2θ = {fit.rms_px:.3f} px, {len(fit.points)} points on {len(fit.rings)} rings"
        )
        self.rings_table.setRowCount(len(fit.rings))
        for row, stats in enumerate(fit.rings):
            cells = (str(stats.ring + 1), str(stats.count), f"{stats.rms_deg:.5f}", f"{stats.rms_px:.3f}")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.rings_table.setItem(row, col, item)

    def _show_history(self, history: list[HistoryEntry]) -> None:
        self.history_list.clear()
        for i, entry in enumerate(history, start=1):
            rms = f"  (RMS {entry.rms_deg:.5f}°)" if entry.rms_deg is not None else ""
            self.history_list.addItem(f"{i}. {entry.label}{rms}")
        self.history_list.setCurrentRow(-1)
        self.history_list.scrollToBottom()

    def _fit2d_changed(self, name: str, value: float) -> None:
        self.fit2d_edited.emit(self._fit2d_values | {name: value})

    def _restore(self) -> None:
        row = self.history_list.currentRow()
        if row >= 0:
            self.restore_requested.emit(row)
