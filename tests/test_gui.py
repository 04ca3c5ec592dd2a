"""The application window, driven as a user would: widgets, mouse clicks on the image, buttons.

Every test uses a temporary settings file and calibrant folder, so the user's own are never
read or changed; Qt file dialogs and the quit question are patched, nothing else.
"""

from __future__ import annotations

from pathlib import Path

import fabio
import h5py
import numpy as np
import pytest
from pyFAI.detectors import detector_factory
from PyQt5.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PyQt5.QtGui import QDropEvent
from PyQt5.QtWidgets import QApplication, QFileDialog, QInputDialog, QMessageBox

from xcal.cli import main
from xcal.core.calibration.session import energy_to_wavelength
from xcal.core.calibration.synthetic import ring_image
from xcal.core.geometry.beam import beam_centre
from xcal.core.geometry.refinement import new_geometry, ring_tth
from xcal.core.io.calibrants import load_calibrant
from xcal.gui.main_window import MainWindow
from xcal.gui.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ENERGY_KEV = 30.0
TIMEOUT_MS = 60_000


def _truth(detector: str = "Pilatus1M"):
    det = detector_factory(detector)
    n1, n2 = det.shape
    return new_geometry(det, dist=0.2, poni1=0.55 * n1 * det.pixel1, poni2=0.42 * n2 * det.pixel2,
                        rot1=0.02, rot2=-0.015, rot3=0.0, wavelength=energy_to_wavelength(ENERGY_KEV))


def _write_image(path: Path, max_rings: int | None = None) -> Path:
    truth = _truth()
    det = truth.detector
    image = ring_image(truth, load_calibrant("CeO2"), tuple(det.shape), fwhm_deg=0.06, intensity=800.0,
                       background=40.0, noise=True, seed=3, max_rings=max_rings)
    image[det.mask.astype(bool)] = -1.0
    fabio.tifimage.TifImage(data=image).write(str(path))
    return path


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    """CeO2 on a Pilatus 1M at 30 keV, 200 mm, 1.5° tilt, Poisson noise, gaps = -1."""
    return _write_image(tmp_path_factory.mktemp("images") / "CeO2_0001.tif")


@pytest.fixture
def window(main_window):
    return main_window


# -- helpers ---------------------------------------------------------------------------------------
def idle(qtbot, win: MainWindow) -> None:
    qtbot.waitUntil(lambda: not win.runner.busy, timeout=TIMEOUT_MS)


def load(qtbot, win: MainWindow, path: Path) -> None:
    win.open_source(str(path))
    idle(qtbot, win)


def choose(combo, text: str) -> None:
    """Select an entry the way a user does (the combo emits its change signals)."""
    index = combo.findText(text)
    assert index >= 0, f"{text} not offered"
    combo.setCurrentIndex(index)


def set_start_values(qtbot, win: MainWindow) -> None:
    panel = win.panel
    choose(panel.detector_box, "Pilatus1M")
    choose(panel.calibrant_box, "CeO2")
    panel.energy_box.setValue(ENERGY_KEV)
    idle(qtbot, win)


def viewport_pos(win: MainWindow, row: float, col: float) -> QPoint:
    """Widget position of pixel index (row, col) in the image view's viewport."""
    view = win.image_view
    scene = view.view.mapViewToScene(QPointF(col + 0.5, row + 0.5))
    return view.graphics.mapFromScene(scene)


def click_pixel(qtbot, win: MainWindow, row: float, col: float) -> None:
    """A real left click (press + release) on the view, through pyqtgraph's mouse handling."""
    win.tabs.setCurrentWidget(win.image_view)
    qtbot.mouseClick(win.image_view.graphics.viewport(), Qt.LeftButton, pos=viewport_pos(win, row, col))


