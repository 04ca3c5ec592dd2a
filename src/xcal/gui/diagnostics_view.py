"""The Diagnostics tab: the verdict on the current geometry, its plots, and the report button.

The plots are drawn by :mod:`xcal.core.calibration.diagnostic_plots` (the report's own) into a PNG in the
worker, so the UI thread only shows a picture.
"""

from __future__ import annotations

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QPixmap
from PyQt5.QtWidgets import QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from ..core.calibration.diagnostics import Diagnostics

_COLOURS = {"good": "#2e7d32", "check": "#ef6c00", "bad": "#c62828"}


class DiagnosticsView(QWidget):
    report_requested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.verdict_label = QLabel("No calibration yet.")
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.numbers_label = QLabel()
        self.numbers_label.setWordWrap(True)
        self.report_button = QPushButton("Save Report…")
        self.report_button.setToolTip("Write the calibration report (.html or .pdf): geometry, diagnostics, cake, pattern")
        self.report_button.setEnabled(False)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignTop | Qt.AlignHCenter)
        scroll = QScrollArea()
        scroll.setWidget(self.picture)
        scroll.setWidgetResizable(True)
        top = QHBoxLayout()
        top.addWidget(self.verdict_label, 1)
        top.addWidget(self.report_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.numbers_label)
        layout.addWidget(scroll, 1)
        self.report_button.clicked.connect(self.report_requested)
        self.diagnostics: Diagnostics | None = None

    def show_diagnostics(self, diagnostics: Diagnostics | None, png: bytes | None, note: str = "") -> None:
        self.diagnostics = diagnostics
        self.report_button.setEnabled(diagnostics is not None)
        if diagnostics is None:
            self.verdict_label.setText(note or "No diagnostics for this geometry.")
            self.verdict_label.setStyleSheet("")
            self.numbers_label.clear()
            self.picture.clear()
            return
        verdict = diagnostics.verdict
        self.verdict_label.setText(f"<b>{verdict.level.upper()}</b>: {' '.join(verdict.reasons)}")
        self.verdict_label.setStyleSheet(f"color: {_COLOURS.get(verdict.level, 'black')}; font-size: 11pt;")
        s = diagnostics.straightness
        strong = diagnostics.correlations.strong if diagnostics.correlations is not None else []
        pairs = ", ".join(f"{a}–{b} {r:+.3f}" for a, b, r in strong) or "none above 0.95"
        self.numbers_label.setText(
            f"Cake straightness: {s.rms_px:.3f} px RMS from the calibrant positions ({s.scatter_px:.3f} px bending). "
            f"Rings: {len(diagnostics.rings)}. Strong parameter correlations: {pairs}.")
        pixmap = QPixmap()
        if png and pixmap.loadFromData(png, "PNG"):
            self.picture.setPixmap(pixmap)
        else:
            self.picture.clear()

    def clear(self) -> None:
        self.show_diagnostics(None, None)
