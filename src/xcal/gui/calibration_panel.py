"""Calibration mode's controls: start values, peak selection, refinement options, geometry.

The panel owns widgets and their settings only. It reports what the user chose through
signals and getters; the window turns each into one ``CalibrationSession`` call.
"""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QKeySequence
from PyQt5.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QShortcut,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core.calibration.pipeline import RefineOptions
from ..core.calibration.session import HC_KEV_A
from ..core.geometry.detectors import detector_names
from ..core.io.calibrants import list_calibrants
from ..peaks.ring_extraction import ExtractionOptions
from .parameters_widget import ParametersWidget
from .settings import Settings
from .verdict_banner import VerdictBanner

CUSTOM_DETECTOR = "Custom pixel size"
CHOOSE_DETECTOR = "Choose the detector…"  # shown while a shape several detectors share is undecided
_OTHER_FILE = "\x00file"  # item data of the "Other file…" calibrant entry


class CalibrantCombo(QComboBox):
    """A combo that lists the calibrants again each time it opens (new user files show up)."""

    about_to_open = pyqtSignal()

    def showPopup(self) -> None:  # noqa: N802 - Qt naming
        self.about_to_open.emit()
        super().showPopup()


def _spin(low: float, high: float, value: float, decimals: int = 2, suffix: str = "", special: str = "") -> QDoubleSpinBox | QSpinBox:
    """A spin box that reports only finished edits; a float ``value`` makes a QDoubleSpinBox."""
    box: QDoubleSpinBox | QSpinBox = QDoubleSpinBox() if isinstance(value, float) else QSpinBox()
    if isinstance(box, QDoubleSpinBox):
        box.setDecimals(decimals)
    box.setRange(low, high)
    box.setValue(value)
    box.setKeyboardTracking(False)
    if suffix:
        box.setSuffix(suffix)
    if special:
        box.setSpecialValueText(special)
    return box


def _scrolled(*widgets: QWidget) -> QScrollArea:
    page = QWidget()
    layout = QVBoxLayout(page)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # the page fits the panel's width
    area.setWidget(page)
    return area