def point_on_ring(win: MainWindow, ring: int = 0) -> tuple[int, int]:
    """A valid pixel on ``ring`` of the truth, right of the beam, away from the module gaps."""
    truth = _truth()
    data_shape = win.session.data.shape
    target = ring_tth(win.session.dspacing, np.array([ring]), truth.wavelength)[0]
    x, y = beam_centre(truth, data_shape)
    invalid = win.session.invalid
    for row in range(round(y), data_shape[0]):
        cols = np.arange(round(x), data_shape[1])
        tth = truth.tth(np.full(len(cols), float(row)), cols.astype(float))
        col = int(cols[np.argmin(np.abs(tth - target))])
        if not invalid[row - 4 : row + 5, col - 4 : col + 5].any():
            return row, col
    raise AssertionError("no clean pixel on the ring")


def pick_first_ring(qtbot, win: MainWindow) -> None:
    before = len(win.session.picks.groups)
    click_pixel(qtbot, win, *point_on_ring(win))
    qtbot.waitUntil(lambda: len(win.session.picks.groups) == before + 1 or bool(win.messages.text()), timeout=TIMEOUT_MS)
    idle(qtbot, win)
    assert len(win.session.picks.groups) == before + 1, win.messages.text()


def calibrate(qtbot, win: MainWindow) -> None:
    qtbot.mouseClick(win.panel.calibrate_button, Qt.LeftButton)
    idle(qtbot, win)


# -- the workflow ----------------------------------------------------------------------------------
def test_calibrate_by_clicking_a_ring(qtbot, window, image_file, tmp_path, monkeypatch):
    win = window
    load(qtbot, win, image_file)
    assert win.session.raw.shape == (1043, 981)
    assert win.image_view.image_item.image.shape == (1043, 981)
    assert "CeO2_0001.tif" in win.windowTitle()
    set_start_values(qtbot, win)
    assert type(win.session.raw_detector).__name__ == "Pilatus1M"
    assert win.session.calibrant_name == "CeO2"
    assert win.session.wavelength == pytest.approx(energy_to_wavelength(ENERGY_KEV))
    assert win.panel.wavelength_box.value() == pytest.approx(12.398419843 / ENERGY_KEV, abs=1e-5)  # linked

    # the status line follows the cursor
    row, col = point_on_ring(win)
    qtbot.mouseMove(win.image_view.graphics.viewport(), viewport_pos(win, row, col))
    qtbot.waitUntil(lambda: win.cursor_label.text().startswith("x "))
    assert "2θ" not in win.cursor_label.text()  # no geometry yet

    pick_first_ring(qtbot, win)
    group = win.session.picks.groups[0]
    assert group.ring == 0 and len(group.points) > 50
    assert win.panel.ring_box.value() == 2  # auto increase honoured
    assert len(win.image_view.picks_item.data) == len(group.points)  # drawn
    assert [label.toPlainText() for label in win.image_view._labels] == ["1"]

    calibrate(qtbot, win)
    result = win.session.result
    assert result is not None, win.messages.text()
    truth = _truth()
    shape = win.session.data.shape
    got_x, got_y = beam_centre(result.geometry, shape)
    want_x, want_y = beam_centre(truth, shape)
    assert abs(got_x - want_x) < 0.1 and abs(got_y - want_y) < 0.1
    assert result.geometry.dist == pytest.approx(truth.dist, rel=5e-4)
    assert "Calibrated" in win.messages.text()

    # the cake and the pattern are filled, with the calibrant lines
    assert win.tabs.currentWidget() is win.cake_view
    assert win.cake_view.image_item.image.shape == (360, 1000)
    cake_x, _ = win.cake_view.lines_item.getData()
    assert len(cake_x) > 10 and len(cake_x) % 2 == 0
    pattern_x, pattern_y = win.pattern_view.curve.getData()
    assert len(pattern_x) == len(pattern_y) > 1000
    assert len(win.pattern_view.lines_item.getData()[0]) > 10
    ring_x, ring_y = win.image_view.rings_item.getData()
    assert len(ring_x) > 1000 and np.isfinite(ring_x).sum() > 1000

    # the parameters, residuals and history are shown
    params = win.panel.parameters
    assert params.pyfai.boxes["dist"].value() == pytest.approx(result.geometry.dist * 1e3, abs=1e-3)
    assert params.pyfai.sigmas["dist"].text() != "—"
    assert params.fit2d.boxes["centerX"].value() == pytest.approx(result.geometry.getFit2D()["centerX"], abs=1e-3)
    assert params.rings_table.rowCount() == len(result.fit.rings) > 3
    assert "RMS" in params.rms_label.text()
    assert params.history_list.count() == 2  # start (first guess) and calibrate

    # with a geometry the status line gives 2θ, χ, d, q
    qtbot.mouseMove(win.image_view.graphics.viewport(), viewport_pos(win, row + 1, col))
    win.tabs.setCurrentWidget(win.image_view)
    qtbot.mouseMove(win.image_view.graphics.viewport(), viewport_pos(win, row, col))
    qtbot.waitUntil(lambda: "2θ" in win.cursor_label.text())
    assert all(key in win.cursor_label.text() for key in ("χ", "d ", "q "))

    # save, edit by hand, restore, reload
    poni = tmp_path / "CeO2.poni"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "CeO2"), ""))
    qtbot.mouseClick(win.panel.save_poni_button, Qt.LeftButton)
    assert poni.is_file() and not win.calibration.unsaved
    calibrated = result.geometry
    box = params.pyfai.boxes["dist"]
    box.setValue(box.value() + 5.0)
    box.editingFinished.emit()
    idle(qtbot, win)
    assert win.session.geometry.dist == pytest.approx(calibrated.dist + 5e-3)
    assert win.session.history[-1].label == "edited" and win.calibration.unsaved
    assert params.rings_table.rowCount() == 0  # the residuals belong to the fit, not to the edit
    params.history_list.setCurrentRow(1)  # the calibration (row 0 is the first guess)
    qtbot.mouseClick(params.restore_button, Qt.LeftButton)
    idle(qtbot, win)
    assert win.session.geometry.dist == calibrated.dist
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(poni), ""))
    qtbot.mouseClick(win.panel.load_poni_button, Qt.LeftButton)
    idle(qtbot, win)
    loaded = win.session.geometry
    assert win.session.history[-1].label == "loaded CeO2.poni"
    for name in ("dist", "poni1", "poni2", "rot1", "rot2"):
        assert getattr(loaded, name) == pytest.approx(getattr(calibrated, name), abs=1e-9)

    # quitting with unsaved changes asks first; Cancel keeps the window open
    box.setValue(box.value() + 1.0)
    box.editingFinished.emit()
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.Cancel)
    assert not win.close() and asked and win.isVisible()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Discard)
    assert win.close()


