"""Integration mode's controls: sample image and frames, integration settings, corrections, lines
to overlay, saving, and batch integration of a folder.

The panel owns widgets and their settings only; :mod:`.integration_controller` acts on them.
"""

from __future__ import annotations

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core.integration.formats import PATTERN_FORMATS
from ..core.integration.integrator import IntegrationSettings
from ..core.io.calibrants import list_calibrants
from .settings import Settings

CORRECTIONS = ("dark", "flat", "background")
OVERLAYS = {"none": "No lines", "calibrant": "Calibrant lines", "phase": "Lines of a phase"}


def _double(low: float, high: float, value: float, decimals: int = 2, suffix: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(decimals)
    box.setRange(low, high)
    box.setValue(value)
    box.setKeyboardTracking(False)
    box.setSuffix(suffix)
    return box


class FilePicker(QWidget):
    """A file name with a browse button and a clear button; the controller opens the dialogs."""

    browse = pyqtSignal()
    cleared = pyqtSignal()

    def __init__(self, placeholder: str) -> None:
        super().__init__()
        self.edit = QLineEdit()
        self.edit.setReadOnly(True)
        self.edit.setPlaceholderText(placeholder)
        browse, clear = QToolButton(), QToolButton()
        browse.setText("…")
        clear.setText("×")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.edit, browse, clear):
            layout.addWidget(widget)
        browse.clicked.connect(self.browse)
        clear.clicked.connect(self.cleared)

    @property
    def path(self) -> str:
        return self.edit.text()

    def set_path(self, path: str) -> None:
        self.edit.setText(path)
        self.edit.setToolTip(path)


