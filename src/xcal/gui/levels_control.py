"""Contrast of a shown array (the detector image, the cake): levels, colormap and log scale.

The histogram beside the array sets the levels by dragging; the colormap box, the log-scale box
and Auto contrast sit below it, and the same choices are in the view's right-click menu. Until
the user moves the levels, every new array gets the automatic contrast; once moved, the user's
levels stay for the next frame or file (as in Dioptas) until Auto contrast is pressed again or
the log scale changes the scale of the values. The colormap and the log scale are kept between
sessions, under a prefix per view.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QObject
from PyQt5.QtWidgets import QActionGroup, QCheckBox, QComboBox, QMenu, QToolButton

from .colormaps import COLORMAPS, DEFAULT_COLORMAP, colormap, colormap_icon
from .settings import Settings

_LEVEL_PERCENTILES = (1.0, 99.8)


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
    """log10(1 + I), with negative (gap) and NaN pixels shown as 0 (in place on one float32 copy: 12 Mpx images)."""
    out = np.fmax(data, np.float32(0.0), dtype=np.float32)
    np.log1p(out, out=out)
    out *= np.float32(1 / math.log(10))
    return out


class Contrast(QObject):
    """Levels, colormap and log scale of one ImageItem, and the widgets that set them."""

    def __init__(self, item: pg.ImageItem, histogram: pg.HistogramLUTItem, log: bool = False,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.default_log = log
        self.item, self.histogram = item, histogram
        self.auto = True  # False once the user has moved the levels
        self._data: np.ndarray | None = None
        self._invalid: np.ndarray | None = None
        self._setting_levels = False
        self._colormap = ""
        histogram.setImageItem(item)
        histogram.vb.setMenuEnabled(False)  # pyqtgraph's generic menu; the colour bar offers the colormaps
        histogram.gradient.menu = QMenu()
        histogram.gradient.menu.aboutToShow.connect(lambda: self._fill_colormaps(histogram.gradient.menu))
        self.colormap_box = QComboBox()
        self.colormap_box.setToolTip("Colormap")
        for name, label in COLORMAPS.items():
            self.colormap_box.addItem(colormap_icon(name), label, name)
        self.log_box = QCheckBox("Log scale")
        self.log_box.setChecked(log)
        self.log_box.setToolTip("Show log10(1 + I): faint rings next to bright ones")
        self.auto_button = QToolButton()
        self.auto_button.setText("Auto contrast")
        self.auto_button.setToolTip("Contrast from the 1st to the 99.8th percentile of the valid pixels")
        self.colormap_box.currentIndexChanged.connect(lambda _: self.set_colormap(self.colormap_box.currentData()))
        self.log_box.toggled.connect(lambda _: self._show(auto=True))
        self.auto_button.clicked.connect(self.auto_contrast)
        histogram.sigLevelChangeFinished.connect(self._levels_moved)
        self.set_colormap(DEFAULT_COLORMAP)

    # -- data and levels ---------------------------------------------------------------------------
    def set_compact(self) -> None:
        """Short labels and a narrow colormap box, for a pane a third of the window wide."""
        self.log_box.setText("Log")
        self.auto_button.setText("Auto")
        self.colormap_box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.colormap_box.setMinimumContentsLength(5)

    def set_data(self, data: np.ndarray, invalid: np.ndarray | None, reset: bool) -> None:
        """Show ``data``; ``reset`` (a new kind of array) brings back the automatic contrast.

        ``invalid`` pixels (gaps, empty cake bins) are left out of the automatic levels.
        """
        self._data, self._invalid = data, invalid
        self._show(auto=reset or self.auto)

    @property
    def log(self) -> bool:
        return self.log_box.isChecked()

    def auto_contrast(self) -> None:
        self._show(auto=True)

    def _show(self, auto: bool) -> None:
        if self._data is None:
            return
        shown = log_scaled(self._data) if self.log else self._data
        self.auto = auto or self.item.image is None
        levels = auto_levels(shown, self._invalid) if self.auto else tuple(self.histogram.getLevels())
        self._setting_levels = True
        try:
            self.item.setImage(shown, autoLevels=False, levels=levels)
            self.histogram.setLevels(*levels)
        finally:
            self._setting_levels = False

    def _levels_moved(self) -> None:
        if not self._setting_levels:
            self.auto = False

    # -- colormap ----------------------------------------------------------------------------------
    @property
    def colormap(self) -> str:
        return self._colormap

    def set_colormap(self, name: str) -> None:
        """Colour the levels with the colormap ``name`` (see :data:`~.colormaps.COLORMAPS`)."""
        name = name if name in COLORMAPS else DEFAULT_COLORMAP
        if name == self._colormap:
            return
        self._colormap = name
        self.histogram.gradient.setColorMap(colormap(name))
        self.histogram.gradient.showTicks(False)  # a colormap, not a gradient to edit
        self.colormap_box.blockSignals(True)
        self.colormap_box.setCurrentIndex(self.colormap_box.findData(name))
        self.colormap_box.blockSignals(False)

    # -- menus -------------------------------------------------------------------------------------
    def add_actions(self, menu: QMenu) -> None:
        """The colormap submenu, the log scale and Auto contrast, for a view's right-click menu."""
        self._fill_colormaps(menu.addMenu("Colormap"))
        log = menu.addAction("Log scale")
        log.setCheckable(True)
        log.setChecked(self.log)
        log.toggled.connect(self.log_box.setChecked)
        menu.addAction("Auto contrast", self.auto_contrast)

    def _fill_colormaps(self, menu: QMenu) -> None:
        menu.clear()
        group = QActionGroup(menu)
        for name, label in COLORMAPS.items():
            action = menu.addAction(colormap_icon(name), label, lambda name=name: self.set_colormap(name))
            action.setCheckable(True)
            action.setChecked(name == self._colormap)
            group.addAction(action)

    # -- settings ----------------------------------------------------------------------------------
    def load_settings(self, s: Settings, prefix: str) -> None:
        self.set_colormap(s.get(f"{prefix}/colormap", DEFAULT_COLORMAP))
        self.log_box.setChecked(s.get(f"{prefix}/log", self.default_log))

    def save_settings(self, s: Settings, prefix: str) -> None:
        s.set(f"{prefix}/colormap", self._colormap)
        s.set(f"{prefix}/log", self.log)
