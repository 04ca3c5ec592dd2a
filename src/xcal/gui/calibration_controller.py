"""Calibration mode: turns each panel action into one ``CalibrationSession`` call and shows the result.

Slow calls (detector change, picking, Calibrate/Refine, loading a .poni, the cake/pattern/ring
views) go through the window's :class:`~xcal.gui.worker.Runner`; quick ones (calibrant, energy,
hand edits, undo) run directly. Any refused input becomes a message; nothing in the session is
lost by a failure (the engine keeps picks and geometry when it raises).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from pyFAI.detectors import Detector
from pyFAI.geometry import Geometry
from PyQt5.QtCore import QObject, Qt
from PyQt5.QtWidgets import QFileDialog, QMessageBox

from ..core.calibration.cake_pick import pick_on_cake
from ..core.calibration.picks import PickSet
from ..core.calibration.pipeline import CalibrationResult
from ..core.calibration.report import report_inputs, write_report
from ..core.circle.geometry import geometry_from_circle
from ..core.errors import XcalError
from ..core.geometry.detector_guess import guess_detector
from ..core.geometry.refinement import FitResult, geometry_values
from ..core.io.dioptas_files import save_session_for_dioptas
from ..core.io.poni import from_fit2d
from .calibration_panel import CUSTOM_DETECTOR
from .circle_dialog import CircleDialog
from .image_view import ring_color
from .verdict_banner import MESSAGE_LEVELS, verdict_lines
from .views import Views, compute_views
from .worker import Job, describe_exception

if TYPE_CHECKING:
    from ..core.calibration.session import CalibrationSession
    from .calibration_panel import CalibrationPanel
    from .shell import CalibrationViews, Shell
    from .worker import Runner

_GEOMETRY_KEYS = ("dist", "poni1", "poni2", "rot1", "rot2", "rot3")


def detector_label(detector: Detector | None) -> str:
    """The detector combo entry for a session detector (generic ones are a custom pixel size)."""
    return CUSTOM_DETECTOR if detector is None or type(detector) is Detector else type(detector).__name__


class CalibrationController(QObject):
    """Wires the calibration panel, the image view and the plots to the session."""

    def __init__(self, shell: Shell, session: CalibrationSession, runner: Runner, panel: CalibrationPanel,
                 views: CalibrationViews, in_calibration_mode: Callable[[], bool]) -> None:
        super().__init__(panel)
        self.shell, self.session, self.runner, self.panel, self.ui = shell, session, runner, panel, views
        self.in_calibration_mode = in_calibration_mode  # picks are taken in Calibration mode only
        self.saved_geometry = None  # the geometry last saved or loaded: no warning on quit for it
        self._calibrant_source = ""
        self._pick_job: Job | None = None
        self.circle_dialog: CircleDialog | None = None
        p = self.panel
        p.energy_changed.connect(lambda kev: self._try(lambda: self.session.set_energy(kev)))
        p.wavelength_changed.connect(self._set_wavelength)
        p.distance_changed.connect(self._set_distance)
        p.detector_chosen.connect(lambda name: self.set_detector(name=name))
        p.pixel_size_chosen.connect(lambda v, h: self.set_detector(pixel_um=(v, h)))
        p.calibrant_chosen.connect(self.set_calibrant)
        p.calibrant_file_requested.connect(self._choose_calibrant_file)
        p.polarization_changed.connect(self.request_views)
        p.mask_display_changed.connect(self.show_mask)
        p.undo_clicked.connect(self.undo_pick)
        p.clear_clicked.connect(self.clear_picks)
        p.save_picks_clicked.connect(self.save_picks)
        p.load_picks_clicked.connect(self.load_picks)
        p.calibrate_clicked.connect(lambda: self.fit("calibrate"))
        p.auto_clicked.connect(self.auto_calibrate)
        self.ui.diagnostics_view.report_requested.connect(self.save_report)
        p.refine_clicked.connect(lambda: self.fit("refine"))
        p.verdict.revert_clicked.connect(lambda: self.fit("revert"))
        p.save_poni_clicked.connect(self.save_poni)
        p.save_dioptas_clicked.connect(self.save_for_dioptas)
        p.load_poni_clicked.connect(self.load_poni)
        p.circle_dialog_clicked.connect(self.open_circle_dialog)
        p.parameters.pyfai_edited.connect(lambda name, value: self._edit({name: value}))
        p.parameters.fit2d_edited.connect(self._edit_fit2d)
        p.parameters.restore_requested.connect(self._restore)
        p.pick_more_clicked.connect(self.pick_more)
        views.image_view.pixel_clicked.connect(self.pick)
        views.pattern_view.unit_changed.connect(lambda _: self.request_views())
        self.views: Views | None = None
        self.views_geometry: Geometry | None = None  # the geometry the cake shown was made with
        self.cake_picks = pg.ScatterPlotItem(size=5, pen=pg.mkPen("k", width=0.5), pxMode=True)  # the picks on the cake
        self.cake_picks.setZValue(2)
        views.cake_view.plot.addItem(self.cake_picks)
        views.cake_view.plot.scene().sigMouseClicked.connect(self._cake_clicked)

    # -- helpers -----------------------------------------------------------------------------------
    def _try(self, action: Callable[[], object]) -> bool:
        """Run a quick session call; a failure becomes the window's message. True if it worked."""
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - XcalError, or a bug shown as "Unexpected error"
            self.shell.show_message(describe_exception(exc))
            return False
        return True

    def _fit(self) -> FitResult | None:
        """The fit of the current geometry, if it is the latest Calibrate/Refine result."""
        result = self.session.result
        return result.fit if result is not None and result.geometry is self.session.geometry else None

    @property
    def unsaved(self) -> bool:
        return self.session.geometry is not None and self.session.geometry is not self.saved_geometry

    # -- start values ------------------------------------------------------------------------------
    def apply_start_values(self) -> None:
        """Hand the panel's start values (from the settings) to the session at start-up."""
        self.session.set_energy(self.panel.energy_box.value())
        self.session.distance = self.panel.distance_box.value() * 1e-3
        if self.panel.calibrant:
            self.set_calibrant(self.panel.calibrant, quiet=True)

    def _set_wavelength(self, angstrom: float) -> None:
        self.session.wavelength = angstrom * 1e-10

    def _set_distance(self, mm: float) -> None:
        self.session.distance = mm * 1e-3

    def set_detector(self, name: str | None = None, pixel_um: tuple[float, float] | None = None) -> None:
        what = name or f"{pixel_um[0]:g} x {pixel_um[1]:g} µm pixels"
        self.runner.submit(
            f"Setting the detector ({what})",
            lambda task: self.session.set_detector(name, pixel_um),
            lambda _: self._detector_set(),
            on_failed=self._detector_failed,
            kind="detector",
        )

    def _detector_set(self) -> None:
        self.panel.select_detector(detector_label(self.session.raw_detector))
        self.show_mask()
        self.request_views()

    def _detector_failed(self, message: str) -> None:
        self.shell.show_message(message)
        self.panel.select_detector(detector_label(self.session.raw_detector))

    def image_loaded(self, matching: list[str]) -> None:
        """A new image is in the session: make sure a detector fits it, redraw everything."""
        self.panel.set_detector_choices(matching)
        if self.session.raw_detector is not None:
            self.panel.select_detector(detector_label(self.session.raw_detector))
        else:
            self._guess_detector()
        self.show_picks()
        self.show_pick_state()
        self.show_mask()
        self.geometry_changed()

    def _guess_detector(self) -> None:
        """No detector yet: the image's own (header pixel size, or the only one of its shape), said; on a
        shape several detectors share, the user's last choice if it is one of them (said), else none
        until the user chooses one under Setup (a wrong pixel size is a wrong distance)."""
        raw = self.session.raw
        guess = guess_detector(raw.shape, raw.header, raw.source)
        name = self.panel.detector_name
        if guess.name is not None:
            self.panel.select_detector(guess.name)
            self.set_detector(name=guess.name)
            self.shell.show_message(f"Detector: {guess.describe()}. Change it under Setup if it is not yours.", "info")
        elif guess.pixel_um is not None or not guess.candidates:
            pixel = guess.pixel_um or self.panel.pixel_um
            self.panel.select_detector(CUSTOM_DETECTOR)
            for box, value in ((self.panel.pixel_v_box, pixel[0]), (self.panel.pixel_h_box, pixel[1])):
                box.blockSignals(True)
                box.setValue(value)
                box.blockSignals(False)
            self.set_detector(pixel_um=pixel)
            if guess.decided:
                self.shell.show_message(f"Detector: {guess.describe()}. Change it under Setup if it is not yours.", "info")
            else:
                self.shell.show_message(f"Detector: {guess.basis}; using the pixel size under Setup ({pixel[0]:g} x "
                                         f"{pixel[1]:g} µm): check it, it sets the distance.", "warning")
        elif name in guess.candidate_names:
            self.set_detector(name=name)
            self.shell.show_message(f"Detector {name}: your last choice, kept; {guess.basis}. Change it under Setup "
                                     "if it is not yours.", "warning")
        else:
            self.panel.ask_detector()
            self.shell.show_message(f"Choose the detector under Setup (its pixel size sets the distance): {guess.basis}.",
                                     "warning")

    def set_calibrant(self, name_or_path: str, quiet: bool = False) -> None:
        try:
            self.session.set_calibrant(name_or_path)
        except XcalError as exc:
            if not quiet:
                self.shell.show_message(str(exc))
            self._revert_calibrant()
            return
        self._calibrant_source = name_or_path
        self.panel.select_calibrant(name_or_path)
        self.request_views()

    def _choose_calibrant_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.shell, "Calibrant file", self.shell.last_folder(), "Calibrant d-spacings (*.D *.d);;All files (*)")
        if path:
            self.set_calibrant(path)
        else:
            self._revert_calibrant()

    def _revert_calibrant(self) -> None:
        """Show the calibrant the session still uses after a refused or abandoned choice."""
        if self._calibrant_source:
            self.panel.select_calibrant(self._calibrant_source)
        else:
            self.panel.calibrant_box.blockSignals(True)
            self.panel.calibrant_box.setCurrentIndex(0)
            self.panel.calibrant_box.blockSignals(False)

    # -- picks -------------------------------------------------------------------------------------
    def pick(self, row: float, col: float) -> None:
        """A click on the image: search the ring (or the single peak) there, in the worker."""
        if not self.in_calibration_mode() or self.session.raw is None:
            return
        mode, method, size = self.panel.pick_mode, self.panel.pick_method, self.panel.search_size_box.value()
        self._submit_pick(f"at x={col + 0.5:.0f}, y={row + 0.5:.0f}",
                          lambda ring: self.session.pick(row, col, ring, mode, method, size))

    def _cake_clicked(self, event) -> None:
        """A left click on the cake picks the ring at the image pixel behind it, as Dioptas users do."""
        plot = self.ui.cake_view.plot.getPlotItem()
        if event.button() != Qt.LeftButton or event.double() or not plot.vb.sceneBoundingRect().contains(event.scenePos()):
            return
        if not self.in_calibration_mode():
            return  # Mask mode says itself why it cannot draw here
        geometry = self.views_geometry
        if geometry is None or self.session.raw is None:
            self.shell.show_message("There is no cake yet: click on a ring of the image (Image tab), "
                                     "then press Calibrate.", "info")
            return
        point = plot.vb.mapSceneToView(event.scenePos())
        tth, chi = point.x(), point.y()
        mode, method, size = self.panel.pick_mode, self.panel.pick_method, self.panel.search_size_box.value()
        self._submit_pick(f"at 2θ {tth:.3f}°, χ {chi:.1f}° of the cake",
                          lambda ring: pick_on_cake(self.session, geometry, tth, chi, ring, mode, method, size))

    def _submit_pick(self, where: str, pick: Callable[[int], object]) -> None:
        """Pick the current ring in the worker (``pick(ring)`` returns the new group); one pick at a time."""
        if self.runner.blocking or (self._pick_job is not None and self.runner.is_pending(self._pick_job)):
            self.shell.statusBar().showMessage("Busy: wait for the running task or press Cancel.", 3000)
            return
        ring = self.panel.current_ring
        what = "peak" if self.panel.pick_mode == "peak" else "ring"
        self._pick_job = self.runner.submit(f"Searching the {what} {where}", lambda task: pick(ring),
                                            lambda group: self._picked(len(group.points), ring), blocking=False)

    def _picked(self, count: int, ring: int) -> None:
        self.panel.picked()
        self.show_picks()
        self.show_pick_state()
        self.shell.statusBar().showMessage(f"Ring {ring + 1}: {count} peaks found.", 5000)

    def pick_more(self) -> None:
        """Back to picking after a calibration: the image and the peak selection, in one click."""
        self.panel.show_peak_selection()
        self.ui.tabs.setCurrentWidget(self.ui.image_view)
        where = "the image (or the cake)" if self.views_geometry is not None else "the image"
        self.shell.messages.show_state(f"Picking: click on ring {self.panel.ring_box.value()} of {where}, then press Calibrate.")

    def show_picks(self) -> None:
        picks = self.session.picks
        self.ui.image_view.set_picks(picks.groups)
        self.panel.show_picks(len(picks.groups), len(picks), picks.rings())
        self._show_cake_picks()

    def _show_cake_picks(self) -> None:
        """The picks where the cake shows them (2θ, χ of the geometry the cake was made with)."""
        geometry, groups = self.views_geometry, self.session.picks.groups
        if geometry is None or not groups:
            self.cake_picks.setData([])
            return
        points = np.concatenate([g.points for g in groups])
        tth, chi = np.degrees(geometry.tth(points[:, 0], points[:, 1])), np.degrees(geometry.chi(points[:, 0], points[:, 1]))
        brushes = [pg.mkBrush(ring_color(g.ring)) for g in groups for _ in range(len(g.points))]
        self.cake_picks.setData(tth, chi, brush=brushes)

    def show_pick_state(self) -> None:
        """The message strip's standing line: what is picked and what to do next (nothing picked: none)."""
        picks = self.session.picks
        rings = picks.rings()
        if not rings:
            self.shell.messages.clear_state()
            return
        where = "the image or the cake" if self.views_geometry is not None else "the image"
        listed = ", ".join(str(r + 1) for r in rings)
        self.shell.messages.show_state(
            f"{len(rings)} ring{'s' if len(rings) > 1 else ''} picked ({listed}; {len(picks)} peaks) — "
            f"click ring {self.panel.ring_box.value()} on {where}, or press Calibrate.")

    def undo_pick(self) -> None:
        group = self.session.picks.undo()
        if group is None:
            self.shell.statusBar().showMessage("No picks to undo.", 3000)
            return
        if self.panel.auto_increase_check.isChecked():
            self.panel.ring_box.setValue(group.ring + 1)
        self.show_picks()
        self.show_pick_state()
        self.shell.statusBar().showMessage(f"Undone: the last {len(group.points)} peaks of ring {group.ring + 1}.", 5000)

    def clear_picks(self) -> None:
        self.session.picks.clear()
        self.panel.ring_box.setValue(1)
        self.show_picks()
        self.show_pick_state()

    def save_picks(self) -> None:
        if not self.session.picks.groups:
            self.shell.show_message("There are no peaks to save: click on a ring first.")
            return
        if self.session.dspacing is None:
            self.shell.show_message("Choose the calibrant first: the .npt file records it with the peaks.")
            return
        path = self.shell.ask_save_path("Save picks", ".npt", "pyFAI control points (*.npt)")
        if path and self._try(lambda: self.session.picks.save_npt(path, self.session.dspacing, self.session.wavelength)):
            self.shell.show_message(f"Picks saved to {path}.", "info")

    def load_picks(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.shell, "Load picks", self.shell.last_folder(), "pyFAI control points (*.npt);;All files (*)")
        if not path:
            return
        try:
            picks = PickSet.load_npt(path)
        except XcalError as exc:
            self.shell.show_message(str(exc))
            return
        self.session.picks = picks
        self.show_picks()
        self.show_pick_state()

    # -- mask --------------------------------------------------------------------------------------
    def show_mask(self) -> None:
        """Apply the "use mask" choice to the session and draw the excluded pixels."""
        use = self.panel.use_mask_check.isChecked()
        self.session.use_mask = use
        if self.session.raw is None:
            return
        self.ui.image_view.set_mask(self.session.invalid if use else None, self.panel.transparent_mask_check.isChecked())

    # -- fits --------------------------------------------------------------------------------------
    def fit(self, which: str) -> None:
        """Calibrate (from the picks), Refine (from the current geometry) or go back to the typed ring numbers, in the worker."""
        if self.runner.blocking:
            return
        options = self.panel.refine_options()
        method, label = {
            "calibrate": (self.session.calibrate, "Calibrating"),
            "refine": (self.session.refine, "Refining"),
            "revert": (self.session.revert_ring_numbers, "Calibrating with your ring numbers"),
        }[which]
        rings = self.session.picks.rings()
        self.runner.submit(label, lambda task: method(options, task), lambda result: self._fitted(result, rings))

    def auto_calibrate(self) -> None:
        """No clicks: rings found and numbered on the image, then calibrated, in the worker."""
        if self.runner.blocking:
            return
        options = self.panel.refine_options()
        self.runner.submit("Calibrating automatically", lambda task: self.session.auto_calibrate(options, task).result, self._fitted)

    def _fitted(self, result: CalibrationResult, rings_before: list[int] | None = None) -> None:
        """Show the fit with the core's verdict on it (the verdict's reasons include the fit's warnings)."""
        fit = result.fit
        summary = f"RMS {fit.rms_deg:.5f}° 2θ ({fit.rms_px:.3f} px) on {len(fit.points)} points, {len(fit.rings)} rings."
        verdict = self.session.verdict
        lines = verdict_lines(verdict) if verdict is not None else result.warnings
        level = MESSAGE_LEVELS[verdict.level] if verdict is not None else "warning" if lines else "info"
        self.shell.messages.show_state("\n".join(["Calibrated: " + summary, *lines]), level)  # until the next pick
        if self.session.wavelength:
            self.panel.show_wavelength(self.session.wavelength)
        if rings_before is not None:
            self._follow_ring_numbers(rings_before)
        self.show_picks()  # the picks' ring numbers may have changed, and Auto calibrate's traced rings are the picks
        self.panel.tabs.setCurrentIndex(1)
        self.ui.tabs.setCurrentWidget(self.ui.cake_view)
        self.geometry_changed()

    def _follow_ring_numbers(self, before: list[int]) -> None:
        """The fit renumbered the picks (the image corrected them, or back to the typed ones): the current ring follows."""
        after = self.session.picks.rings()
        if before and after and after[0] != before[0]:
            self.panel.ring_box.setValue(self.panel.ring_box.value() + after[0] - before[0])

    def _edit(self, values: dict[str, float]) -> None:
        if self._try(lambda: self.session.set_geometry_values(**values)):
            self.geometry_changed()

    def _edit_fit2d(self, values: dict[str, float]) -> None:
        def edit():
            current = self.session.geometry
            geometry = from_fit2d(values, current.detector, current.wavelength)
            new = geometry_values(geometry)
            self.session.set_geometry_values(**{key: new[key] for key in _GEOMETRY_KEYS})

        if self._try(edit):
            self.geometry_changed()

    def _restore(self, index: int) -> None:
        if self._try(lambda: self.session.restore(index)):
            self.geometry_changed()

    def geometry_changed(self) -> None:
        """Show the session's current geometry, its fit, verdict and history, and recompute the views."""
        self.panel.parameters.show_geometry(self.session.geometry, self._fit(), self.session.history)
        self.panel.verdict.show_verdict(self.session.verdict, self.session.geometry is not None)
        self.request_views()

    # -- views -------------------------------------------------------------------------------------
    def request_views(self) -> None:
        """Recompute cake, pattern and rings for the current geometry (a newer request replaces this one)."""
        geometry, session = self.session.geometry, self.session
        if geometry is None or session.raw is None:
            self.clear_views()
            return
        dspacing, unit, polarization = session.dspacing, self.ui.pattern_view.unit, self.panel.polarization()
        job = self.runner.submit(
            "Integrating",
            lambda task: compute_views(session, geometry, dspacing, unit, polarization, task),
            lambda views: self._show_views(views, geometry),
            blocking=False,
            kind="views",
        )
        for view in (self.ui.cake_view, self.ui.pattern_view):
            view.show_computing(job)  # "Computing the cake…" until it ends

    def _show_views(self, views: Views, geometry: Geometry) -> None:
        self.ui.diagnostics_view.show_diagnostics(views.diagnostics, views.diagnostics_png, views.diagnostics_note)
        self.views, self.views_geometry = views, geometry
        self.ui.cake_view.set_cake(views.cake, views.cake_lines)
        self.ui.pattern_view.set_pattern(views.pattern, views.pattern_lines)
        self.ui.image_view.set_rings(views.ring_x, views.ring_y)
        self._show_cake_picks()

    def clear_views(self) -> None:
        self.views, self.views_geometry = None, None
        self.cake_picks.setData([])
        self.ui.diagnostics_view.clear()
        self.ui.cake_view.clear()
        self.ui.pattern_view.clear()
        self.ui.image_view.clear_rings()

    # -- manual calibration by point selection ------------------------------------------------------
    def open_circle_dialog(self) -> None:
        """Open the circle calibration dialog on the working image (non-modal for the event loop, window-modal)."""
        session = self.session
        if session.raw is None:
            self.shell.show_message("Load a calibration image first.")
            return
        if self.runner.blocking:
            return
        dialog = CircleDialog(session.data, session.invalid, session.wavelength, session.raw_detector, self.runner,
                              self.shell, self.shell.settings,
                              guess_detector(session.raw.shape, session.raw.header, session.raw.source))
        dialog.accepted.connect(lambda: self._circle_done(dialog))
        dialog.finished.connect(lambda _: dialog.deleteLater())
        self.circle_dialog = dialog
        dialog.open()

    def _circle_done(self, dialog: CircleDialog) -> None:
        """Done: the untilted geometry from the circle becomes the session's current geometry."""
        circle = dialog.circle
        session = self.session
        pixel_um = dialog.pixel_m * 1e6

        def apply():
            if dialog.detector_changed:  # the dialog's detector (or pixel size) becomes the session's
                session.set_detector(dialog.detector_name, None if dialog.detector_name else (pixel_um, pixel_um))
                self.panel.select_detector(detector_label(session.raw_detector))
            geometry = geometry_from_circle(circle, dialog.d_spacing_A, dialog.wavelength_m, session.detector)
            session.add_geometry("circle fit", geometry)

        if not self._try(apply):
            return
        self.panel.show_wavelength(session.wavelength)
        self.shell.show_message(
            f"Circle fit: centre x {circle.col + 0.5:.2f}, y {circle.row + 0.5:.2f} px, radius {circle.radius:.2f} px, "
            f"distance {session.geometry.dist * 1e3:.2f} mm (untilted detector).", "info")
        self.panel.tabs.setCurrentIndex(1)
        self.show_mask()
        self.geometry_changed()

    # -- .poni -------------------------------------------------------------------------------------
    def save_poni(self) -> bool:
        """Ask for a file and save the calibration; True if saved."""
        return self._save_calibration("Save calibration", "pyFAI calibration (*.poni)", self.session.save_poni, "")

    def save_for_dioptas(self) -> bool:
        """Ask for a file and save the calibration as Dioptas reads it right (``core.dioptas_files``); True if saved."""
        return self._save_calibration("Save calibration for Dioptas", "Dioptas calibration (*.poni)",
                                      lambda path: save_session_for_dioptas(self.session, path), " for Dioptas")

    def _save_calibration(self, title: str, filters: str, write: Callable[[str], None], what: str) -> bool:
        """Ask for a .poni file name and ``write`` the calibration there; True if saved."""
        if self.session.geometry is None:
            self.shell.show_message("There is no calibration to save yet: pick a ring and press Calibrate.")
            return False
        verdict = self.session.verdict
        if verdict is not None and verdict.level == "bad" and not self._save_bad_anyway(verdict.reasons[0]):
            return False
        path = self.shell.ask_save_path(title, ".poni", filters)
        if not path:
            return False
        geometry = self.session.geometry
        try:
            write(path)
        except Exception as exc:  # noqa: BLE001
            self.shell.show_message(describe_exception(exc))
            return False
        self.saved_geometry = geometry
        if verdict is not None and verdict.level != "good":
            self.shell.show_message("\n".join([f"Calibration saved{what} to {path}.", *verdict_lines(verdict)]), MESSAGE_LEVELS[verdict.level])
        else:
            self.shell.show_message(f"Calibration saved{what} to {path}.", "info")
        return True

    def _save_bad_anyway(self, reason: str) -> bool:
        """A calibration the checks call bad is saved only if the user insists (the answer defaults to No)."""
        answer = QMessageBox.question(
            self.shell, "Save a bad calibration?",
            f"The checks judged this calibration bad:\n\n{reason}\n\nSave it anyway?",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def save_report(self) -> None:
        """Write the calibration report of the geometry shown (in the worker)."""
        views = self.views
        if views is None or views.diagnostics is None:
            self.shell.show_message("There is no calibration to report on yet.")
            return
        path = self.shell.ask_save_path("Save calibration report", ".html", "HTML report (*.html);;PDF report (*.pdf)")
        if not path:
            return
        if path.lower().endswith(".pdf.html"):
            path = path[: -len(".html")]
        session, diagnostics = self.session, views.diagnostics

        def job(task) -> str:
            write_report(path, report_inputs(session, cake=views.cake, pattern=views.pattern), diagnostics)
            return path

        self.runner.submit("Writing the report", job, lambda p: self.shell.show_message(f"Report saved to {p}.", "info"))

    def load_poni(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.shell, "Load calibration", self.shell.last_folder(), "pyFAI calibration (*.poni);;All files (*)")
        if path:
            self.shell.remember_folder(path)
            self.runner.submit(f"Loading {Path(path).name}", lambda task: self.session.load_poni(path), self._poni_loaded)

    def _poni_loaded(self, notes: list[str]) -> None:
        self.saved_geometry = self.session.geometry
        if self.session.wavelength:
            self.panel.show_wavelength(self.session.wavelength)
        if self.session.raw_detector is not None:
            self.panel.select_detector(detector_label(self.session.raw_detector))
        self.shell.show_message("Calibration loaded." + "".join(f"\nNote: {n}" for n in notes), "info")
        self.show_mask()
        self.geometry_changed()