class CalibrationPanel(QWidget):
    """Right-hand panel of the Calibration mode."""

    energy_changed = pyqtSignal(float)  # keV
    wavelength_changed = pyqtSignal(float)  # Å
    distance_changed = pyqtSignal(float)  # mm
    detector_chosen = pyqtSignal(str)  # pyFAI name
    pixel_size_chosen = pyqtSignal(float, float)  # vertical, horizontal µm
    calibrant_chosen = pyqtSignal(str)  # name or path
    calibrant_file_requested = pyqtSignal()
    polarization_changed = pyqtSignal()
    mask_display_changed = pyqtSignal()
    undo_clicked = pyqtSignal()
    clear_clicked = pyqtSignal()
    save_picks_clicked = pyqtSignal()
    load_picks_clicked = pyqtSignal()
    calibrate_clicked = pyqtSignal()
    auto_clicked = pyqtSignal()
    refine_clicked = pyqtSignal()
    save_poni_clicked = pyqtSignal()
    save_dioptas_clicked = pyqtSignal()
    load_poni_clicked = pyqtSignal()
    circle_dialog_clicked = pyqtSignal()
    pick_more_clicked = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.parameters = ParametersWidget()
        self.verdict = VerdictBanner()
        self.tabs = QTabWidget()
        self.tabs.addTab(_scrolled(self._start_values(), self._peak_selection(), self._refinement_options()), "Setup")
        self.tabs.addTab(_scrolled(self.parameters), "Geometry")

        self.calibrate_button = QPushButton("Calibrate")
        self.calibrate_button.setToolTip("Estimate the geometry from the picks, then refine it on all rings")
        self.auto_button = QPushButton("Auto calibrate")
        self.auto_button.setToolTip("No clicks: find the rings on the image, number them from the calibrant, "
                                    "then calibrate and refine on all rings")
        self.refine_button = QPushButton("Refine")
        self.refine_button.setToolTip("Refine the current geometry again (after edits, a loaded .poni or new options)")
        self.save_poni_button = QPushButton("Save Calibration…")
        self.save_poni_button.setToolTip("Save the calibration as a pyFAI .poni file (Ctrl+S)")
        self.save_dioptas_button = QPushButton("Save for Dioptas…")
        self.save_dioptas_button.setToolTip("Save the calibration as Dioptas reads it (Dioptas flips images up-down "
                                            "and ignores the detector orientation); pyFAI reads this file right too")
        self.load_poni_button = QPushButton("Load Calibration…")
        self.circle_button = QPushButton("Manual calibration by point selection…")
        self.circle_button.setToolTip("Untilted detector (SAXS, fibre): click points on one ring, fit a circle, "
                                      "get the beam centre and the distance")
        self.pick_more_button = QPushButton("Pick more")
        self.pick_more_button.setToolTip("Back to the image and the peak selection, to pick more rings "
                                         "(after a calibration, a click on the cake picks the ring there too)")
        for button in (self.auto_button, self.calibrate_button, self.refine_button):
            button.setMinimumHeight(32)
        buttons = QGridLayout()
        buttons.addWidget(self.auto_button, 0, 0)
        buttons.addWidget(self.calibrate_button, 0, 1)
        buttons.addWidget(self.refine_button, 0, 2)
        # two to a row below: whole labels in the narrowest panel
        for row, pair in enumerate(((self.load_poni_button, self.save_poni_button),
                                    (self.pick_more_button, self.save_dioptas_button)), start=1):
            line = QHBoxLayout()
            for button in pair:
                line.addWidget(button, 1)
            buttons.addLayout(line, row, 0, 1, 3)
        buttons.addWidget(self.circle_button, 3, 0, 1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.verdict)  # in view on every tab: it says what to change under Setup too
        layout.addLayout(buttons)

        self.calibrate_button.clicked.connect(self.calibrate_clicked)
        self.auto_button.clicked.connect(self.auto_clicked)
        self.refine_button.clicked.connect(self.refine_clicked)
        self.save_poni_button.clicked.connect(self.save_poni_clicked)
        self.save_dioptas_button.clicked.connect(self.save_dioptas_clicked)
        self.load_poni_button.clicked.connect(self.load_poni_clicked)
        self.circle_button.clicked.connect(self.circle_dialog_clicked)
        self.pick_more_button.clicked.connect(self.pick_more_clicked)
        # on the panel, so that Ctrl+Z undoes picks only while the Calibration mode is shown (Mask mode: mask steps)
        QShortcut(QKeySequence.Undo, self, activated=self.undo_clicked.emit)

    # -- construction --------------------------------------------------------------------------------
    def _start_values(self) -> QGroupBox:
        box = QGroupBox("Start values")
        form = QFormLayout(box)
        self.wavelength_box = _spin(0.001, 20.0, HC_KEV_A / 30.0, 5, " Å")
        self.energy_box = _spin(0.6, 1000.0, 30.0, 4, " keV")
        self.distance_box = _spin(1.0, 1e5, 200.0, 2, " mm")
        self.detector_box = QComboBox()
        self.calibrant_box = CalibrantCombo()
        for combo in (self.detector_box, self.calibrant_box):
            combo.setMaxVisibleItems(25)
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        self.pixel_h_box = _spin(1.0, 10000.0, 100.0, 3, " µm")
        self.pixel_v_box = _spin(1.0, 10000.0, 100.0, 3, " µm")
        self.polarization_check = QCheckBox("Polarization")
        self.polarization_check.setToolTip("Correct the cake and pattern for polarization with this factor")
        self.polarization_box = _spin(-1.0, 1.0, 0.99, 3)
        form.addRow("Wavelength", self.wavelength_box)
        form.addRow("Energy", self.energy_box)
        form.addRow("Distance", self.distance_box)
        form.addRow("Detector", self.detector_box)
        form.addRow("Pixel width", self.pixel_h_box)
        form.addRow("Pixel height", self.pixel_v_box)
        form.addRow("Calibrant", self.calibrant_box)
        form.addRow(self.polarization_check, self.polarization_box)
        self.set_detector_choices([])
        self.refresh_calibrants()

        self.energy_box.valueChanged.connect(self._energy_edited)
        self.wavelength_box.valueChanged.connect(self._wavelength_edited)
        self.distance_box.valueChanged.connect(self.distance_changed)
        self.detector_box.currentIndexChanged.connect(lambda _: self._detector_edited())
        self.pixel_h_box.valueChanged.connect(lambda _: self._detector_edited())
        self.pixel_v_box.valueChanged.connect(lambda _: self._detector_edited())
        self.calibrant_box.about_to_open.connect(self.refresh_calibrants)
        self.calibrant_box.currentIndexChanged.connect(lambda _: self._calibrant_edited())
        self.polarization_check.toggled.connect(lambda _: self.polarization_changed.emit())
        self.polarization_box.valueChanged.connect(lambda _: self.polarization_changed.emit())
        return box

    def _peak_selection(self) -> QGroupBox:
        box = QGroupBox("Peak selection")
        grid = QGridLayout(box)
        self.ring_mode = QRadioButton("Automatic ring search")
        self.peak_mode = QRadioButton("Single peak search")
        self.ring_mode.setChecked(True)
        self._modes = QButtonGroup(self)
        self._modes.addButton(self.ring_mode)
        self._modes.addButton(self.peak_mode)
        self.search_size_box = _spin(1, 200, 10, suffix=" px")
        self.ring_box = _spin(1, 999, 1)
        self.auto_increase_check = QCheckBox("Auto increase")
        self.auto_increase_check.setChecked(True)
        self.auto_increase_check.setToolTip("After each successful pick, go on to the next ring")
        self.picks_label = QLabel("No peaks picked: click on a ring of the image.")
        self.picks_label.setWordWrap(True)
        undo = QPushButton("Undo last group")
        undo.setToolTip("Remove the last group of picked peaks (Ctrl+Z)")
        clear = QPushButton("Clear all peaks")
        save = QPushButton("Save picks…")
        load = QPushButton("Load picks…")
        grid.addWidget(self.ring_mode, 0, 0, 1, 2)
        grid.addWidget(self.peak_mode, 1, 0, 1, 2)
        grid.addWidget(QLabel("Search size"), 2, 0)
        grid.addWidget(self.search_size_box, 2, 1)
        grid.addWidget(QLabel("Current ring"), 3, 0)
        ring_row = QHBoxLayout()
        ring_row.addWidget(self.ring_box)
        ring_row.addWidget(self.auto_increase_check)
        grid.addLayout(ring_row, 3, 1)
        grid.addWidget(undo, 4, 0)
        grid.addWidget(clear, 4, 1)
        grid.addWidget(save, 5, 0)
        grid.addWidget(load, 5, 1)
        grid.addWidget(self.picks_label, 6, 0, 1, 2)
        undo.clicked.connect(self.undo_clicked)
        clear.clicked.connect(self.clear_clicked)
        save.clicked.connect(self.save_picks_clicked)
        load.clicked.connect(self.load_picks_clicked)
        return box

    def _refinement_options(self) -> QGroupBox:
        box = QGroupBox("Refinement options")
        form = QFormLayout(box)
        self.auto_refine_check = QCheckBox("Automatic refinement")
        self.auto_refine_check.setToolTip("Search peaks on every ring after the first fit; off: fit the picks only")
        self.auto_refine_check.setChecked(True)
        self.use_mask_check = QCheckBox("Use mask")
        self.use_mask_check.setChecked(True)
        self.transparent_mask_check = QCheckBox("Transparent mask")
        self.transparent_mask_check.setChecked(True)
        self.massif_radio = QRadioButton("Massif")
        self.blob_radio = QRadioButton("Blob")
        self.massif_radio.setChecked(True)
        self._methods = QButtonGroup(self)
        self._methods.addButton(self.massif_radio)
        self._methods.addButton(self.blob_radio)
        self.delta_tth_box = _spin(0.001, 5.0, 0.1, 3, " °")
        self.min_snr_box = _spin(0.1, 1000.0, 3.0, 2)
        self.max_intensity_box = _spin(0.0, 1e12, 55000.0, 0, special="no limit")
        self.max_rings_box = _spin(0, 999, 0, special="all")
        mask_row = QHBoxLayout()
        mask_row.addWidget(self.use_mask_check)
        mask_row.addWidget(self.transparent_mask_check)
        method_row = QHBoxLayout()
        method_row.addWidget(self.massif_radio)
        method_row.addWidget(self.blob_radio)
        method_row.addStretch(1)
        form.addRow(self.auto_refine_check)
        form.addRow(mask_row)
        form.addRow("Peak search", method_row)
        form.addRow("Δ2θ", self.delta_tth_box)
        form.addRow("Intensity min factor", self.min_snr_box)
        form.addRow("Intensity max", self.max_intensity_box)
        form.addRow("Number of rings", self.max_rings_box)
        self.use_mask_check.toggled.connect(lambda _: self.mask_display_changed.emit())
        self.transparent_mask_check.toggled.connect(lambda _: self.mask_display_changed.emit())
        return box

    # -- start values ------------------------------------------------------------------------------
    def _energy_edited(self, kev: float) -> None:
        self.wavelength_box.blockSignals(True)
        self.wavelength_box.setValue(HC_KEV_A / kev)
        self.wavelength_box.blockSignals(False)
        self.energy_changed.emit(kev)

    def _wavelength_edited(self, angstrom: float) -> None:
        self.energy_box.blockSignals(True)
        self.energy_box.setValue(HC_KEV_A / angstrom)
        self.energy_box.blockSignals(False)
        self.wavelength_changed.emit(angstrom)

    def show_wavelength(self, metres: float) -> None:
        """Show a wavelength the session changed (a fit with the wavelength free, a loaded .poni)."""
        for box, value in ((self.wavelength_box, metres * 1e10), (self.energy_box, HC_KEV_A / (metres * 1e10))):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)

    def set_detector_choices(self, matching: list[str]) -> None:
        """Detectors of the image's size first, then the custom pixel size, then all the others."""
        current = self.detector_box.currentText()
        self.detector_box.blockSignals(True)
        self.detector_box.clear()
        others = [name for name in detector_names() if name not in matching]
        for name in matching:
            self.detector_box.addItem(name)
        if matching:
            self.detector_box.insertSeparator(self.detector_box.count())
        self.detector_box.addItem(CUSTOM_DETECTOR)
        self.detector_box.insertSeparator(self.detector_box.count())
        for name in others:
            self.detector_box.addItem(name)
        index = self.detector_box.findText(current) if current else -1
        self.detector_box.setCurrentIndex(index if index >= 0 else self.detector_box.findText(CUSTOM_DETECTOR))
        self.detector_box.blockSignals(False)
        self._update_pixel_boxes()

    def select_detector(self, name: str) -> None:
        """Show ``name`` (or the custom pixel size) as chosen, without re-emitting."""
        self.detector_box.blockSignals(True)
        self._drop_choose()
        index = self.detector_box.findText(name)
        self.detector_box.setCurrentIndex(index if index >= 0 else self.detector_box.findText(CUSTOM_DETECTOR))
        self.detector_box.blockSignals(False)
        self._update_pixel_boxes()

    def ask_detector(self) -> None:
        """Show that no detector is chosen (a shape several detectors share): the list opens on the
        candidates, and a custom pixel size is not silently assumed."""
        self.detector_box.blockSignals(True)
        if self.detector_box.findText(CHOOSE_DETECTOR) < 0:
            self.detector_box.insertItem(0, CHOOSE_DETECTOR)
        self.detector_box.setCurrentIndex(0)
        self.detector_box.blockSignals(False)
        self._update_pixel_boxes()

    def _drop_choose(self) -> None:
        index = self.detector_box.findText(CHOOSE_DETECTOR)
        if index >= 0:
            self.detector_box.removeItem(index)

    @property
    def has_detector(self) -> bool:
        """False while the placeholder asks the user to choose."""
        return self.detector_box.currentText() != CHOOSE_DETECTOR

    @property
    def detector_name(self) -> str | None:
        """The chosen pyFAI name, or None for a custom pixel size (or none chosen yet)."""
        text = self.detector_box.currentText()
        return None if text in (CUSTOM_DETECTOR, CHOOSE_DETECTOR) else text

    @property
    def pixel_um(self) -> tuple[float, float]:
        return self.pixel_v_box.value(), self.pixel_h_box.value()

    def _update_pixel_boxes(self) -> None:
        custom = self.detector_box.currentText() == CUSTOM_DETECTOR
        self.pixel_h_box.setEnabled(custom)
        self.pixel_v_box.setEnabled(custom)

    def _detector_edited(self) -> None:
        if not self.has_detector:
            return
        if self.detector_box.findText(CHOOSE_DETECTOR) >= 0:  # chosen now: the placeholder goes
            text = self.detector_box.currentText()
            self.detector_box.blockSignals(True)
            self._drop_choose()
            self.detector_box.setCurrentIndex(self.detector_box.findText(text))
            self.detector_box.blockSignals(False)
        self._update_pixel_boxes()
        if self.detector_name is None:
            self.pixel_size_chosen.emit(*self.pixel_um)
        else:
            self.detector_chosen.emit(self.detector_name)

    def refresh_calibrants(self) -> None:
        """List the bundled and user calibrants again, keeping the current choice."""
        current = self.calibrant_box.currentData()
        box = self.calibrant_box
        box.blockSignals(True)
        files = [box.itemData(i) for i in range(box.count()) if Path(str(box.itemData(i))).suffix.lower() == ".d"]
        box.clear()
        box.addItem("Choose the calibrant…")  # nothing chosen yet (no data: no calibrant)
        for name in list_calibrants():
            box.addItem(name, name)
        for path in files:
            box.addItem(Path(path).name, path)
        box.addItem("Other file…", _OTHER_FILE)
        index = box.findData(current) if current else 0
        box.setCurrentIndex(max(index, 0))
        box.blockSignals(False)

    def select_calibrant(self, name_or_path: str) -> None:
        """Show the calibrant as chosen (a file is added to the list), without re-emitting."""
        box = self.calibrant_box
        if box.findData(name_or_path) < 0:
            box.insertItem(box.count() - 1, Path(name_or_path).name, name_or_path)
        box.blockSignals(True)
        box.setCurrentIndex(box.findData(name_or_path))
        box.blockSignals(False)

    @property
    def calibrant(self) -> str:
        data = self.calibrant_box.currentData()
        return "" if data in (None, _OTHER_FILE) else str(data)

    def _calibrant_edited(self) -> None:
        data = self.calibrant_box.currentData()
        if data == _OTHER_FILE:
            self.calibrant_file_requested.emit()
        elif data:
            self.calibrant_chosen.emit(str(data))

    def polarization(self) -> float | None:
        return self.polarization_box.value() if self.polarization_check.isChecked() else None

    # -- picks -------------------------------------------------------------------------------------
    @property
    def pick_mode(self) -> str:
        return "ring" if self.ring_mode.isChecked() else "peak"

    @property
    def pick_method(self) -> str:
        return "massif" if self.massif_radio.isChecked() else "blob"

    @property
    def current_ring(self) -> int:
        """0-based ring index (the box shows it 1-based)."""
        return self.ring_box.value() - 1

    def show_peak_selection(self) -> None:
        """The Setup tab, scrolled to the peak selection (ring number, undo)."""
        self.tabs.setCurrentIndex(0)
        self.tabs.currentWidget().ensureWidgetVisible(self.ring_box)

    def picked(self) -> None:
        """A pick succeeded: go on to the next ring if the user asked for it."""
        if self.auto_increase_check.isChecked():
            self.ring_box.setValue(self.ring_box.value() + 1)

    def show_picks(self, groups: int, points: int, rings: list[int]) -> None:
        if not groups:
            self.picks_label.setText("No peaks picked: click on a ring of the image.")
        else:
            ring_text = ", ".join(str(r + 1) for r in rings)
            self.picks_label.setText(
                f"{points} peaks in {groups} group{'s' if groups > 1 else ''} on ring{'s' if len(rings) > 1 else ''} {ring_text}")

    # -- options -----------------------------------------------------------------------------------
    def refine_options(self) -> RefineOptions:
        extraction = ExtractionOptions(
            delta_tth_deg=self.delta_tth_box.value(),
            min_snr=self.min_snr_box.value(),
            max_intensity=self.max_intensity_box.value() or None,
            max_rings=self.max_rings_box.value() or None,
        )
        return RefineOptions(fix=self.parameters.fixed(), auto=self.auto_refine_check.isChecked(), extraction=extraction)

    # -- settings ----------------------------------------------------------------------------------
    def _settings_widgets(self) -> dict[str, QWidget]:
        return {
            "start/energy_kev": self.energy_box, "start/distance_mm": self.distance_box,
            "start/pixel_h_um": self.pixel_h_box, "start/pixel_v_um": self.pixel_v_box,
            "start/polarization": self.polarization_box, "start/polarization_on": self.polarization_check,
            "peaks/ring_mode": self.ring_mode, "peaks/single_peak": self.peak_mode,
            "peaks/search_size": self.search_size_box, "peaks/auto_increase": self.auto_increase_check,
            "options/auto": self.auto_refine_check, "options/use_mask": self.use_mask_check,
            "options/transparent_mask": self.transparent_mask_check, "options/massif": self.massif_radio,
            "options/blob": self.blob_radio, "options/delta_tth": self.delta_tth_box, "options/min_snr": self.min_snr_box,
            "options/max_intensity": self.max_intensity_box, "options/max_rings": self.max_rings_box,
        }

    def save_settings(self, settings: Settings) -> None:
        for key, widget in self._settings_widgets().items():
            settings.set(key, widget.isChecked() if isinstance(widget, (QCheckBox, QRadioButton)) else widget.value())
        if self.has_detector:  # an undecided choice keeps the last real one
            settings.set("start/detector", self.detector_box.currentText())
        settings.set("start/calibrant", self.calibrant)
        settings.set("options/fix", list(self.parameters.fixed()))

    def load_settings(self, settings: Settings) -> None:
        """Restore the widgets quietly; the window applies the start values to the session after."""
        for key, widget in self._settings_widgets().items():
            widget.blockSignals(True)
            if isinstance(widget, (QCheckBox, QRadioButton)):
                widget.setChecked(settings.get(key, widget.isChecked()))
            else:
                widget.setValue(settings.get(key, widget.value()))
            widget.blockSignals(False)
        self.show_wavelength(HC_KEV_A / self.energy_box.value() * 1e-10)
        self.select_detector(settings.get("start/detector", CUSTOM_DETECTOR))
        calibrant = settings.get("start/calibrant", "")
        if calibrant:
            self.select_calibrant(calibrant)
        fixed = settings.get("options/fix", list(self.parameters.fixed()))
        self.parameters.set_fixed(fixed)
