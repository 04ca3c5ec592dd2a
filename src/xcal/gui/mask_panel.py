"""Mask mode's controls: drawing tools, mask/unmask, thresholds, edits, hot pixels, files, display.

The panel owns widgets and their settings only; it reports what the user asked for through
signals and getters, and :mod:`.mask_controller` turns each into one mask operation. Keyboard
shortcuts live on the panel's buttons, so they work only while the Mask mode is shown.
"""

from __future__ import annotations

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QColor, QKeySequence
from PyQt5.QtWidgets import (
    QButtonGroup,
    QColorDialog,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QShortcut,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .settings import Settings

# name, button text, shortcut, how to draw it
TOOLS = (
    ("pan", "Pan", "N", "Drag to pan, wheel to zoom; pick a shape to draw."),
    ("rectangle", "Rectangle", "R", "Drag from one corner to the other."),
    ("circle", "Circle", "C", "Drag from the centre to the edge."),
    ("ellipse", "Ellipse", "E", "Drag the box around the ellipse."),
    ("polygon", "Polygon", "P", "Click the vertices; double-click closes the polygon, Esc cancels it."),
    ("arc", "Arc", "A", "With a geometry: drag across the 2θ and χ range. Without: click the centre, then "
                        "drag across the radii and angles. Hold Shift for the full ring."),
    ("point", "Point", "D", "Click a pixel: a disc of the point radius around it."),
)
DEFAULT_COLOR = "#ff2828"
DEFAULT_OPACITY = 30  # percent


def _spin(low: float, high: float, value: float, decimals: int = 0, suffix: str = "") -> QSpinBox | QDoubleSpinBox:
    box: QSpinBox | QDoubleSpinBox = QDoubleSpinBox() if decimals else QSpinBox()
    if isinstance(box, QDoubleSpinBox):
        box.setDecimals(decimals)
    box.setRange(low, high)
    box.setValue(value)
    box.setKeyboardTracking(False)
    if suffix:
        box.setSuffix(suffix)
    return box


class MaskPanel(QWidget):
    """Right-hand panel of the Mask mode."""

    tool_changed = pyqtSignal(str)
    threshold_requested = pyqtSignal(str, float)  # "below" or "above", level
    grow_requested = pyqtSignal(int)
    shrink_requested = pyqtSignal(int)
    invert_clicked = pyqtSignal()
    clear_clicked = pyqtSignal()
    undo_clicked = pyqtSignal()
    redo_clicked = pyqtSignal()
    gaps_clicked = pyqtSignal()
    find_bad_pixels_clicked = pyqtSignal(float)  # σ threshold
    accept_suggestion_clicked = pyqtSignal()
    discard_suggestion_clicked = pyqtSignal()
    load_clicked = pyqtSignal()
    add_clicked = pyqtSignal()
    save_clicked = pyqtSignal()
    style_changed = pyqtSignal()
    escape_pressed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.color = QColor(DEFAULT_COLOR)
        page = QWidget()
        column = QVBoxLayout(page)
        for box in (self._draw_box(), self._threshold_box(), self._edit_box(), self._bad_pixel_box(),
                    self._file_box(), self._display_box()):
            column.addWidget(box)
        column.addStretch(1)
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        area.setWidget(page)
        self.count_label = QLabel("No image")
        self.count_label.setStyleSheet("font-weight: bold; padding: 4px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.count_label)
        layout.addWidget(area, 1)
        QShortcut(QKeySequence(Qt.Key_Escape), self, activated=self.escape_pressed.emit)
        # every platform binding of undo/redo, and Ctrl+Y wherever redo is Ctrl+Shift+Z (one shortcut each)
        undo_keys = QKeySequence.keyBindings(QKeySequence.Undo)
        redo_keys = [*QKeySequence.keyBindings(QKeySequence.Redo), QKeySequence("Ctrl+Y")]
        for keys, signal in ((undo_keys, self.undo_clicked), (redo_keys, self.redo_clicked)):
            for sequence in dict.fromkeys(k.toString() for k in keys):
                QShortcut(QKeySequence(sequence), self, activated=signal.emit)
        self.show_suggestion(None)

    # -- construction --------------------------------------------------------------------------------
    def _draw_box(self) -> QGroupBox:
        box = QGroupBox("Draw")
        grid = QGridLayout(box)
        self.mask_radio = QRadioButton("Mask")
        self.unmask_radio = QRadioButton("Unmask")
        self.mask_radio.setChecked(True)
        self.mask_radio.setToolTip("Shapes and thresholds exclude pixels (M)")
        self.unmask_radio.setToolTip("Shapes and thresholds give pixels back (U)")
        self.mask_radio.setShortcut("M")
        self.unmask_radio.setShortcut("U")
        modes = QButtonGroup(self)
        modes.addButton(self.mask_radio)
        modes.addButton(self.unmask_radio)
        grid.addWidget(self.mask_radio, 0, 0)
        grid.addWidget(self.unmask_radio, 0, 1)
        self.tool_buttons: dict[str, QToolButton] = {}
        self._tools = QButtonGroup(self)
        for index, (name, text, key, hint) in enumerate(TOOLS):
            button = QToolButton()
            button.setText(f"{text} ({key})")
            button.setCheckable(True)
            button.setShortcut(key)
            button.setToolTip(hint)
            button.setToolButtonStyle(Qt.ToolButtonTextOnly)
            button.setSizePolicy(button.sizePolicy().Expanding, button.sizePolicy().Fixed)
            self._tools.addButton(button)
            self.tool_buttons[name] = button
            grid.addWidget(button, 1 + index // 2, index % 2)
            button.toggled.connect(lambda on, name=name: on and self._tool_chosen(name))
        row = 2 + len(TOOLS) // 2
        self.point_radius_box = _spin(0, 500, 2, suffix=" px")
        self.point_radius_box.setToolTip("Radius of the Point tool's disc; 0 masks the one pixel clicked")
        grid.addWidget(QLabel("Point radius"), row, 0)
        grid.addWidget(self.point_radius_box, row, 1)
        self.hint_label = QLabel()
        self.hint_label.setWordWrap(True)
        self.hint_label.setStyleSheet("color: palette(mid);")
        grid.addWidget(self.hint_label, row + 1, 0, 1, 2)
        self.tool_buttons["pan"].setChecked(True)
        return box

    def _threshold_box(self) -> QGroupBox:
        box = QGroupBox("Threshold")
        grid = QGridLayout(box)
        self.below_box = _spin(-1e12, 1e12, 0.0, decimals=3)
        self.above_box = _spin(-1e12, 1e12, 1e6, decimals=3)
        below = QPushButton("Mask below")
        above = QPushButton("Mask above")
        below.setToolTip("Pixels with a lower intensity (dead, shadowed)")
        above.setToolTip("Pixels with a higher intensity (saturated, hot)")
        grid.addWidget(below, 0, 0)
        grid.addWidget(self.below_box, 0, 1)
        grid.addWidget(above, 1, 0)
        grid.addWidget(self.above_box, 1, 1)
        below.clicked.connect(lambda: self.threshold_requested.emit("below", self.below_box.value()))
        above.clicked.connect(lambda: self.threshold_requested.emit("above", self.above_box.value()))
        return box

    def _edit_box(self) -> QGroupBox:
        box = QGroupBox("Edit")
        grid = QGridLayout(box)
        self.grow_box = _spin(1, 200, 1, suffix=" px")
        grow, shrink = QPushButton("Grow"), QPushButton("Shrink")
        grow.setToolTip("Mask every pixel within this distance of the mask")
        shrink.setToolTip("Unmask every pixel within this distance of an unmasked one")
        invert, clear = QPushButton("Invert"), QPushButton("Clear")
        self.undo_button, self.redo_button = QPushButton("Undo"), QPushButton("Redo")
        gaps = QPushButton("Mask gaps and negative pixels")
        gaps.setToolTip("Put the detector's gaps and the negative or invalid pixels into the mask, "
                        "so that a saved mask carries them (they are always excluded anyway)")
        grid.addWidget(grow, 0, 0)
        grid.addWidget(shrink, 0, 1)
        grid.addWidget(self.grow_box, 0, 2)
        grid.addWidget(invert, 1, 0)
        grid.addWidget(clear, 1, 1)
        grid.addWidget(self.undo_button, 2, 0)
        grid.addWidget(self.redo_button, 2, 1)
        grid.addWidget(gaps, 3, 0, 1, 3)
        grow.clicked.connect(lambda: self.grow_requested.emit(self.grow_box.value()))
        shrink.clicked.connect(lambda: self.shrink_requested.emit(self.grow_box.value()))
        invert.clicked.connect(self.invert_clicked)
        clear.clicked.connect(self.clear_clicked)
        self.undo_button.clicked.connect(self.undo_clicked)
        self.redo_button.clicked.connect(self.redo_clicked)
        gaps.clicked.connect(self.gaps_clicked)
        return box

    def _bad_pixel_box(self) -> QGroupBox:
        box = QGroupBox("Hot and dead pixels")
        grid = QGridLayout(box)
        self.sigma_box = _spin(2.0, 1000.0, 8.0, decimals=1, suffix=" σ")
        self.sigma_box.setToolTip("How far from its surroundings a pixel must be, in noise levels")
        self.find_button = QPushButton("Find")
        self.find_button.setToolTip("Outliers against the pixels at the same 2θ when the calibration was judged "
                                    "good on this image, else against a median filter (the message says why); "
                                    "shown as circles for you to accept or discard")
        self.suggestion_label = QLabel()
        self.suggestion_label.setWordWrap(True)
        self.accept_button, self.discard_button = QPushButton("Accept"), QPushButton("Discard")
        grid.addWidget(QLabel("Threshold"), 0, 0)
        grid.addWidget(self.sigma_box, 0, 1)
        grid.addWidget(self.find_button, 0, 2)
        grid.addWidget(self.suggestion_label, 1, 0, 1, 3)
        grid.addWidget(self.accept_button, 2, 0)
        grid.addWidget(self.discard_button, 2, 1)
        self.find_button.clicked.connect(lambda: self.find_bad_pixels_clicked.emit(self.sigma_box.value()))
        self.accept_button.clicked.connect(self.accept_suggestion_clicked)
        self.discard_button.clicked.connect(self.discard_suggestion_clicked)
        return box

    def _file_box(self) -> QGroupBox:
        box = QGroupBox("Files")
        row = QHBoxLayout(box)
        for text, tip, signal in (
            ("Load…", "Replace the mask by a .mask, .edf, .npy or image file", self.load_clicked),
            ("Add…", "Add a mask file's pixels to the mask", self.add_clicked),
            ("Save…", "Save as .mask (Dioptas), .edf (pyFAI, Fit2D) or .npy, for the image as stored",
             self.save_clicked),
        ):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(signal)
            row.addWidget(button)
        return box

    def _display_box(self) -> QGroupBox:
        box = QGroupBox("Display")
        grid = QGridLayout(box)
        self.opacity_slider = QSlider(Qt.Horizontal)
        self.opacity_slider.setRange(5, 100)
        self.opacity_slider.setValue(DEFAULT_OPACITY)
        self.opacity_slider.setToolTip("Opacity of the mask overlay (also in the other modes when transparent)")
        self.color_button = QPushButton("Colour…")
        grid.addWidget(QLabel("Opacity"), 0, 0)
        grid.addWidget(self.opacity_slider, 0, 1)
        grid.addWidget(self.color_button, 0, 2)
        self.opacity_slider.valueChanged.connect(lambda _: self.style_changed.emit())
        self.color_button.clicked.connect(self._choose_color)
        self._show_color()
        return box

    # -- state -------------------------------------------------------------------------------------
    @property
    def tool(self) -> str:
        return next(name for name, button in self.tool_buttons.items() if button.isChecked())

    def set_tool(self, name: str) -> None:
        self.tool_buttons[name].setChecked(True)

    @property
    def masking(self) -> bool:
        """True: shapes mask pixels; False: they unmask them."""
        return self.mask_radio.isChecked()

    @property
    def opacity(self) -> float:
        return self.opacity_slider.value() / 100.0

    def _tool_chosen(self, name: str) -> None:
        self.hint_label.setText(next(hint for tool, _, _, hint in TOOLS if tool == name))
        self.tool_changed.emit(name)

    def _choose_color(self) -> None:
        color = QColorDialog.getColor(self.color, self, "Mask colour")
        if color.isValid():
            self.color = color
            self._show_color()
            self.style_changed.emit()

    def _show_color(self) -> None:
        text = "white" if self.color.lightness() < 128 else "black"
        self.color_button.setStyleSheet(f"background-color: {self.color.name()}; color: {text};")

    def show_count(self, count: int | None, fraction: float = 0.0) -> None:
        if count is None:
            self.count_label.setText("No image")
        elif count == 0:
            self.count_label.setText("No pixels masked")
        else:
            self.count_label.setText(f"{count:,} pixels masked ({fraction:.2%})".replace(",", " "))

    def show_history(self, undo: str | None, redo: str | None) -> None:
        self.undo_button.setEnabled(undo is not None)
        self.redo_button.setEnabled(redo is not None)
        self.undo_button.setToolTip(f"Undo {undo} (Ctrl+Z)" if undo else "Nothing to undo")
        self.redo_button.setToolTip(f"Redo {redo} (Ctrl+Y)" if redo else "Nothing to redo")

    def show_suggestion(self, text: str | None) -> None:
        """The hot/dead pixel search result waiting for Accept or Discard (None: none waiting)."""
        self.suggestion_label.setText(text or "")
        self.suggestion_label.setVisible(bool(text))
        self.accept_button.setEnabled(text is not None)
        self.discard_button.setEnabled(text is not None)

    # -- settings ----------------------------------------------------------------------------------
    def save_settings(self, settings: Settings) -> None:
        settings.set("mask/color", self.color.name())
        settings.set("mask/opacity", self.opacity_slider.value())
        settings.set("mask/point_radius", self.point_radius_box.value())
        settings.set("mask/grow_px", self.grow_box.value())
        settings.set("mask/sigma", self.sigma_box.value())

    def load_settings(self, settings: Settings) -> None:
        color = QColor(settings.get("mask/color", DEFAULT_COLOR))
        self.color = color if color.isValid() else QColor(DEFAULT_COLOR)
        self._show_color()
        self.opacity_slider.setValue(settings.get("mask/opacity", DEFAULT_OPACITY))
        self.point_radius_box.setValue(settings.get("mask/point_radius", self.point_radius_box.value()))
        self.grow_box.setValue(settings.get("mask/grow_px", self.grow_box.value()))
        self.sigma_box.setValue(settings.get("mask/sigma", self.sigma_box.value()))
        self.style_changed.emit()