def test_refine_after_edit_and_picks_files(qtbot, window, image_file, tmp_path, monkeypatch):
    win = window
    load(qtbot, win, image_file)
    set_start_values(qtbot, win)
    pick_first_ring(qtbot, win)
    npt = tmp_path / "picks.npt"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(npt), ""))
    win.panel.save_picks_clicked.emit()
    assert npt.is_file()
    calibrate(qtbot, win)
    assert win.session.result is not None
    # a hand edit moves the geometry off; Refine brings it back
    params = win.panel.parameters
    box = params.pyfai.boxes["poni1"]
    box.setValue(box.value() + 0.3)
    box.editingFinished.emit()
    qtbot.mouseClick(win.panel.refine_button, Qt.LeftButton)
    idle(qtbot, win)
    assert [e.label for e in win.session.history] == ["start", "calibrate", "edited", "refine"]
    assert beam_centre(win.session.geometry, win.session.data.shape)[1] == pytest.approx(
        beam_centre(_truth(), win.session.data.shape)[1], abs=0.1)
    # undo, clear, and load the saved picks back
    win.panel.undo_clicked.emit()
    assert not win.session.picks.groups and win.panel.ring_box.value() == 1
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(npt), ""))
    win.panel.load_picks_clicked.emit()
    assert len(win.session.picks.groups) == 1 and win.session.picks.groups[0].ring == 0
    win.panel.clear_clicked.emit()
    assert len(win.session.picks) == 0 and len(win.image_view.picks_item.data) == 0