class IntegrationPanel(QWidget):
    """Right-hand panel of the Integration mode."""

    open_clicked = pyqtSignal()
    step_clicked = pyqtSignal(int)  # -1 previous file, +1 next
    frame_chosen = pyqtSignal(int)
    load_poni_clicked = pyqtSignal()
    settings_changed = pyqtSignal()
    overlay_changed = pyqtSignal()
    phase_file_clicked = pyqtSignal()
    save_pattern_clicked = pyqtSignal()
    save_cake_clicked = pyqtSignal()
    batch_clicked = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        page = QWidget()
        layout = QVBoxLayout(page)
        for group in (self._sample_group(), self._settings_group(), self._corrections_group(), self._lines_group(),
                      self._save_group(), self._batch_group()):
            layout.addWidget(group)
        layout.addStretch(1)
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        area.setWidget(page)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(area)

    # -- groups ------------------------------------------------------------------------------------
    def _sample_group(self) -> QGroupBox:
        box = QGroupBox("Sample")
        self.calibration_label = QLabel("No calibration yet")
        self.calibration_label.setWordWrap(True)
        self.load_poni_button = QPushButton("Load .poni…")
        self.open_button = QPushButton("Load image…")
        self.previous_button, self.next_button = QPushButton("◀"), QPushButton("▶")
        self.previous_button.setToolTip("Previous file in the folder")
        self.next_button.setToolTip("Next file in the folder")
        self.sample_label = QLabel("No sample image")
        self.sample_label.setWordWrap(True)
        self.frame_slider = QSlider(Qt.Horizontal)
        self.frame_box = QSpinBox()
        self.frame_box.setKeyboardTracking(False)
        frames = QHBoxLayout()
        frames.addWidget(QLabel("Frame"))
        frames.addWidget(self.frame_slider, 1)
        frames.addWidget(self.frame_box)
        self.frame_row = QWidget()
        self.frame_row.setLayout(frames)
        frames.setContentsMargins(0, 0, 0, 0)
        self.set_frames(0, 1)
        row = QHBoxLayout()
        for widget in (self.open_button, self.previous_button, self.next_button):
            row.addWidget(widget)
        calibration = QHBoxLayout()
        calibration.addWidget(self.calibration_label, 1)
        calibration.addWidget(self.load_poni_button)
        layout = QVBoxLayout(box)
        layout.addLayout(calibration)
        layout.addLayout(row)
        layout.addWidget(self.sample_label)
        layout.addWidget(self.frame_row)
        self.open_button.clicked.connect(self.open_clicked)
        self.load_poni_button.clicked.connect(self.load_poni_clicked)
        self.previous_button.clicked.connect(lambda: self.step_clicked.emit(-1))
        self.next_button.clicked.connect(lambda: self.step_clicked.emit(1))
        self.frame_slider.valueChanged.connect(self.frame_box.setValue)
        self.frame_box.valueChanged.connect(self.frame_slider.setValue)
        self.frame_box.valueChanged.connect(self.frame_chosen)
        return box

    def _settings_group(self) -> QGroupBox:
        box = QGroupBox("Integration")
        self.npt_box = QSpinBox()
        self.npt_box.setRange(10, 50_000)
        self.npt_box.setValue(2000)
        self.npt_box.setKeyboardTracking(False)
        self.azimuth_box = QCheckBox("Only χ from")
        self.azimuth_from, self.azimuth_to = _double(-360, 360, -180.0, 1, "°"), _double(-360, 360, 180.0, 1, "°")
        sector = QHBoxLayout()
        for widget in (self.azimuth_box, self.azimuth_from, QLabel("to"), self.azimuth_to):
            sector.addWidget(widget)
        self.polarization_box = QCheckBox("Polarization factor")
        self.polarization_value = _double(-1, 1, 0.99, 3)
        polarization = QHBoxLayout()
        polarization.addWidget(self.polarization_box)
        polarization.addWidget(self.polarization_value)
        self.solid_angle_box = QCheckBox("Solid-angle correction")
        self.solid_angle_box.setChecked(True)
        self.cake_npt_box = QSpinBox()
        self.cake_npt_box.setRange(10, 20_000)
        self.cake_npt_box.setValue(1000)
        self.cake_npt_box.setKeyboardTracking(False)
        form = QFormLayout(box)
        form.addRow("Pattern points", self.npt_box)
        form.addRow(sector)
        form.addRow(polarization)
        form.addRow(self.solid_angle_box)
        form.addRow("Cake radial points", self.cake_npt_box)
        for signal in (self.npt_box.valueChanged, self.azimuth_box.toggled, self.azimuth_from.valueChanged,
                       self.azimuth_to.valueChanged, self.polarization_box.toggled, self.polarization_value.valueChanged,
                       self.solid_angle_box.toggled, self.cake_npt_box.valueChanged):
            signal.connect(lambda *_: self.settings_changed.emit())
        return box

    def _corrections_group(self) -> QGroupBox:
        box = QGroupBox("Corrections")
        self.pickers = {kind: FilePicker(f"no {kind} image") for kind in CORRECTIONS}
        self.background_scale = _double(-100, 100, 1.0, 3)
        form = QFormLayout(box)
        for kind, picker in self.pickers.items():
            form.addRow(kind.capitalize(), picker)
        form.addRow("Background scale", self.background_scale)
        self.background_scale.valueChanged.connect(lambda *_: self.settings_changed.emit())
        return box

    def _lines_group(self) -> QGroupBox:
        box = QGroupBox("Lines")
        self.overlay_box = QComboBox()
        for key, label in OVERLAYS.items():
            self.overlay_box.addItem(label, key)
        self.phase_box = QComboBox()
        self.phase_box.addItems(list_calibrants())
        self.phase_file_button = QPushButton("File…")
        self.phase_file_button.setToolTip("A d-spacing file (d in Å, one per line)")
        phase = QHBoxLayout()
        phase.addWidget(self.phase_box, 1)
        phase.addWidget(self.phase_file_button)
        form = QFormLayout(box)
        form.addRow("Show", self.overlay_box)
        form.addRow("Phase", phase)
        self.overlay_box.currentIndexChanged.connect(lambda _: self.overlay_changed.emit())
        self.phase_box.currentIndexChanged.connect(lambda _: self.overlay_changed.emit())
        self.phase_file_button.clicked.connect(self.phase_file_clicked)
        return box

    def _save_group(self) -> QGroupBox:
        box = QGroupBox("Save")
        self.save_pattern_button = QPushButton("Save pattern…")
        self.save_pattern_button.setToolTip("Format by extension: " + ", ".join(f".{f}" for f in PATTERN_FORMATS))
        self.save_cake_button = QPushButton("Save cake…")
        self.save_cake_button.setToolTip("Format by extension: .tif, .npy, .png")
        layout = QHBoxLayout(box)
        layout.addWidget(self.save_pattern_button)
        layout.addWidget(self.save_cake_button)
        self.save_pattern_button.clicked.connect(self.save_pattern_clicked)
        self.save_cake_button.clicked.connect(self.save_cake_clicked)
        return box

    def _batch_group(self) -> QGroupBox:
        box = QGroupBox("Batch: a whole folder")
        self.batch_folder = FilePicker("folder of images")
        self.batch_glob = QLineEdit("*")
        self.batch_glob.setToolTip("Only files matching this pattern, e.g. *.cbf")
        self.batch_output = FilePicker("output folder")
        self.format_boxes = {fmt: QCheckBox(fmt) for fmt in PATTERN_FORMATS}
        self.format_boxes["xy"].setChecked(True)
        self.batch_cake_box = QCheckBox("cake (.tif)")
        formats = QHBoxLayout()
        for widget in (*self.format_boxes.values(), self.batch_cake_box):
            formats.addWidget(widget)
        self.overwrite_box = QCheckBox("Overwrite existing results")
        self.workers_box = QSpinBox()
        self.workers_box.setRange(1, 64)
        self.workers_box.setValue(2)
        self.batch_button = QPushButton("Integrate folder")
        self.batch_summary = QPlainTextEdit()
        self.batch_summary.setReadOnly(True)
        self.batch_summary.setMaximumHeight(90)
        self.batch_summary.setPlaceholderText("The summary of the last batch appears here.")
        form = QFormLayout(box)
        form.addRow("Folder", self.batch_folder)
        form.addRow("Files", self.batch_glob)
        form.addRow("Output", self.batch_output)
        form.addRow(formats)
        form.addRow(self.overwrite_box)
        form.addRow("Worker processes", self.workers_box)
        form.addRow(self.batch_button)
        form.addRow(self.batch_summary)
        self.batch_button.clicked.connect(self.batch_clicked)
        return box

    # -- state ---------------------------------------------------------------------------------------
    def set_frames(self, frame: int, count: int) -> None:
        """Show the frame slider only for multi-frame files; setting it does not emit ``frame_chosen``."""
        self.frame_box.blockSignals(True)
        self.frame_slider.blockSignals(True)
        self.frame_box.setRange(0, max(count - 1, 0))
        self.frame_slider.setRange(0, max(count - 1, 0))
        self.frame_box.setValue(frame)
        self.frame_slider.setValue(frame)
        self.frame_box.blockSignals(False)
        self.frame_slider.blockSignals(False)
        self.frame_row.setVisible(count > 1)

    def settings(self, unit: str) -> IntegrationSettings:
        """The settings chosen (raises XcalError with the reason if they are not usable)."""
        azimuth = (self.azimuth_from.value(), self.azimuth_to.value()) if self.azimuth_box.isChecked() else None
        return IntegrationSettings(
            unit=unit, npt=self.npt_box.value(), azimuth_range=azimuth,
            polarization=self.polarization_value.value() if self.polarization_box.isChecked() else None,
            solid_angle=self.solid_angle_box.isChecked(), cake_unit="q_A^-1" if unit == "d_A" else unit,
            cake_npt=self.cake_npt_box.value())

    @property
    def overlay(self) -> str:
        return self.overlay_box.currentData()

    @property
    def batch_formats(self) -> tuple[str, ...]:
        return tuple(fmt for fmt, box in self.format_boxes.items() if box.isChecked())

    def load_settings(self, s: Settings) -> None:
        self.npt_box.setValue(s.get("integration/npt", 2000))
        self.polarization_box.setChecked(s.get("integration/polarization_on", False))
        self.polarization_value.setValue(s.get("integration/polarization", 0.99))
        self.solid_angle_box.setChecked(s.get("integration/solid_angle", True))
        self.batch_glob.setText(s.get("integration/glob", "*"))

    def save_settings(self, s: Settings) -> None:
        s.set("integration/npt", self.npt_box.value())
        s.set("integration/polarization_on", self.polarization_box.isChecked())
        s.set("integration/polarization", self.polarization_value.value())
        s.set("integration/solid_angle", self.solid_angle_box.isChecked())
        s.set("integration/glob", self.batch_glob.text())
