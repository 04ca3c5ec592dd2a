"""Integration mode's views: the sample image, its cake and its pattern side by side, with the
position under the cursor on the pattern read out in every unit."""

from __future__ import annotations

import math

import numpy as np
from PyQt5.QtCore import QPointF, Qt
from PyQt5.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from .image_view import ImageView
from .plot_views import CakeView, PatternView


def pattern_position_text(x: float, unit: str, intensity: float | None, wavelength: float | None) -> str:
    """The cursor's position on the pattern in 2θ, d and q (whatever the axis unit), and the intensity."""
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
    if intensity is not None:
        parts.append(f"I {intensity:.6g}")
    return "   ".join(parts) or " "


class IntegrationView(QWidget):
    """Image on the left; cake above the pattern on the right; a read-out line below."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = ImageView()
        self.cake = CakeView()
        self.pattern = PatternView()
        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.wavelength: float | None = None  # metres, for the read-out
        right = QSplitter(Qt.Vertical)
        right.addWidget(self.cake)
        right.addWidget(self.pattern)
        right.setSizes([400, 400])
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(self.image)
        self.splitter.addWidget(right)
        self.splitter.setSizes([450, 550])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.readout)
        self.pattern.plot.scene().sigMouseMoved.connect(self._pattern_mouse_moved)

    def _pattern_mouse_moved(self, scene_pos: QPointF) -> None:
        plot = self.pattern.plot.getPlotItem()
        x, y = self.pattern.curve.getData()
        if x is None or not len(x) or not plot.vb.sceneBoundingRect().contains(scene_pos):
            return
        position = plot.vb.mapSceneToView(scene_pos).x()
        k = int(np.argmin(np.abs(x - position)))
        self.readout.setText(pattern_position_text(position, self.pattern.unit, float(y[k]), self.wavelength))