# -- refused inputs: a message, and nothing lost ---------------------------------------------------
def test_corrupt_image_file_is_reported(qtbot, window, image_file, tmp_path):
    win = window
    load(qtbot, win, image_file)
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00" + b"\x13" * 100)
    load(qtbot, win, bad)
    assert "broken.tif" in win.messages.text() and "cannot be read" in win.messages.text()
    assert win.messages.level == "error"
    assert win.session.raw.source == str(image_file)  # the previous image is kept
    assert win.image_view.image_item.image.shape == (1043, 981)


def test_wrong_detector_is_refused(qtbot, window, image_file):
    win = window
    load(qtbot, win, image_file)
    set_start_values(qtbot, win)
    choose(win.panel.detector_box, "Pilatus300k")
    idle(qtbot, win)
    text = win.messages.text()
    assert "Pilatus300k" in text and "1043 x 981" in text
    assert type(win.session.raw_detector).__name__ == "Pilatus1M"
    assert win.panel.detector_box.currentText() == "Pilatus1M"  # the combo shows what is in use


def test_malformed_calibrant_file_is_reported(qtbot, window, image_file, tmp_path):
    win = window
    load(qtbot, win, image_file)
    set_start_values(qtbot, win)
    folder = tmp_path / "calibrants"
    folder.mkdir()
    (folder / "Broken.D").write_text("# d-spacings\n3.1234\n1.91 2.0\n")
    win.panel.calibrant_box.showPopup()  # the list is read again when it opens
    win.panel.calibrant_box.hidePopup()
    choose(win.panel.calibrant_box, "Broken")
    text = win.messages.text()
    assert "Broken.D" in text and "line 3" in text
    assert win.session.calibrant_name == "CeO2"
    assert win.panel.calibrant_box.currentText() == "CeO2"


def test_calibrate_without_picks_then_failed_calibration_keeps_picks(qtbot, window, image_file):
    win = window
    load(qtbot, win, image_file)
    set_start_values(qtbot, win)
    calibrate(qtbot, win)
    assert "No peaks are picked" in win.messages.text()
    assert win.session.geometry is None
    # one single peak cannot give a geometry: the calibration fails, the peak stays
    win.panel.peak_mode.setChecked(True)
    click_pixel(qtbot, win, *point_on_ring(win))
    qtbot.waitUntil(lambda: len(win.session.picks.groups) == 1, timeout=TIMEOUT_MS)
    idle(qtbot, win)
    picks = win.session.picks.groups[0].points.copy()
    calibrate(qtbot, win)
    assert win.session.result is None
    assert "not enough" in win.messages.text()
    assert len(win.session.picks.groups) == 1 and np.array_equal(win.session.picks.groups[0].points, picks)
    assert len(win.image_view.picks_item.data) == 1


def test_cancel_keeps_picks(qtbot, window, image_file):
    win = window
    load(qtbot, win, image_file)
    set_start_values(qtbot, win)
    pick_first_ring(qtbot, win)
    count = len(win.session.picks)
    win.panel.calibrate_button.click()
    assert win.runner.blocking and win.cancel_button.isVisible()
    assert not win.panel.calibrate_button.isEnabled()  # inputs frozen while the session changes
    win.cancel_button.click()
    idle(qtbot, win)
    assert win.session.result is None and "Calibrating: cancelled" in win.messages.text()
    assert len(win.session.picks) == count
    assert win.panel.calibrate_button.isEnabled()


def test_click_far_from_any_ring_is_reported(qtbot, window, tmp_path):
    win = window
    sparse = _write_image(tmp_path / "sparse.tif", max_rings=2)
    load(qtbot, win, sparse)
    set_start_values(qtbot, win)
    click_pixel(qtbot, win, 1030.0, 960.0)  # the far corner: 400 px from ring 2
    qtbot.waitUntil(lambda: bool(win.messages.text()) or bool(win.session.picks.groups), timeout=TIMEOUT_MS)
    idle(qtbot, win)
    assert not win.session.picks.groups
    assert "ring" in win.messages.text().lower()
    assert win.panel.ring_box.value() == 1  # no pick, no increase


