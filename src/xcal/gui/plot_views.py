"""Cake (2θ × χ over 360°) and pattern (I vs 2θ, q or d) with the calibrant line positions.

Straight, vertical calibrant lines in the cake and peaks centred on the pattern's markers are
how a user sees at a glance that a calibration is right.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QRectF, Qt, pyqtSignal
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..core.integration import UNITS, Cake, Pattern

PATTERN_UNIT_LABELS = {"2th_deg": "2θ (°)", "q_A^-1": "q (Å⁻¹)", "q_nm^-1": "q (nm⁻¹)", "d_A": "d (Å)"}
# Dashed and translucent: the data under a calibrant line stays visible, so a bent ring shows.
_LINE_PEN = pg.mkPen(QColor(255, 70, 70, 150), width=1, style=Qt.DashLine)


def _vertical_lines(positions: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """x, y of vertical segments at ``positions`` from ``low`` to ``high`` (for connect='pairs')."""
    x = np.repeat(np.asarray(positions, dtype=float), 2)
    y = np.tile([low, high], len(positions)).astype(float)
    return x, y


def _placeholder(plot: pg.PlotItem, text: str) -> pg.TextItem:
    item = pg.TextItem(text, color="#bbbbbb", anchor=(0.5, 0.5))
    item.setPos(0.5, 0.5)
    plot.addItem(item, ignoreBounds=True)
    return item


class CakeView(QWidget):
    """The cake image with the calibrant lines as vertical red lines."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", UNITS["2th_deg"])
        self.plot.setLabel("left", "χ (°)")
        self.image_item = pg.ImageItem(axisOrder="row-major", autoDownsample=True)
        self.lines_item = pg.PlotCurveItem(pen=_LINE_PEN, connect="pairs")
        self.lines_item.setZValue(1)
        self.plot.addItem(self.image_item)
        self.plot.addItem(self.lines_item)
        self.hint = _placeholder(self.plot.getPlotItem(), "The cake appears after a calibration or a loaded .poni")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    def set_cake(self, cake: Cake, lines: np.ndarray) -> None:
        radial, azimuth = cake.radial, cake.azimuth
        dx = (radial[-1] - radial[0]) / max(len(radial) - 1, 1)
        dy = (azimuth[-1] - azimuth[0]) / max(len(azimuth) - 1, 1)
        filled = cake.intensity[cake.intensity > 0]
        levels = tuple(np.percentile(filled, (1.0, 99.5))) if filled.size else (0.0, 1.0)
        self.image_item.setImage(cake.intensity, autoLevels=False, levels=levels)
        self.image_item.setRect(QRectF(radial[0] - dx / 2, azimuth[0] - dy / 2, dx * len(radial), dy * len(azimuth)))
        inside = lines[(lines >= radial[0]) & (lines <= radial[-1])]
        self.lines_item.setData(*_vertical_lines(inside, azimuth[0] - dy / 2, azimuth[-1] + dy / 2))
        self.hint.setVisible(False)
        self.plot.getPlotItem().autoRange(padding=0)

    def clear(self) -> None:
        self.image_item.clear()
        self.lines_item.setData([], [])
        self.hint.setVisible(True)


class PatternView(QWidget):
    """The azimuthally integrated pattern, with a unit chooser and the calibrant line markers."""

    unit_changed = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.unit_box = QComboBox()
        for unit, label in PATTERN_UNIT_LABELS.items():
            self.unit_box.addItem(label, unit)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("left", "Intensity")
        self.plot.setLabel("bottom", PATTERN_UNIT_LABELS["2th_deg"])
        self.curve = pg.PlotDataItem(pen=pg.mkPen("#f0f0f0", width=1.2))
        self.lines_item = pg.PlotCurveItem(pen=_LINE_PEN, connect="pairs")
        self.plot.addItem(self.lines_item)
        self.plot.addItem(self.curve)
        self.hint = _placeholder(self.plot.getPlotItem(), "The pattern appears after a calibration or a loaded .poni")
        top = QHBoxLayout()
        top.addWidget(QLabel("Unit:"))
        top.addWidget(self.unit_box)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.plot, 1)
        self.unit_box.currentIndexChanged.connect(lambda _: self.unit_changed.emit(self.unit))

    @property
    def unit(self) -> str:
        return self.unit_box.currentData()

    def set_pattern(self, pattern: Pattern, lines: np.ndarray) -> None:
        radial, intensity = pattern.radial, pattern.intensity
        self.curve.setData(radial, intensity)
        self.plot.setLabel("bottom", PATTERN_UNIT_LABELS[pattern.unit])
        finite = intensity[np.isfinite(intensity)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        inside = lines[(lines >= radial.min()) & (lines <= radial.max())] if radial.size else lines[:0]
        self.lines_item.setData(*_vertical_lines(inside, low, high))
        self.hint.setVisible(False)
        self.plot.getPlotItem().autoRange()

    def clear(self) -> None:
        self.curve.setData([], [])
        self.lines_item.setData([], [])
        self.hint.setVisible(True)
