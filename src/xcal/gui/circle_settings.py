"""The circle dialog's "Calibration settings": how the circle is found, and what turns it into a geometry.

Three modes, as in MuscleX: the ring found on the calibration image automatically, points clicked
on it, or no image at all (wavelength, distance and pixel size give the ring's radius). The ring's
d-spacing comes from a calibrant's ring or is typed in Å or nm; the pixel size from a pyFAI
detector that fits the image, or is typed for a generic detector of the image's shape. The detector
shown says where it comes from (:mod:`~xcal.core.geometry.detector_guess`): a shape several detectors share
is never decided silently, the user chooses among its candidates. A fixed centre keeps the user's
beam centre and fits the radius only. Everything persists between runs.
"""

from __future__ import annotations

from pyFAI.detectors import Detector
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSpinBox,
    QWidget,
)

from ..core.errors import XcalError
from ..core.geometry.detector_guess import DetectorGuess
from ..core.geometry.detectors import detector_names, make_detector
from ..core.io.calibrants import list_calibrants, load_calibrant
from .settings import Settings
from .worker import describe_exception

IMAGE, POINTS, PARAMETERS = "image", "points", "parameters"
MODES = {IMAGE: "By calibration image (automatic)", POINTS: "By point selection", PARAMETERS: "By parameters (no image fit)"}
GENERIC = "Pixel size (image shape)"
CHOOSE = "Choose the detector…"  # shown while a shape several detectors share is undecided
CUSTOM_D = "d-spacing"
UNITS = {"Å": 1.0, "nm": 10.0}  # Å per unit
AGBH_D1_A = 58.38  # silver behenate, first order


def _spin(low: float, high: float, value: float, decimals: int, suffix: str = "") -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(decimals)
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin


def _shared(guess: DetectorGuess) -> str:
    """The short form of an ambiguous guess (the note's tooltip lists the candidates)."""
    sizes = [pixel for _, pixel in guess.candidates]
    return f"{len(sizes)} detectors have this shape ({min(sizes):.4g} to {max(sizes):.4g} µm pixels)"