# -- files -----------------------------------------------------------------------------------------
def test_folder_navigation_recent_files_and_transforms(qtbot, window, image_file, tmp_path):
    win = window
    folder = image_file.parent
    second = folder / "CeO2_0002.tif"
    if not second.exists():
        second.write_bytes(image_file.read_bytes())
    load(qtbot, win, image_file)
    win.toolbar.next_action.trigger()
    idle(qtbot, win)
    assert win.session.raw.source == str(second)
    win.toolbar.previous_action.trigger()
    idle(qtbot, win)
    assert win.session.raw.source == str(image_file)
    assert win.settings.recent_files()[:2] == [str(image_file), str(second)]
    assert len(win.toolbar.recent_menu.actions()) >= 2

    # a file dropped on the window opens
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(second))])
    drop = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    win.dropEvent(drop)
    idle(qtbot, win)
    assert win.session.raw.source == str(second)

    # contrast: log scale and auto levels
    raw_max = float(win.session.data.max())
    win.image_view.log_box.setChecked(True)
    assert float(win.image_view.image_item.image.max()) == pytest.approx(np.log10(raw_max + 1), rel=1e-5)
    win.image_view.histogram.setLevels(0, 0.1)
    win.image_view.auto_button.click()
    low, high = win.image_view.histogram.getLevels()
    assert 0 < low < high < np.log10(raw_max + 1)
    win.image_view.log_box.setChecked(False)

    set_start_values(qtbot, win)
    pick_first_ring(qtbot, win)
    win.toolbar.transform_actions["rot90"].trigger()
    idle(qtbot, win)
    assert win.session.data.shape == (981, 1043)
    assert win.image_view.image_item.image.shape == (981, 1043)
    assert "rotated 90°" in win.toolbar.transform_label.text()
    assert len(win.session.picks.groups) == 1  # the picks follow the image
    win.toolbar.transform_actions["reset"].trigger()
    idle(qtbot, win)
    assert win.session.data.shape == (1043, 981) and win.toolbar.transform_label.text() == ""


def test_hdf5_dataset_and_frame_choice(qtbot, window, tmp_path, monkeypatch):
    win = window
    stack = np.stack([np.full((64, 48), v, np.float32) for v in (1.0, 2.0, 3.0)])
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as h5:
        h5["entry/data/data"] = stack
        h5["entry/instrument/dark"] = np.ones((64, 48), np.float32)
    offered = []

    def get_item(parent, title, label, items, current, editable):
        offered.extend(items)
        return next(i for i in items if i.startswith("/entry/data/data")), True

    monkeypatch.setattr(QInputDialog, "getItem", get_item)
    load(qtbot, win, path)
    idle(qtbot, win)
    assert len(offered) == 2
    assert win.session.raw.source == f"{path}::/entry/data/data" and win.session.raw.nframes == 3
    assert win.toolbar.frame_action.isVisible() and win.toolbar.frame_box.maximum() == 2
    win.toolbar.frame_box.setValue(2)
    idle(qtbot, win)
    assert win.session.raw.frame == 2 and float(win.session.data[0, 0]) == 3.0


