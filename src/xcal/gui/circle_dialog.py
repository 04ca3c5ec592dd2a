"""Calibration of an untilted detector from one ring's circle (SAXS, fibre): the MuscleX workflow, made robust.

Three ways to the circle (see :mod:`.circle_settings`): the ring found on the image automatically
(a click chooses another ring; if none is found, point selection takes over and says why), points
clicked on the ring (a first click on the image centres a magnified view there, a second click in
the magnified view adds the point precisely; clicking a marker removes it; "Refine on image" moves
the clicks onto the ring's intensity maximum, so the answer does not depend on careful clicking),
or no fit at all (the ring's radius from wavelength, distance and pixel size). The wheel over the
magnified view changes its field (kept between runs). The untilted geometry (beam centre, distance
from the ring's d-spacing) is handed back on Done.

View coordinates follow :mod:`.image_view`: point (row, col) is drawn at (col + 0.5, row + 0.5).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from pyFAI.detectors import Detector
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.circle.fit import CircleFit
from ..core.circle.geometry import distance_from_radius, ring_radius_px
from ..core.circle.image import CircleOutcome, find_ring, fit_clicks, fit_traced
from ..core.errors import PickError
from ..core.geometry.conics import Circle
from ..core.geometry.detector_guess import DetectorGuess, guess_detector
from .circle_panes import ImagePane
from .circle_results import CircleResultsBox
from .circle_settings import IMAGE, PARAMETERS, POINTS, CircleSettingsBox
from .levels_control import auto_levels
from .settings import Settings
from .worker import describe_exception

ZOOM_PX = 64.0  # side of the magnified area at first, image pixels
ZOOM_RANGE_PX = (8.0, 1024.0)  # the wheel keeps the magnified area's side within these
ZOOM_STEP = 1.25  # per wheel notch: forwards magnifies (a smaller area), backwards shows more
HIT_SCREEN_PX = 7.0  # a click this close to a marker (screen pixels) removes it
MIN_POINTS_FIT = 3
MIN_POINTS_DONE = 5
HELP = {
    IMAGE: "The ring is found on the image and fitted automatically. Click another ring to use it instead.",
    POINTS: "Click on the ring in the image, then click the ring precisely in the magnified view to add a point. "
            "Click a marker to remove it. The wheel over the magnified view magnifies more or less.",
    PARAMETERS: "No fit: the ring of the chosen d-spacing is drawn where the wavelength, distance, pixel size and "
                "centre put it. Check that it lies on the ring.",
}


def compute_circle(
    data: np.ndarray,
    invalid: np.ndarray | None,
    rows: np.ndarray,
    cols: np.ndarray,
    fixed_centre: tuple[float, float] | None = None,
    refine: bool = True,
    trace: bool = False,
) -> CircleOutcome:
    """The clicks' circle: fitted as clicked, or moved onto the ring first (``refine``); with ``trace``,
    the circle through points traced all along the ring, if there is a ring along the clicks' circle
    (if not, the clicks' fit is kept and says so by its source). Raises PickError with the user's message."""
    outcome = fit_clicks(data if refine else None, invalid, rows, cols, fixed_centre)
    if trace:
        with contextlib.suppress(PickError):
            outcome = fit_traced(data, invalid, outcome.fit.circle, fixed_centre)
    return outcome


class CircleDialog(QDialog):
    """One ring's circle (found, clicked or computed) → beam centre and distance."""

    def __init__(
        self,
        data: np.ndarray,
        invalid: np.ndarray | None,
        wavelength_m: float | None = None,
        detector: Detector | None = None,
        runner=None,
        parent: QWidget | None = None,
        settings: Settings | None = None,
        detector_guess: DetectorGuess | None = None,
    ) -> None:
        """``wavelength_m`` and ``detector`` (the session's) override the stored settings; without a
        detector, ``detector_guess`` (by default from the image's shape) proposes one, or the candidates."""
        super().__init__(parent)
        self.setWindowTitle("Calibration from one ring's circle")
        self.data, self.invalid, self.runner, self.settings = data, invalid, runner, settings
        self.rows: list[float] = []  # the clicks, pyFAI (row, col) indices
        self.cols: list[float] = []
        self.outcome: CircleOutcome | None = None
        self.computed: Circle | None = None  # the circle of the parameters mode
        self.ring_click: tuple[float, float] | None = None  # the click choosing a ring in the image mode
        self._generation = 0
        self._zoom_locked = False
        self.zoom_px = ZOOM_PX
        self._zoom_centre = (data.shape[1] / 2, data.shape[0] / 2)

        self.main_pane = ImagePane(zoom=False)
        self.zoom_pane = ImagePane(zoom=True)
        self.zoom_pane.setFixedSize(300, 300)
        self.zoom_box_item = pg.PlotCurveItem(pen=pg.mkPen("#ffd000", width=1))
        self.zoom_box_item.setZValue(10)
        self.main_pane.view.addItem(self.zoom_box_item)
        levels = auto_levels(data, invalid)
        for pane in (self.main_pane, self.zoom_pane):
            pane.image_item.setImage(data, autoLevels=False, levels=levels)
        self.main_pane.view.autoRange(padding=0.01)
        self.settings_box = CircleSettingsBox(data.shape)
        self.settings_box.show_guess(detector_guess or guess_detector(data.shape))
        self.results_box = CircleResultsBox()
        self.export_button = self.results_box.export_button
        self._build_layout()

        self.main_pane.clicked.connect(self._main_clicked)
        self.zoom_pane.clicked.connect(self._zoom_clicked)
        self.zoom_pane.wheeled.connect(self._zoom_wheeled)
        self.main_pane.scene().sigMouseMoved.connect(self._hover)
        self.refit_button.clicked.connect(self.refit)
        self.reset_button.clicked.connect(self.reset)
        self.find_button.clicked.connect(self.find_again)
        self.done_button.clicked.connect(self.accept)
        self.cancel_button.clicked.connect(self.reject)
        self.export_button.clicked.connect(self.export_csv)
        self.finished.connect(lambda _: self.save_settings())

        self.settings_box.notice.connect(lambda message: self.show_error(message, "info"))
        if settings is not None:
            self.settings_box.load(settings)
            self.refine_check.setChecked(settings.get("circle/refine", True))
            self.trace_check.setChecked(settings.get("circle/trace", False))
            self.zoom_px = float(np.clip(settings.get("circle/zoom_px", ZOOM_PX), *ZOOM_RANGE_PX))
        self._set_zoom(*self._zoom_centre)
        if wavelength_m:
            self.settings_box.set_wavelength(wavelength_m)
        if detector is not None:
            self.settings_box.set_detector(detector)
        else:
            self.settings_box.apply_guess()
        # the session's detector as the dialog shows it (None: the session has none)
        self._detector_shown = None if detector is None else (self.detector_name, self.settings_box.pixel_box.value())
        self.settings_box.fit_changed.connect(self._settings_changed)
        self.settings_box.scale_changed.connect(self._scale_changed)
        self.refine_check.toggled.connect(lambda _: self.refit())
        self.trace_check.toggled.connect(lambda _: self.refit())
        self._mode = self.settings_box.mode
        self._show_mode()
        self.resize(1500, 920)
        self.refit()

    # -- construction --------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        left = QVBoxLayout()
        self.help_label = QLabel()
        self.help_label.setWordWrap(True)
        left.addWidget(self.help_label)
        left.addWidget(self.main_pane, 1)

        middle = QVBoxLayout()
        self.zoom_label = QLabel()
        self.zoom_label.setToolTip("Turn the mouse wheel over the magnified view to magnify more or less")
        middle.addWidget(self.zoom_label)
        middle.addWidget(self.zoom_pane, 0, Qt.AlignHCenter)
        self.find_button = QPushButton("Find the ring again")
        self.find_button.setToolTip("Forget the ring clicked and find the innermost clear ring on the image")
        middle.addWidget(self.find_button)
        middle.addWidget(self._points_box())
        middle.addStretch(1)

        right = QVBoxLayout()
        right.addWidget(self.settings_box)
        right.addWidget(self.results_box, 1)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.message_label.hide()
        right.addWidget(self.message_label)
        self.done_button = QPushButton("Done")
        self.done_button.setToolTip("Use the centre and distance as the calibration")
        self.cancel_button = QPushButton("Cancel")
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.done_button)
        right.addLayout(row)

        layout = QHBoxLayout(self)
        layout.addLayout(left, 3)
        middle_widget = QWidget()
        middle_widget.setLayout(middle)
        middle_widget.setFixedWidth(320)
        layout.addWidget(middle_widget)
        layout.addLayout(right, 2)

    def _points_box(self) -> QGroupBox:
        self.points_box = QGroupBox("Points")
        layout = QVBoxLayout(self.points_box)
        self.points_label = QLabel()
        layout.addWidget(self.points_label)
        self.refine_check = QCheckBox("Refine on image")
        self.refine_check.setChecked(True)
        self.refine_check.setToolTip("Move each click onto the ring's intensity maximum before fitting")
        self.trace_check = QCheckBox("Trace the whole ring")
        self.trace_check.setToolTip("Fit points found all along the ring near the fitted circle (runs in the background)")
        layout.addWidget(self.refine_check)
        layout.addWidget(self.trace_check)
        self.refit_button = QPushButton("Refit")
        self.reset_button = QPushButton("Reset")
        row = QHBoxLayout()
        row.addWidget(self.refit_button)
        row.addWidget(self.reset_button)
        layout.addLayout(row)
        return self.points_box

    # -- settings -----------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.settings_box.mode

    @property
    def d_spacing_A(self) -> float:
        return self.settings_box.d_spacing_A

    @property
    def wavelength_m(self) -> float:
        return self.settings_box.wavelength_m

    @property
    def pixel_m(self) -> float:
        return self.settings_box.pixel_m

    @property
    def detector_name(self) -> str | None:
        return self.settings_box.detector_name

    @property
    def detector_changed(self) -> bool:
        """Whether Done must give the session the dialog's detector: it had none, or the user chose another
        (a session detector the list lacks, shown as its pixel size, is kept unless the user changes it)."""
        shown = (self.detector_name, self.settings_box.pixel_box.value())
        return self._detector_shown is None or shown != self._detector_shown

    def save_settings(self) -> None:
        if self.settings is None:
            return
        self.settings_box.save(self.settings)
        self.settings.set("circle/refine", self.refine_check.isChecked())
        self.settings.set("circle/trace", self.trace_check.isChecked())
        self.settings.set("circle/zoom_px", self.zoom_px)

    def _settings_changed(self) -> None:
        if self.mode != self._mode:
            self._mode = self.mode
            self.ring_click = None
            self._show_mode()
        self.refit()

    def _scale_changed(self) -> None:
        """The spacing, wavelength, pixel size or distance changed: only the parameters mode's circle moves."""
        if self.mode == PARAMETERS:
            self.refit()
        else:
            self._show_results()

    def _show_mode(self) -> None:
        self.help_label.setText(HELP[self.mode])
        self.points_box.setEnabled(self.mode == POINTS)
        self.find_button.setVisible(self.mode == IMAGE)
        for pane in (self.main_pane, self.zoom_pane):
            pane.markers_item.setVisible(self.mode == POINTS)

    # -- mouse --------------------------------------------------------------------------------------
    def _hover(self, scene_pos) -> None:
        view = self.main_pane.view
        if not self._zoom_locked and view.sceneBoundingRect().contains(scene_pos):
            pos = view.mapSceneToView(scene_pos)
            self._set_zoom(pos.x(), pos.y())

    def _set_zoom(self, x: float, y: float) -> None:
        self._zoom_centre = (x, y)
        h = self.zoom_px / 2
        self.zoom_pane.view.setRange(xRange=(x - h, x + h), yRange=(y - h, y + h), padding=0)
        self.zoom_box_item.setData([x - h, x + h, x + h, x - h, x - h], [y - h, y - h, y + h, y + h, y - h])
        self.zoom_label.setText(f"Magnified {self.zoom_px:.0f} × {self.zoom_px:.0f} px")

    def _zoom_wheeled(self, notches: float) -> None:
        """The wheel over the magnified view: forwards magnifies (a smaller area), backwards shows more,
        about the same centre."""
        self.zoom_px = float(np.clip(self.zoom_px * ZOOM_STEP ** -notches, *ZOOM_RANGE_PX))
        self._set_zoom(*self._zoom_centre)

    def _marker_at(self, pane: ImagePane, x: float, y: float) -> int | None:
        best, best_d = None, HIT_SCREEN_PX
        for i, (r, c) in enumerate(zip(self.rows, self.cols)):
            d = pane.screen_distance(c + 0.5, r + 0.5, x, y)
            if d <= best_d:
                best, best_d = i, d
        return best

    def _main_clicked(self, x: float, y: float) -> None:
        """Image mode: choose the ring clicked. Points mode: a click on a marker removes it; elsewhere it
        centres the magnified view there."""
        if self.mode == IMAGE:
            self.choose_ring(y - 0.5, x - 0.5)
            return
        index = self._marker_at(self.main_pane, x, y) if self.mode == POINTS else None
        if index is not None:
            self.remove_point(index)
            return
        self._set_zoom(x, y)
        self._zoom_locked = self.mode == POINTS

    def _zoom_clicked(self, x: float, y: float) -> None:
        """Image mode: choose the ring clicked. Points mode: a click on a marker removes it; elsewhere it adds a point."""
        if self.mode == IMAGE:
            self.choose_ring(y - 0.5, x - 0.5)
            return
        if self.mode != POINTS:
            return
        index = self._marker_at(self.zoom_pane, x, y)
        if index is not None:
            self.remove_point(index)
            return
        self.add_point(y - 0.5, x - 0.5)
        self._zoom_locked = False

    # -- points -------------------------------------------------------------------------------------
    def add_point(self, row: float, col: float) -> None:
        self.rows.append(float(row))
        self.cols.append(float(col))
        self.refit()

    def remove_point(self, index: int) -> None:
        del self.rows[index]
        del self.cols[index]
        self.refit()

    def reset(self) -> None:
        self.rows.clear()
        self.cols.clear()
        self.refit()

    def choose_ring(self, row: float, col: float) -> None:
        """Image mode: use the ring through (row, col) instead of the one found."""
        self.ring_click = (row, col)
        self.refit()

    def find_again(self) -> None:
        self.ring_click = None
        self.refit()

    # -- fit ----------------------------------------------------------------------------------------
    def refit(self) -> None:
        """Find the circle the mode asks for: at once, or in the runner when the image is searched."""
        self._generation += 1
        self._draw_points()
        self.outcome, self.computed = None, None
        if self.mode == PARAMETERS:
            self._compute_from_parameters()
            return
        if self.mode == POINTS and len(self.rows) < MIN_POINTS_FIT:
            self._show_results()
            if self.rows:
                self.show_error(f"{len(self.rows)} point(s): click at least {MIN_POINTS_FIT} points on the ring "
                                f"({MIN_POINTS_DONE} or more to reject wrong clicks).", "info")
            else:
                self.clear_error()
            return
        fixed = self.settings_box.fixed_centre
        if self.mode == IMAGE:
            click = self.ring_click
            job, label = (lambda: find_ring(self.data, self.invalid, click, fixed)), "Finding the ring"
        else:
            args = (self.data, self.invalid, np.array(self.rows), np.array(self.cols), fixed,
                    self.refine_check.isChecked(), self.trace_check.isChecked())
            job, label = (lambda: compute_circle(*args)), "Tracing the ring"
        self._run(label, job, background=self.mode == IMAGE or self.trace_check.isChecked())

    def _run(self, label: str, job: Callable[[], CircleOutcome], background: bool) -> None:
        generation = self._generation
        if background and self.runner is not None:
            self._show_results()
            self.show_error(f"{label}…", "info")
            self.runner.submit(label, lambda task: job(), lambda outcome: self._fitted(generation, outcome),
                               on_failed=lambda message: self._failed(generation, message), blocking=False,
                               kind="circle fit")
            return
        try:
            outcome = job()
        except Exception as exc:  # noqa: BLE001 - PickError/FitError are messages; a bug too, never a traceback box
            self._failed(generation, describe_exception(exc))
        else:
            self._fitted(generation, outcome)

    def _compute_from_parameters(self) -> None:
        """The ring's circle about the given centre, its radius from the spacing, wavelength, distance and pixel."""
        box = self.settings_box
        try:
            radius = ring_radius_px(box.d_spacing_A, box.distance_m, box.wavelength_m, box.pixel_m)
        except Exception as exc:  # noqa: BLE001 - a spacing out of reach is a message
            self._failed(self._generation, describe_exception(exc))
            return
        self.computed = Circle(*box.fixed_centre, float(radius))
        self.clear_error()
        self._show_results()

    def _fitted(self, generation: int, outcome: CircleOutcome) -> None:
        if generation != self._generation:
            return  # the points or settings changed meanwhile: a newer fit is on its way
        self.outcome = outcome
        self.clear_error()
        if self.mode == POINTS and self.trace_check.isChecked() and outcome.source != "traced ring":
            self.show_error("No ring could be traced along the fitted circle: the fit uses the clicks.", "info")
        if self.settings_box.fixed_centre is None:
            self.settings_box.show_centre(outcome.fit.row, outcome.fit.col)  # the start of a fixed centre
        self._show_results()

    def _failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.outcome = None
        if self.mode == IMAGE:  # the user's clicks take over, and are told why
            self.settings_box.set_mode(POINTS)
            message = f"{message} Switched to point selection."
        self._show_results()
        self.show_error(message)

    def show_error(self, message: str, level: str = "error") -> None:
        style = ("background:#f8d7da; color:#58151c; border:1px solid #f1aeb5;" if level == "error"
                 else "background:#cfe2ff; color:#052c65; border:1px solid #9ec5fe;")
        self.message_label.setStyleSheet(style + " border-radius:4px; padding:4px;")
        self.message_label.setText(message)
        self.message_label.show()

    def clear_error(self) -> None:
        self.message_label.clear()
        self.message_label.hide()

    @property
    def message(self) -> str:
        return "" if self.message_label.isHidden() else self.message_label.text()

    # -- display ------------------------------------------------------------------------------------
    def _draw_points(self) -> None:
        x, y = np.array(self.cols) + 0.5, np.array(self.rows) + 0.5
        for pane in (self.main_pane, self.zoom_pane):
            pane.markers_item.setData(x, y)
        n = len(self.rows)
        self.points_label.setText(f"{n} point{'s' if n != 1 else ''}" + ("" if n >= MIN_POINTS_DONE
                                  else f" (Done needs {MIN_POINTS_DONE})"))

    def _show_results(self) -> None:
        outcome, circle = self.outcome, self.circle
        for pane in (self.main_pane, self.zoom_pane):
            pane.show_circle(circle)
            if outcome is None:
                pane.show_points([], [], False, None)
            else:
                pane.show_points(outcome.rows, outcome.cols, outcome.source != "clicks", ~outcome.fit.inliers)
        distance = scale = ""
        if circle is not None and not self.settings_box.detector_chosen:
            distance = "choose the detector first"
        elif circle is not None:
            try:
                d_m = self.settings_box.distance_m if self.mode == PARAMETERS else distance_from_radius(
                    circle.radius, self.d_spacing_A, self.wavelength_m, self.pixel_m)
            except Exception as exc:  # noqa: BLE001 - a spacing out of reach is shown where the distance would be
                distance = describe_exception(exc)
            else:
                distance = f"{d_m * 1e3:.3f} mm" + (" (given)" if self.mode == PARAMETERS else "")
                scale = f"{self.wavelength_m * 1e10 * d_m / self.pixel_m:.1f} Å·px"
        self.results_box.show_result(circle, outcome, distance, scale)
        self.done_button.setEnabled(self.ready)

    @property
    def circle(self) -> Circle | None:
        """The circle Done hands back: fitted (image, points) or computed (parameters)."""
        if self.mode == PARAMETERS:
            return self.computed
        return None if self.outcome is None else self.outcome.fit.circle

    @property
    def fit(self) -> CircleFit | None:
        return None if self.outcome is None else self.outcome.fit

    @property
    def ready(self) -> bool:
        return (self.circle is not None and self.settings_box.detector_chosen
                and (self.mode != POINTS or len(self.rows) >= MIN_POINTS_DONE))

    # -- results ------------------------------------------------------------------------------------
    def export_csv(self) -> None:
        if self.outcome is None:
            self.show_error("There is no fit to export yet.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export circle fit", "circle_fit.csv", "CSV files (*.csv);;All files (*)")
        if not path:
            return
        try:
            self.outcome.fit.to_csv(path)
        except Exception as exc:  # noqa: BLE001
            self.show_error(describe_exception(exc))
        else:
            self.show_error(f"Fit history saved to {path}.", "info")

    def accept(self) -> None:
        if not self.settings_box.detector_chosen:
            self.show_error("Choose the detector under Calibration settings: its pixel size sets the distance.")
            return
        if not self.ready:
            self.show_error(f"Click at least {MIN_POINTS_DONE} points on the ring and get a fit first." if self.mode == POINTS
                            else "There is no circle yet: see the message above, or change the settings.")
            return
        super().accept()
