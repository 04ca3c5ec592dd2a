"""The main window: mode selector, image/cake/pattern tabs, the mode panels, files and settings.

The window owns the one :class:`CalibrationSession` every mode shares, and the runner that
executes slow calls off the UI thread. Loading, previous/next, HDF5 datasets, frames and image
orientation live here; the calibration workflow lives in :mod:`.calibration_controller`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from PyQt5.QtCore import QByteArray, Qt
from PyQt5.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PyQt5.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QShortcut,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core.calibration.session import CalibrationSession
from ..core.geometry.detectors import suggest_detectors
from ..core.geometry.transforms import ImageTransform
from ..core.io.images import HDF5_EXTENSIONS, Image, hdf5_datasets, image_files_in_folder, split_hdf5_source
from .calibration_controller import CalibrationController
from .calibration_panel import CalibrationPanel
from .diagnostics_view import DiagnosticsView
from .example import EXAMPLE, make_example
from .image_toolbar import ImageToolbar
from .image_view import ImageView, position_text
from .integration_controller import IntegrationController
from .integration_panel import IntegrationPanel
from .integration_view import IntegrationView
from .mask_controller import MaskController
from .mask_panel import MaskPanel
from .messages import MessageBar
from .plot_views import CakeView, PatternView
from .settings import Settings
from .shell import CalibrationViews
from .worker import Runner

MODES = ("Calibration", "Mask", "Integration")


class MainWindow(QMainWindow):
    """xcal's window. ``settings`` defaults to the user's; tests pass a temporary one."""

    def __init__(self, settings: Settings | None = None, session: CalibrationSession | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.session = session or CalibrationSession()
        self.runner = Runner(self)
        self.source: str | None = None  # what the current image was loaded from
        self.setWindowTitle("xcal")
        self.setAcceptDrops(True)
        self.resize(1500, 950)

        self.toolbar = ImageToolbar(self)
        self.addToolBar(self.toolbar)
        self.image_view = ImageView()
        self.cake_view = CakeView()
        self.pattern_view = PatternView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.image_view, "Image")
        self.tabs.addTab(self.cake_view, "Cake")
        self.tabs.addTab(self.pattern_view, "Pattern")
        self.diagnostics_view = DiagnosticsView()
        self.tabs.addTab(self.diagnostics_view, "Diagnostics")
        self.messages = MessageBar()
        self.cursor_label = QLabel(" ")
        self.cursor_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.addWidget(self.messages)
        self.integration_view = IntegrationView()  # integration mode: image, cake and pattern side by side
        self.centre_views = QStackedWidget()
        self.centre_views.addWidget(self.tabs)
        self.centre_views.addWidget(self.integration_view)
        centre_layout.addWidget(self.centre_views, 1)
        centre_layout.addWidget(self.cursor_label)

        self.modes = QListWidget()
        self.modes.addItems(MODES)
        self.modes.setFixedWidth(120)
        self.modes.setStyleSheet("QListWidget::item { padding: 8px 4px; }")
        self.panel = CalibrationPanel()
        self.mode_panels = QStackedWidget()
        self.mode_panels.addWidget(self.panel)
        self.mask_panel = MaskPanel()
        self.mode_panels.addWidget(self.mask_panel)
        self.integration_panel = IntegrationPanel()
        self.mode_panels.addWidget(self.integration_panel)
        self.mode_panels.setMinimumWidth(400)
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self.modes)
        splitter.addWidget(centre)
        splitter.addWidget(self.mode_panels)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(1, False)
        splitter.setSizes([120, 920, 460])
        self.splitter = splitter
        self.setCentralWidget(splitter)

        self.progress_label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setRange(0, 1000)
        self.cancel_button = QPushButton("Cancel")
        status = self.statusBar()
        for widget in (self.progress_label, self.progress_bar, self.cancel_button):
            status.addPermanentWidget(widget)
        self._show_busy(False)

        views = CalibrationViews(self.image_view, self.cake_view, self.pattern_view, self.diagnostics_view, self.tabs)
        self.calibration = CalibrationController(self, self.session, self.runner, self.panel, views,
                                                 self.in_calibration_mode)
        self.masking = MaskController(self, self.session, self.runner, self.mask_panel, views,
                                      self.calibration.request_views)
        self.integration = IntegrationController(self, self.session, self.runner, self.integration_panel,
                                                 self.integration_view, self.calibration.load_poni)
        self._connect()
        self._load_settings()

    def _connect(self) -> None:
        self.modes.currentRowChanged.connect(self.mode_panels.setCurrentIndex)
        self.modes.currentRowChanged.connect(self._mode_changed)
        self.toolbar.open_requested.connect(self.open_dialog)
        self.toolbar.recent_chosen.connect(self.open_source)
        self.toolbar.step_requested.connect(self.step_file)
        self.toolbar.frame_changed.connect(self._frame_changed)
        self.toolbar.transform_requested.connect(self.transform)
        self.image_view.cursor_moved.connect(self._cursor_moved)
        self.image_view.cursor_left.connect(lambda: self.cursor_label.setText(" "))
        for view in (self.cake_view, self.pattern_view):  # the read-out in 2θ, d, q (and χ) over the plots
            view.cursor_moved.connect(lambda x, y, view=view: self.cursor_label.setText(
                view.position_text(x, y, self.session.geometry.wavelength if self.session.geometry else None)))
            view.cursor_left.connect(lambda: self.cursor_label.setText(" "))
        self.cancel_button.clicked.connect(self.runner.cancel)
        self.runner.submitted.connect(self._job_submitted)
        self.runner.progress.connect(self._job_progress)
        self.runner.busy_changed.connect(self._show_busy)
        self.runner.blocking_changed.connect(self._set_blocked)
        self.runner.failed.connect(lambda _label, message: self.show_message(message))
        self.runner.cancelled.connect(lambda label: self.show_message(f"{label}: cancelled.", "info"))
        # Dioptas' keys; Ctrl+Z lives on each mode's panel (picks in Calibration, mask steps in Mask)
        QShortcut(QKeySequence.Open, self, activated=self._open_shortcut)
        QShortcut(QKeySequence.Save, self, activated=self.calibration.save_poni)
        self.toolbar.open_action.setToolTip(self.toolbar.open_action.toolTip() + " (Ctrl+O)")

    # -- messages and progress ---------------------------------------------------------------------
    def show_message(self, text: str, level: str = "error") -> None:
        self.messages.show_message(text, level)

    def _job_submitted(self, label: str) -> None:
        self.progress_label.setText(label + "…")
        self.progress_bar.setRange(0, 0)  # busy indicator until the job reports progress

    def _job_progress(self, label: str, fraction: float, message: str) -> None:
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(int(fraction * 1000))
        self.progress_label.setText(f"{label}: {message}" if message else label)

    def _show_busy(self, busy: bool) -> None:
        for widget in (self.progress_label, self.progress_bar, self.cancel_button):
            widget.setVisible(busy)

    def _set_blocked(self, blocked: bool) -> None:
        """While a job changes the session, its inputs are frozen (clicks on the image are refused)."""
        for index in range(self.panel.tabs.count()):
            self.panel.tabs.widget(index).setEnabled(not blocked)
        for button in (self.panel.auto_button, self.panel.calibrate_button, self.panel.refine_button, self.panel.save_poni_button,
                       self.panel.load_poni_button, self.panel.circle_button, self.panel.verdict.revert_button):
            button.setEnabled(not blocked)
        self.toolbar.setEnabled(not blocked)
        self.mask_panel.setEnabled(not blocked)

    def _cursor_moved(self, x: float, y: float) -> None:
        self.cursor_label.setText(position_text(x, y, self.image_view.value_at(x, y), self.session.geometry))

    def in_calibration_mode(self) -> bool:
        return self.mode_panels.currentWidget() is self.panel

    def _mode_changed(self) -> None:
        """Mask mode draws on the image and shows the user's mask; the other modes show every excluded pixel."""
        self.masking.set_active(self.mode_panels.currentWidget() is self.mask_panel)
        if self.masking.active:
            self.tabs.setCurrentWidget(self.image_view)  # the only view the mask tools draw on
        else:
            self.calibration.show_mask()
        if not self.in_calibration_mode():
            self.messages.clear_state()  # "3 rings picked — press Calibrate" is the Calibration mode's
        integrating = self.mode_panels.currentWidget() is self.integration_panel
        self.centre_views.setCurrentWidget(self.integration_view if integrating else self.tabs)
        self.toolbar.setVisible(not integrating)  # it acts on the calibration image; the panel has its own
        self.integration.set_active(integrating)

    # -- files -------------------------------------------------------------------------------------
    def last_folder(self) -> str:
        return self.settings.get("files/last_folder", str(Path.home()))

    def remember_folder(self, path: str) -> None:
        self.settings.set("files/last_folder", str(Path(split_hdf5_source(path)[0]).parent))

    def ask_save_path(self, title: str, suffix: str, filters: str) -> str:
        """A file name from the save dialog, with ``suffix`` added if missing ('' if cancelled)."""
        default = Path(self.last_folder())
        if self.session.raw is not None:
            default = default / (Path(split_hdf5_source(self.session.raw.source)[0]).stem + suffix)
        path, _ = QFileDialog.getSaveFileName(self, title, str(default), filters)
        if not path:
            return ""
        if not path.lower().endswith(suffix):
            path += suffix
        self.remember_folder(path)
        return path

    def _open_shortcut(self) -> None:
        """Ctrl+O opens the image of the mode shown: a sample in Integration mode, else the calibration image."""
        if self.mode_panels.currentWidget() is self.integration_panel:
            self.integration.open_dialog()
        else:
            self.open_dialog()

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load image", self.last_folder(), "All files (*)")
        if path:
            self.open_source(path)

    def open_source(self, source: str, frame: int = 0) -> None:
        """Open a file; for an HDF5 file without a dataset, let the user choose among its images."""
        path, dataset = split_hdf5_source(source)
        if dataset is None and Path(path).suffix.lower().lstrip(".") in HDF5_EXTENSIONS:
            self.runner.submit(f"Reading {Path(path).name}", lambda task: hdf5_datasets(path),
                               lambda found: self._choose_dataset(path, found, frame))
        else:
            self.load(source, frame)

    def _choose_dataset(self, path: str, found: list[tuple[str, tuple[int, ...], str]], frame: int) -> None:
        images = [(name, shape, dtype) for name, shape, dtype in found if len(shape) in (2, 3)]
        if len(images) <= 1:  # one image (or none: loading says why)
            self.load(f"{path}::{images[0][0]}" if images else path, frame)
            return
        items = [f"{name}   ({' x '.join(map(str, shape))}, {dtype})" for name, shape, dtype in images]
        choice, ok = QInputDialog.getItem(self, "Choose a dataset", f"Image datasets in {Path(path).name}:", items, 0, False)
        if ok and choice in items:
            self.load(f"{path}::{images[items.index(choice)][0]}", frame)

    def load(self, source: str, frame: int = 0, then: Callable[[], None] | None = None) -> None:
        """Load in the worker, then call ``then``; a newer load (next frame, next file) replaces a pending one."""
        name = Path(split_hdf5_source(source)[0]).name

        def job(task) -> tuple[Image, list[str]]:
            image = self.session.load_image(source, frame)
            return image, suggest_detectors(image.shape)

        def done(result: tuple[Image, list[str]]) -> None:
            self._loaded(result)
            if then is not None:
                then()

        self.runner.submit(f"Loading {name}", job, done, kind="load")

    def _loaded(self, result: tuple[Image, list[str]]) -> None:
        image, matching = result
        self.source = image.source
        self.image_view.set_image(self.session.data, self.session.invalid, reset_view=False)
        self.toolbar.set_image_state(image.source, image.frame, image.nframes)
        self.toolbar.set_transform_text(self.session.transform.describe())
        self.toolbar.set_recent(self.settings.add_recent(image.source))
        self.remember_folder(image.source)
        self.setWindowTitle(f"xcal — {image.name}")
        self.statusBar().showMessage(f"Loaded {image.name}: {image.shape[1]} x {image.shape[0]} px.", 5000)
        if self.messages.level == "error":
            self.messages.clear()
        self.calibration.image_loaded(matching)
        self.masking.image_changed()

    def _frame_changed(self, frame: int) -> None:
        if self.source is not None:
            self.load(self.source, frame)

    def step_file(self, step: int) -> None:
        """Previous/next image file of the current image's folder."""
        if self.source is None:
            return
        path = Path(split_hdf5_source(self.source)[0])
        try:
            files = image_files_in_folder(path)
        except OSError as exc:
            self.show_message(f"Cannot list the folder {path.parent}: {exc}")
            return
        if path not in files:
            return
        index = files.index(path) + step
        if 0 <= index < len(files):
            self.open_source(str(files[index]))
        else:
            self.statusBar().showMessage("No previous file." if step < 0 else "No next file.", 3000)

    def open_example(self) -> None:
        """Make the synthetic example image, load it and fill in its start values."""
        folder = Path(tempfile.gettempdir()) / "xcal-example"
        self.runner.submit("Making the example image", lambda task: make_example(folder), self._example_made)

    def _example_made(self, path: Path) -> None:
        panel = self.panel
        panel.energy_box.setValue(EXAMPLE.energy_kev)
        panel.distance_box.setValue(EXAMPLE.distance_mm)
        panel.select_detector(EXAMPLE.detector)
        self.calibration.set_calibrant(EXAMPLE.calibrant)
        panel.ring_box.setValue(1)
        text = (f"Example: {EXAMPLE.calibrant} on a {EXAMPLE.detector} at {EXAMPLE.energy_kev:g} keV. "
                "Click on the innermost ring, then press Calibrate.")
        # after the notes of the load (the detector's), until the first pick
        self.load(str(path), then=lambda: self.messages.show_message(text, "info", timeout_ms=None))

    # -- orientation -------------------------------------------------------------------------------
    def transform(self, op: str) -> None:
        new = ImageTransform() if op == "reset" else self.session.transform.then(op)
        self.runner.submit("Turning the image", lambda task: self.session.set_transform(new), lambda _: self._transformed())

    def _transformed(self) -> None:
        self.image_view.set_image(self.session.data, self.session.invalid, reset_view=True)
        self.toolbar.set_transform_text(self.session.transform.describe())
        self.calibration.show_picks()
        self.calibration.show_mask()
        self.calibration.geometry_changed()
        self.masking.image_changed()

    # -- drag and drop -----------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt naming
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt naming
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_source(files[0])

    # -- settings and closing ----------------------------------------------------------------------
    def _load_settings(self) -> None:
        s = self.settings
        self.restoreGeometry(s.get("window/geometry", QByteArray()))
        self.restoreState(s.get("window/state", QByteArray()))
        splitter = s.get("window/splitter", QByteArray())
        if not splitter.isEmpty():
            self.splitter.restoreState(splitter)
        self.panel.load_settings(s)
        self.integration_panel.load_settings(s)
        self.mask_panel.load_settings(s)
        self.image_view.contrast.load_settings(s, "view/image")
        self.cake_view.contrast.load_settings(s, "view/cake")
        self.integration_view.load_settings(s)
        self.modes.setCurrentRow(s.get("window/mode", 0))
        self.toolbar.set_recent(s.recent_files())
        self.calibration.apply_start_values()

    def save_settings(self) -> None:
        s = self.settings
        s.set("window/geometry", self.saveGeometry())
        s.set("window/state", self.saveState())
        s.set("window/splitter", self.splitter.saveState())
        s.set("window/mode", max(self.modes.currentRow(), 0))
        self.image_view.contrast.save_settings(s, "view/image")
        self.cake_view.contrast.save_settings(s, "view/cake")
        self.integration_view.save_settings(s)
        self.panel.save_settings(s)
        self.integration_panel.save_settings(s)
        self.mask_panel.save_settings(s)
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        if self.calibration.unsaved:
            answer = QMessageBox.question(
                self, "Unsaved calibration", "The calibration has not been saved. Save it before quitting?",
                QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
            if answer == QMessageBox.Cancel or (answer == QMessageBox.Save and not self.calibration.save_poni()):
                event.ignore()
                return
        self.runner.cancel()
        self.runner.wait()
        self.save_settings()
        event.accept()