def test_settings_persist_between_runs(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("XCAL_CALIBRANT_DIR", str(tmp_path / "calibrants"))
    settings_file = tmp_path / "xcal.ini"
    first = MainWindow(settings=Settings(settings_file))
    qtbot.addWidget(first)
    first.panel.energy_box.setValue(17.5)
    choose(first.panel.calibrant_box, "LaB6")
    first.panel.parameters.pyfai.fix["rot3"].setChecked(False)
    first.panel.auto_increase_check.setChecked(False)
    first.panel.delta_tth_box.setValue(0.25)
    first.image_view.log_box.setChecked(True)
    first.resize(1234, 876)
    assert first.close()
    second = MainWindow(settings=Settings(settings_file))
    qtbot.addWidget(second)
    assert second.panel.energy_box.value() == pytest.approx(17.5)
    assert second.panel.wavelength_box.value() == pytest.approx(12.398419843 / 17.5, abs=1e-5)
    assert second.session.wavelength == pytest.approx(energy_to_wavelength(17.5))
    assert second.panel.calibrant == "LaB6" and second.session.calibrant_name == "LaB6"
    assert "rot3" not in second.panel.parameters.fixed() and "wavelength" in second.panel.parameters.fixed()
    assert not second.panel.auto_increase_check.isChecked()
    assert second.panel.delta_tth_box.value() == pytest.approx(0.25)
    assert second.image_view.log_box.isChecked()
    assert second.size().width() == 1234
    second.close()


def test_mode_selector_and_example(qtbot, window):
    win = window
    win.modes.setCurrentRow(1)
    assert win.mode_panels.currentWidget() is win.mask_panel and win.masking.active
    win.modes.setCurrentRow(2)
    assert win.mode_panels.currentWidget() is win.integration_panel
    assert win.centre_views.currentWidget() is win.integration_view and not win.toolbar.isVisible()
    win.modes.setCurrentRow(0)
    assert win.mode_panels.currentWidget() is win.panel
    assert win.centre_views.currentWidget() is win.tabs and win.toolbar.isVisible()
    win.open_example()
    qtbot.waitUntil(lambda: win.session.raw is not None and win.session.raw_detector is not None, timeout=TIMEOUT_MS)
    idle(qtbot, win)
    assert win.session.calibrant_name == "CeO2"
    assert win.session.wavelength == pytest.approx(energy_to_wavelength(30.0))
    assert type(win.session.raw_detector).__name__ == "Pilatus1M"
    assert "Click on the innermost ring" in win.messages.text()


def test_xcal_example_command_opens_the_window(qtbot, tmp_path, monkeypatch):
    """``xcal --example`` through the command line entry point: window, example image, start values."""
    monkeypatch.setenv("XCAL_SETTINGS", str(tmp_path / "xcal.ini"))
    monkeypatch.setenv("XCAL_CALIBRANT_DIR", str(tmp_path / "calibrants"))
    seen: dict[str, object] = {}

    def poll() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows:
            return
        win = windows[0]
        if win.session.raw is not None and win.session.raw_detector is not None and not win.runner.busy:
            seen.update(shape=win.session.raw.shape, calibrant=win.session.calibrant_name,
                        settings=win.settings.location, detector=type(win.session.raw_detector).__name__)
            timer.stop()
            win.close()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(50)
    guard = QTimer()  # never hang the suite; stopped after, so it cannot quit a later test's event loop
    guard.setSingleShot(True)
    guard.timeout.connect(QApplication.instance().quit)
    guard.start(TIMEOUT_MS)
    try:
        assert main(["--example"]) == 0
    finally:
        guard.stop()
    assert seen == {"shape": (1043, 981), "calibrant": "CeO2", "settings": str(tmp_path / "xcal.ini"),
                    "detector": "Pilatus1M"}


def test_auto_calibrate_button_needs_no_clicks(qtbot, window, image_file, tmp_path, monkeypatch):
    win = window
    load(qtbot, win, image_file)
    set_start_values(qtbot, win)
    assert len(win.session.picks) == 0
    qtbot.mouseClick(win.panel.auto_button, Qt.LeftButton)
    idle(qtbot, win)
    result = win.session.result
    assert result is not None, win.messages.text()
    shape = win.session.data.shape
    got_x, got_y = beam_centre(result.geometry, shape)
    want_x, want_y = beam_centre(_truth(), shape)
    assert abs(got_x - want_x) < 0.1 and abs(got_y - want_y) < 0.1
    assert result.geometry.dist == pytest.approx(_truth().dist, rel=5e-4)
    assert len(win.session.picks.groups) >= 2  # the rings it found are shown as picks, numbered
    assert len(win.image_view.picks_item.data) == len(win.session.picks)
    assert win.tabs.currentWidget() is win.cake_view

    # the Diagnostics tab judges the result and writes the report
    diag = win.diagnostics_view
    qtbot.waitUntil(lambda: diag.diagnostics is not None, timeout=TIMEOUT_MS)
    assert diag.diagnostics.verdict.level == "good", diag.verdict_label.text()
    assert "GOOD" in diag.verdict_label.text() and not diag.picture.pixmap().isNull()
    report = tmp_path / "report.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(report), ""))
    qtbot.mouseClick(diag.report_button, Qt.LeftButton)
    idle(qtbot, win)
    assert report.read_bytes().startswith(b"%PDF"), win.messages.text()
