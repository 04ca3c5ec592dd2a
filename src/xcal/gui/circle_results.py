"""The circle dialog's "Result": centre, radius, rms, distance and scale, each point's distance from the
circle, and the optimisation history, so the user sees why a fit is (or is not) to be trusted."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import Qt
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.circle.image import CircleOutcome
from ..core.geometry.conics import Circle

ROWS = (("centre", "Centre (x, y)"), ("radius", "Radius"), ("rms", "RMS"), ("distance", "Distance"), ("scale", "Scale λD/p"))


class CircleResultsBox(QGroupBox):
    """Numbers, residual table and history plot of the current circle; ``export_button`` is the dialog's."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Result", parent)
        layout = QVBoxLayout(self)
        grid = QGridLayout()
        self.labels: dict[str, QLabel] = {}
        for i, (key, title) in enumerate(ROWS):
            label = QLabel("–")
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            label.setWordWrap(True)
            grid.addWidget(QLabel(title), i, 0)
            grid.addWidget(label, i, 1)
            self.labels[key] = label
        grid.itemAtPosition(4, 0).widget().setToolTip(
            "λ × distance / pixel size: a reflection R px from the centre has d ≈ scale / R (small angles)")
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
        self.history_plot.setMinimumHeight(150)
        self.history_curve = self.history_plot.plot([], [], pen=pg.mkPen("#1f77b4", width=2), symbol="o", symbolSize=6,
                                                    symbolBrush="#1f77b4")
        layout.addWidget(self.history_plot, 1)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Save the fit history (one line per stage, then the result)")
        layout.addWidget(self.export_button, 0, Qt.AlignRight)

    def show_result(self, circle: Circle | None, outcome: CircleOutcome | None, distance: str, scale: str) -> None:
        """Show a circle (fitted when ``outcome`` is given, else computed) and the numbers derived from it."""
        self.table.setRowCount(0)
        self.history_curve.setData([], [])
        self.export_button.setEnabled(outcome is not None)
        if circle is None:
            for label in self.labels.values():
                label.setText("–")
            return
        self.labels["centre"].setText(f"{circle.col + 0.5:.3f}, {circle.row + 0.5:.3f} px")
        self.labels["radius"].setText(f"{circle.radius:.3f} px")
        self.labels["distance"].setText(distance)
        self.labels["scale"].setText(scale)
        if outcome is None:
            self.labels["rms"].setText("– (computed, not fitted)")
            return
        fit = outcome.fit
        self.labels["rms"].setText(f"{fit.rms_px:.3f} px on {int(fit.inliers.sum())} of {len(fit.inliers)} {outcome.source}")
        self._fill_table(outcome)
        if fit.history:
            cost = np.array([h[5] for h in fit.history], float)
            self.history_curve.setData(np.arange(len(cost)), cost)
            self.history_plot.getAxis("bottom").setTicks([[(i, h[1]) for i, h in enumerate(fit.history)]])

    def _fill_table(self, outcome: CircleOutcome) -> None:
        fit = outcome.fit
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