class CircleSettingsBox(QGroupBox):
    """Mode, ring spacing, wavelength, detector, distance and fixed centre, with their stored values.

    ``fit_changed``: the circle must be found again (mode, fixed centre); ``scale_changed``: only the
    numbers derived from it change; ``notice``: a message for the user (a detector that does not fit).
    """

    fit_changed = pyqtSignal()
    scale_changed = pyqtSignal()
    notice = pyqtSignal(str)

    def __init__(self, shape: tuple[int, int], parent: QWidget | None = None) -> None:
        super().__init__("Calibration settings", parent)
        self.shape = shape
        self.guess: DetectorGuess | None = None
        form = QFormLayout(self)
        self.mode_buttons = QButtonGroup(self)
        for key, text in MODES.items():
            button = QRadioButton(text)
            button.setObjectName(key)
            self.mode_buttons.addButton(button)
            form.addRow(button)
        self.mode_buttons.buttons()[0].setChecked(True)

        self.calibrant_box = QComboBox()
        self.calibrant_box.addItem(CUSTOM_D)
        self.calibrant_box.addItems(list_calibrants())
        self.calibrant_box.setCurrentText("AgBh")
        self.ring_box = QSpinBox()
        self.ring_box.setRange(1, 999)
        self.d_box = _spin(0.001, 100000.0, AGBH_D1_A, 5)
        self.unit_box = QComboBox()
        self.unit_box.addItems(list(UNITS))
        self.wavelength_box = _spin(0.001, 20.0, 1.0, 5, " Å")
        self.detector_box = QComboBox()
        self.detector_note = QLabel()
        self.detector_note.setWordWrap(True)
        self.detector_note.setMinimumHeight(2 * self.detector_note.fontMetrics().lineSpacing() + 6)  # two lines, whole
        self.detector_box.addItem(GENERIC)
        self.detector_box.addItems(detector_names())
        self.pixel_box = _spin(1.0, 10000.0, 100.0, 3, " µm")
        self.distance_box = _spin(1.0, 100000.0, 1000.0, 3, " mm")
        self.distance_label = QLabel("Distance")
        self.fixed_check = QCheckBox("Fixed centre (fit the radius only)")
        self.fixed_check.setToolTip("Keep the beam centre entered below (x, y in pixels) and fit the ring's radius only")
        self.centre_x_box = _spin(-10 * shape[1], 11 * shape[1], shape[1] / 2, 3)
        self.centre_y_box = _spin(-10 * shape[0], 11 * shape[0], shape[0] / 2, 3)

        ring_row = QHBoxLayout()
        ring_row.addWidget(self.calibrant_box, 1)
        ring_row.addWidget(QLabel("ring"))
        ring_row.addWidget(self.ring_box)
        d_row = QHBoxLayout()
        d_row.addWidget(self.d_box, 1)
        d_row.addWidget(self.unit_box)
        centre_row = QHBoxLayout()
        for text, spin in (("x", self.centre_x_box), ("y", self.centre_y_box)):
            centre_row.addWidget(QLabel(text))
            centre_row.addWidget(spin, 1)
        form.addRow("Calibrant", ring_row)
        form.addRow("d-spacing", d_row)
        form.addRow("Wavelength", self.wavelength_box)
        form.addRow("Detector", self.detector_box)
        form.addRow(self.detector_note)
        form.addRow("Pixel size", self.pixel_box)
        form.addRow(self.distance_label, self.distance_box)
        form.addRow(self.fixed_check)
        form.addRow("Centre", centre_row)

        self.mode_buttons.buttonToggled.connect(lambda _, on: on and self._fit_setting_changed())
        self.calibrant_box.currentIndexChanged.connect(lambda _: self._ring_chosen())
        self.ring_box.valueChanged.connect(lambda _: self._ring_chosen())
        self.unit_box.currentTextChanged.connect(self._unit_changed)
        self.detector_box.currentTextChanged.connect(lambda _: self._detector_chosen())
        for spin in (self.d_box, self.wavelength_box, self.pixel_box, self.distance_box):
            spin.valueChanged.connect(lambda _: self.scale_changed.emit())
        self.fixed_check.toggled.connect(lambda _: self._fit_setting_changed())
        self.centre_x_box.valueChanged.connect(lambda _: self._centre_changed())
        self.centre_y_box.valueChanged.connect(lambda _: self._centre_changed())
        self._unit = self.unit_box.currentText()
        self._update_enabled()

    # -- values ---------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.mode_buttons.checkedButton().objectName()

    def set_mode(self, mode: str) -> None:
        """Choose a mode (``fit_changed`` follows)."""
        next(b for b in self.mode_buttons.buttons() if b.objectName() == mode).setChecked(True)

    @property
    def d_spacing_A(self) -> float:
        return self.d_box.value() * UNITS[self.unit_box.currentText()]

    @property
    def wavelength_m(self) -> float:
        return self.wavelength_box.value() * 1e-10

    @property
    def pixel_m(self) -> float:
        return self.pixel_box.value() * 1e-6

    @property
    def distance_m(self) -> float:
        return self.distance_box.value() * 1e-3

    @property
    def detector_name(self) -> str | None:
        """The chosen pyFAI detector, or None for a generic detector of the image's shape (or none chosen yet)."""
        text = self.detector_box.currentText()
        return None if text in (GENERIC, CHOOSE) else text

    @property
    def detector_chosen(self) -> bool:
        """False while the user still has to choose among the detectors of the image's shape."""
        return self.detector_box.currentText() != CHOOSE

    @property
    def fixed_centre(self) -> tuple[float, float] | None:
        """(row, col) pyFAI indices of the centre to keep (always in the parameters mode), from x, y (Fit2D)."""
        if not (self.fixed_check.isChecked() or self.mode == PARAMETERS):
            return None
        return self.centre_y_box.value() - 0.5, self.centre_x_box.value() - 0.5

    def show_centre(self, row: float, col: float) -> None:
        """Put a fitted centre into the x, y boxes quietly (a start for a fixed centre)."""
        for spin, value in ((self.centre_x_box, col + 0.5), (self.centre_y_box, row + 0.5)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)

    def set_wavelength(self, metres: float) -> None:
        self.wavelength_box.setValue(metres * 1e10)

    def show_guess(self, guess: DetectorGuess) -> None:
        """List the detectors of the image's shape first (pixel size as tooltip); the guess explains the choice."""
        self.guess = guess
        self.detector_box.blockSignals(True)
        current = self.detector_box.currentText()
        self.detector_box.clear()
        names = guess.candidate_names
        self.detector_box.addItems(names + [GENERIC] + [n for n in detector_names() if n not in names])
        for i, (_, pixel) in enumerate(guess.candidates):
            self.detector_box.setItemData(i, f"{pixel:.4g} µm pixels at this image size", Qt.ToolTipRole)
        self.detector_box.setCurrentText(current)
        self.detector_box.blockSignals(False)

    def set_detector(self, detector: Detector) -> None:
        """Start from the session's detector: a named one, or a generic one's pixel size."""
        if type(detector) is Detector:
            self.detector_box.setCurrentText(GENERIC)
            self.pixel_box.setValue(float(detector.pixel1) * 1e6)
        else:
            self.detector_box.setCurrentText(type(detector).__name__)
        guessed = self.guess is not None and self.guess.name is not None and self.detector_name == self.guess.name
        self._note("the main window's detector" + (f": {self.guess.basis}" if guessed else " (Setup)"))

    def apply_guess(self) -> None:
        """The session has no detector: take the guess, or, on a shape several detectors share, the user's
        last choice if it is one of them (said), else ask the user to choose."""
        guess = self.guess
        if guess is None:
            return
        if guess.name is not None:
            self.detector_box.setCurrentText(guess.name)
            self._note(guess.basis)
        elif guess.pixel_um is not None:
            self.detector_box.setCurrentText(GENERIC)
            self.pixel_box.setValue(float(guess.pixel_um[0]))
            self._note(guess.basis)
        elif self.detector_name in guess.candidate_names:
            self._note(f"your last choice; {_shared(guess)}", warning=True)
        elif guess.candidates:
            self.detector_box.blockSignals(True)
            self.detector_box.insertItem(0, CHOOSE)
            self.detector_box.setCurrentIndex(0)
            self.detector_box.blockSignals(False)
            self._update_enabled()
            self._note(f"Ambiguous: {_shared(guess)}, listed first. Choose yours: it sets the distance.", warning=True)
        else:
            self._note(guess.basis, warning=True)

    def _choice_note(self) -> None:
        """The user's choice, next to what the image says."""
        guess = self.guess
        if guess is not None and guess.name is not None and guess.name == self.detector_name:
            self._note(guess.basis)
        elif guess is not None and guess.decided:
            self._note(f"your choice; the image suggests {guess.describe()}")
        elif guess is not None and guess.candidates:
            self._note(f"your choice; {_shared(guess)}")
        else:
            self._note("your choice")

    def _note(self, text: str, warning: bool = False) -> None:
        """Why this detector (the whole guess in the tooltip: its candidates with their pixel sizes)."""
        self.detector_note.setText(text[:1].upper() + text[1:])
        self.detector_note.setToolTip(self.guess.describe() if self.guess is not None else "")
        self.detector_note.setStyleSheet("color:#664d03; background:#fff3cd; padding:2px;" if warning else "color:#555;")

    # -- reactions ------------------------------------------------------------------------------
    def _fit_setting_changed(self) -> None:
        self._update_enabled()
        self.fit_changed.emit()

    def _centre_changed(self) -> None:
        if self.fixed_centre is not None:  # otherwise the boxes only show the fitted centre
            self.fit_changed.emit()

    def _update_enabled(self) -> None:
        parameters = self.mode == PARAMETERS
        self.distance_label.setVisible(parameters)
        self.distance_box.setVisible(parameters)
        self.fixed_check.setEnabled(not parameters)
        for spin in (self.centre_x_box, self.centre_y_box):
            spin.setEnabled(self.fixed_centre is not None)
        self.pixel_box.setEnabled(self.detector_name is None and self.detector_chosen)

    def _ring_chosen(self) -> None:
        name = self.calibrant_box.currentText()
        if name == CUSTOM_D:
            return
        try:
            dspacing = load_calibrant(name).dspacing
        except Exception as exc:  # noqa: BLE001 - a bad calibrant file is a message, not a crash
            self.notice.emit(describe_exception(exc))
            return
        index = self.ring_box.value() - 1
        if index >= len(dspacing):
            self.notice.emit(f"{name} has {len(dspacing)} rings: there is no ring {index + 1}.")
            return
        self.d_box.setValue(float(dspacing[index]) / UNITS[self.unit_box.currentText()])

    def _unit_changed(self, unit: str) -> None:
        """Keep the spacing, show it in the new unit."""
        angstrom = self.d_box.value() * UNITS[self._unit]
        self._unit = unit
        self.d_box.setValue(angstrom / UNITS[unit])

    def _detector_chosen(self) -> None:
        """A named detector gives the pixel size if it fits the image; otherwise the image's shape is kept."""
        choose = self.detector_box.findText(CHOOSE)
        if choose >= 0 and self.detector_chosen:  # the user chose: the placeholder goes
            self.detector_box.blockSignals(True)
            self.detector_box.removeItem(choose)
            self.detector_box.blockSignals(False)
        self._choice_note()
        name = self.detector_name
        if name is not None:
            try:
                detector = self._named_detector(name)
            except XcalError as exc:
                self.notice.emit(f"{exc} Using a detector of the image's shape with the pixel size below instead.")
                self.detector_box.setCurrentText(GENERIC)
                return
            self.pixel_box.setValue(float(detector.pixel1) * 1e6)
        self._update_enabled()
        self.scale_changed.emit()

    def _named_detector(self, name: str) -> Detector:
        """The detector, if it fits the image as shown or turned by 90° (the view may be rotated)."""
        try:
            return make_detector(name, shape=self.shape)
        except XcalError:
            return make_detector(name, shape=self.shape[::-1])

    # -- persistence ----------------------------------------------------------------------------
    def save(self, settings: Settings) -> None:
        settings.set("circle/mode", self.mode)
        settings.set("circle/calibrant", self.calibrant_box.currentText())
        settings.set("circle/ring", self.ring_box.value())
        settings.set("circle/d_unit", self.unit_box.currentText())
        settings.set("circle/d_spacing_A", self.d_spacing_A)
        settings.set("circle/wavelength_A", self.wavelength_box.value())
        if self.detector_chosen:
            settings.set("circle/detector", self.detector_box.currentText())
        settings.set("circle/pixel_um", self.pixel_box.value())
        settings.set("circle/distance_mm", self.distance_box.value())
        settings.set("circle/fixed_centre", self.fixed_check.isChecked())
        settings.set("circle/centre_x", self.centre_x_box.value())
        settings.set("circle/centre_y", self.centre_y_box.value())

    def load(self, settings: Settings) -> None:
        """Restore the stored values quietly (the dialog fits once afterwards)."""
        self.blockSignals(True)
        try:
            mode = settings.get("circle/mode", self.mode)
            self.set_mode(mode if mode in MODES else self.mode)
            self.calibrant_box.setCurrentText(settings.get("circle/calibrant", self.calibrant_box.currentText()))
            self.ring_box.setValue(settings.get("circle/ring", self.ring_box.value()))
            self.unit_box.setCurrentText(settings.get("circle/d_unit", self.unit_box.currentText()))
            unit = UNITS[self.unit_box.currentText()]
            self.d_box.setValue(settings.get("circle/d_spacing_A", self.d_spacing_A) / unit)
            self.wavelength_box.setValue(settings.get("circle/wavelength_A", self.wavelength_box.value()))
            self.pixel_box.setValue(settings.get("circle/pixel_um", self.pixel_box.value()))
            self.detector_box.setCurrentText(settings.get("circle/detector", self.detector_box.currentText()))
            self.distance_box.setValue(settings.get("circle/distance_mm", self.distance_box.value()))
            self.centre_x_box.setValue(settings.get("circle/centre_x", self.centre_x_box.value()))
            self.centre_y_box.setValue(settings.get("circle/centre_y", self.centre_y_box.value()))
            self.fixed_check.setChecked(settings.get("circle/fixed_centre", self.fixed_check.isChecked()))
        finally:
            self.blockSignals(False)
        self._update_enabled()
