"""Integration mode: sample images (a series, frames) integrated with the session's calibration.

Every slow step (loading, integrating, saving, the batch) runs in the window's runner; a newer
frame or setting replaces a request that has not started. The look-up tables for a new geometry
are built in the background as soon as the mode opens, so the first frame does not wait for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PyQt5.QtCore import QObject
from PyQt5.QtWidgets import QFileDialog

from ..core.beamtime.batch import BatchReport, BatchRunner, expand_sources
from ..core.beamtime.sample import (
    Integrated,
    SampleFrame,
    batch_recipe,
    integrate_sample,
    line_positions,
    save_sample_pattern,
    static_mask,
    working_corrections,
    working_sample,
)
from ..core.errors import XcalError
from ..core.integration.corrections import Corrections
from ..core.integration.formats import CAKE_FORMATS, PATTERN_FORMATS
from ..core.integration.integrator import UNITS, IntegrationSettings, Integrator
from ..core.integration.outputs import check_format_unit, write_cake
from ..core.io.calibrants import load_calibrant
from ..core.io.images import image_files_in_folder, load_image, split_hdf5_source
from ..core.progress import Task
from .image_view import position_text
from .views import ring_contours
from .worker import describe_exception

if TYPE_CHECKING:
    from ..core.calibration.session import CalibrationSession
    from .integration_panel import IntegrationPanel
    from .integration_view import IntegrationView
    from .shell import Shell
    from .worker import Runner

_EMPTY = np.empty(0)


@dataclass(eq=False)
class Shown:
    """What one integration request produced for the views."""

    integrated: Integrated
    pattern_lines: np.ndarray
    cake_lines: np.ndarray
    ring_x: np.ndarray
    ring_y: np.ndarray


class IntegrationController(QObject):
    """Wires the integration panel and views to the session's calibration."""

    def __init__(self, shell: Shell, session: CalibrationSession, runner: Runner, panel: IntegrationPanel,
                 view: IntegrationView, load_poni: Callable[[], None]) -> None:
        super().__init__(panel)
        self.shell, self.session, self.runner, self.panel, self.view = shell, session, runner, panel, view
        self.integrator = Integrator(sparse=True)
        self.active = False
        self.sample: SampleFrame | None = None
        self.shown: Shown | None = None
        self.corrections = Corrections()  # raw frame, as read from the files
        self.phase: np.ndarray | None = None  # d-spacings of the phase whose lines are shown
        self._geometry = None  # the geometry the tables were prepared for
        p = self.panel
        p.open_clicked.connect(self.open_dialog)
        p.step_clicked.connect(self.step_file)
        p.frame_chosen.connect(lambda frame: self.sample and self.load(self.sample.image.source, frame))
        p.load_poni_clicked.connect(load_poni)
        p.settings_changed.connect(self.settings_changed)
        p.overlay_changed.connect(self._overlay_changed)
        p.phase_file_clicked.connect(self._choose_phase_file)
        p.save_pattern_clicked.connect(self.save_pattern)
        p.save_cake_clicked.connect(self.save_cake)
        p.batch_clicked.connect(self.start_batch)
        p.batch_folder.browse.connect(lambda: self._choose_folder(p.batch_folder, "Folder of images to integrate"))
        p.batch_folder.cleared.connect(lambda: p.batch_folder.set_path(""))
        p.batch_output.browse.connect(lambda: self._choose_folder(p.batch_output, "Folder for the results"))
        p.batch_output.cleared.connect(lambda: p.batch_output.set_path(""))
        for kind, picker in p.pickers.items():
            picker.browse.connect(lambda kind=kind: self._choose_correction(kind))
            picker.cleared.connect(lambda kind=kind: self._set_correction(kind, None))
        self.view.pattern.unit_changed.connect(lambda _: self.settings_changed())
        self.view.image.cursor_moved.connect(self._image_cursor)
        self.runner.busy_changed.connect(lambda busy: busy or self._check_geometry())

    # -- mode and geometry ---------------------------------------------------------------------------
    def set_active(self, active: bool) -> None:
        """The window shows integration mode (or leaves it)."""
        self.active = active
        if active:
            self._check_geometry()

    def _check_geometry(self) -> None:
        """After a new calibration: prepare the look-up tables now, and integrate the sample again."""
        geometry = self.session.geometry
        if not self.active or geometry is self._geometry:
            return
        self._geometry = geometry
        self.panel.calibration_label.setText(self._calibration_text())
        self.view.wavelength = geometry.wavelength if geometry is not None else None
        if geometry is None:
            return
        if self.sample is not None:  # read again: a turned calibration image turns the sample too
            self.load(self.sample.image.source, self.sample.image.frame)
        elif self.session.raw is not None:
            settings = self._settings()
            shape = self.session.data.shape
            if settings is not None:
                self.runner.submit("Preparing the integrator", lambda task: self.integrator.prepare(
                    geometry, static_mask(self.session, shape), shape, settings), blocking=False, kind="prepare")

    def _calibration_text(self) -> str:
        geometry = self.session.geometry
        if geometry is None:
            return "No calibration yet: calibrate, or load a .poni file."
        label = self.session.history[-1].label
        wavelength = f", λ {geometry.wavelength * 1e10:.5f} Å" if geometry.wavelength else ", no wavelength"
        return f"Geometry ({label}): distance {geometry.dist * 1e3:.2f} mm{wavelength}"

    def _settings(self) -> IntegrationSettings | None:
        try:
            return self.panel.settings(self.view.pattern.unit)
        except XcalError as exc:
            self.shell.show_message(str(exc))
            return None

    def settings_changed(self) -> None:
        if self.sample is not None:
            self.integrate()

    # -- sample images ---------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.shell, "Load a sample image", self.shell.last_folder(), "All files (*)")
        if path:
            self.shell.remember_folder(path)
            self.load(path)

    def step_file(self, step: int) -> None:
        """Previous/next image file of the sample's folder."""
        if self.sample is None:
            return
        path = Path(split_hdf5_source(self.sample.image.source)[0])
        try:
            files = image_files_in_folder(path)
        except OSError as exc:
            self.shell.show_message(f"Cannot list the folder {path.parent}: {exc}")
            return
        index = files.index(path) + step if path in files else -1
        if 0 <= index < len(files):
            self.load(str(files[index]))
        else:
            self.shell.statusBar().showMessage("No previous file." if step < 0 else "No next file.", 3000)

    def load(self, source: str, frame: int = 0) -> None:
        """Load a sample frame and integrate it (a newer request replaces one not started)."""
        settings = self._settings()
        if settings is None:
            return

        def job(task: Task) -> Shown:
            sample = working_sample(self.session, load_image(source, frame))
            return self._compute(sample, settings)

        name = Path(split_hdf5_source(source)[0]).name
        self.view.show_computing(self.runner.submit(f"Integrating {name}", job, self._show, blocking=False,
                                                    kind="integration"))

    def integrate(self) -> None:
        """Integrate the current sample again (new settings, corrections or calibration)."""
        settings, sample = self._settings(), self.sample
        if settings is None or sample is None:
            return
        self.view.show_computing(self.runner.submit("Integrating", lambda task: self._compute(sample, settings), self._show,
                                                    blocking=False, kind="integration"))

    def _compute(self, sample: SampleFrame, settings: IntegrationSettings) -> Shown:
        """In the worker: pattern, cake and the lines to draw on them and on the image."""
        corrections = working_corrections(self.corrections, self.session.transform)
        integrated = integrate_sample(self.session, sample, self.integrator, settings, corrections)
        dspacing = self._line_dspacing()
        geometry = integrated.geometry
        pattern_lines = line_positions(dspacing, geometry, settings.unit)
        cake_lines = line_positions(dspacing, geometry, settings.cake_unit)
        tth = line_positions(dspacing, geometry, "2th_deg")
        ring_x, ring_y = ring_contours(geometry, sample.data.shape, np.radians(tth)) if tth.size else (_EMPTY, _EMPTY)
        return Shown(integrated, pattern_lines, cake_lines, ring_x, ring_y)

    def _show(self, shown: Shown) -> None:
        sample = shown.integrated.sample
        self.sample, self.shown = sample, shown
        self.view.image.set_image(sample.data, sample.invalid, reset_view=False)
        self.view.image.set_rings(shown.ring_x, shown.ring_y)
        self.view.cake.set_cake(shown.integrated.cake, shown.cake_lines)
        self.view.cake.plot.setLabel("bottom", UNITS[shown.integrated.cake.unit])
        self.view.pattern.set_pattern(shown.integrated.pattern, shown.pattern_lines)
        image = sample.image
        self.panel.sample_label.setText(image.name)
        self.panel.set_frames(image.frame, image.nframes)

    def _image_cursor(self, x: float, y: float) -> None:
        geometry = self.shown.integrated.geometry if self.shown is not None else None
        self.view.readout.setText(position_text(x, y, self.view.image.value_at(x, y), geometry))

    # -- lines ---------------------------------------------------------------------------------------
    def _line_dspacing(self) -> np.ndarray | None:
        overlay = self.panel.overlay
        if overlay == "calibrant":
            return self.session.dspacing
        if overlay == "phase":
            return self.phase
        return None

    def _overlay_changed(self) -> None:
        if self.panel.overlay == "phase":
            name = self.panel.phase_box.currentText()
            if not self._set_phase(name):
                return
        self.integrate()

    def _set_phase(self, name_or_path: str) -> bool:
        try:
            self.phase = np.asarray(load_calibrant(name_or_path).dspacing, dtype=float)
        except Exception as exc:  # noqa: BLE001 - XcalError, or a bug shown as "Unexpected error"
            self.shell.show_message(describe_exception(exc))
            return False
        return True

    def _choose_phase_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.shell, "d-spacing file of a phase", self.shell.last_folder(),
                                              "d-spacing files (*.D *.d *.dat *.txt);;All files (*)")
        if path and self._set_phase(path):
            self.panel.overlay_box.setCurrentIndex(self.panel.overlay_box.findData("phase"))
            self.integrate()

    # -- corrections -----------------------------------------------------------------------------------
    def _choose_correction(self, kind: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self.shell, f"{kind.capitalize()} image", self.shell.last_folder(),
                                              "All files (*)")
        if path:
            self._set_correction(kind, path)

    def _set_correction(self, kind: str, path: str | None) -> None:
        """Read a dark/flat/background image (None removes it), then integrate again."""
        current = {k: self.panel.pickers[k].path or None for k in self.panel.pickers}
        current[kind] = path
        scale = self.panel.background_scale.value()
        shape = self.session.raw.shape if self.session.raw is not None else None

        def job(task: Task) -> Corrections:
            return Corrections.load(current["dark"], current["flat"], current["background"], scale, shape)

        def done(corrections: Corrections) -> None:
            self.corrections = corrections
            self.panel.pickers[kind].set_path(path or "")
            self.integrate()

        self.runner.submit(f"Reading the {kind} image", job, done, blocking=False)

    # -- saving ------------------------------------------------------------------------------------------
    def _save_path(self, title: str, formats: tuple[str, ...], default: str) -> str:
        if self.sample is None:
            self.shell.show_message("Load a sample image first.")
            return ""
        stem = Path(split_hdf5_source(self.sample.image.source)[0]).stem
        suggestion = str(Path(self.shell.last_folder()) / f"{stem}.{default}")
        filters = f"{title} ({' '.join('*.' + f for f in formats)});;All files (*)"
        path, _ = QFileDialog.getSaveFileName(self.shell, title, suggestion, filters)
        if path and Path(path).suffix.lower().lstrip(".") not in formats:
            path += f".{default}"
        if path:
            self.shell.remember_folder(path)
        return path

    def save_pattern(self) -> None:
        """Save the pattern shown (with Poisson errors for .dat/.fxye) and a header of its settings."""
        path = self._save_path("Save pattern", PATTERN_FORMATS, "xy")
        settings, sample = self._settings(), self.sample
        if not path or settings is None:
            return
        corrections = self.corrections

        def job(task: Task) -> None:
            save_sample_pattern(path, self.session, sample, self.integrator, settings, corrections)

        self.runner.submit("Saving the pattern", job,
                           lambda _: self.shell.show_message(f"Pattern saved to {path}.", "info"), blocking=False)

    def save_cake(self) -> None:
        path = self._save_path("Save cake", CAKE_FORMATS, "tif")
        if not path or self.shown is None:
            return
        cake, lines, title = self.shown.integrated.cake, self.shown.cake_lines, self.sample.image.name
        self.runner.submit("Saving the cake", lambda task: write_cake(path, cake, lines, title),
                           lambda _: self.shell.show_message(f"Cake saved to {path}.", "info"), blocking=False)

    # -- batch -------------------------------------------------------------------------------------------
    def _choose_folder(self, picker, title: str) -> None:
        path = QFileDialog.getExistingDirectory(self.shell, title, picker.path or self.shell.last_folder())
        if path:
            picker.set_path(path)

    def start_batch(self) -> None:
        """Integrate every image of the chosen folder with this calibration (progress and Cancel below)."""
        p = self.panel
        folder = p.batch_folder.path
        settings = self._settings()
        if settings is None:
            return
        if not folder:
            self.shell.show_message("Choose the folder of images to integrate.")
            return
        output = p.batch_output.path or str(Path(folder) / "integrated")
        formats = p.batch_formats
        if not formats and not p.batch_cake_box.isChecked():
            self.shell.show_message("Choose at least one output format.")
            return
        try:
            for fmt in formats:
                check_format_unit(fmt, settings.unit, f"The .{fmt} format")
            recipe = batch_recipe(self.session, settings, output, formats, ("tif",) if p.batch_cake_box.isChecked() else (),
                                  self.corrections, p.overwrite_box.isChecked())
        except XcalError as exc:
            self.shell.show_message(str(exc))
            return
        pattern, workers = p.batch_glob.text().strip() or "*", p.workers_box.value()

        def job(task: Task) -> BatchReport:
            items, failed = expand_sources([folder], pattern)
            with BatchRunner(recipe, workers) as runner:
                report = runner.run(items, task)
            report.results += failed
            return report

        p.batch_summary.setPlainText(f"Integrating {folder} ({pattern}) into {output}…")
        self.runner.submit(f"Integrating {Path(folder).name}", job, self._batch_done, blocking=False)

    def _batch_done(self, report: BatchReport) -> None:
        summary = report.summary()
        self.panel.batch_summary.setPlainText(summary)
        level = "error" if report.failed else "info"
        self.shell.show_message(summary.splitlines()[0] + (" See the batch summary for the files that failed."
                                                           if report.failed else ""), level)
