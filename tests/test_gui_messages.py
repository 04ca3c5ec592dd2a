"""The message strip says what holds now: notes expire, the picking state replaces stale text, and a
saved pattern's header says exactly what was masked. Real clicks on xcal's example image."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyFAI.detectors import Detector
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QFileDialog, QToolButton
from test_gui import click_pixel, idle
from test_gui_picking import calibrate, pick_on_image

from xcal.core.beamtime.sample import static_mask
from xcal.core.geometry.refinement import geometry_values, new_geometry
from xcal.core.io.poni import write_poni
from xcal.gui import messages
from xcal.gui.example import EXAMPLE, example_geometry, make_example
from xcal.gui.main_window import MainWindow

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def example_file(tmp_path_factory) -> Path:
    return make_example(tmp_path_factory.mktemp("example"))


def test_stale_notes_give_way_to_the_picking_state(qtbot, main_window, example_file, tmp_path, monkeypatch):
    win = main_window
    bar = win.messages
    monkeypatch.setitem(messages.TIMEOUTS_MS, "info", 300)
    win.calibration.set_calibrant(EXAMPLE.calibrant)
    win.panel.energy_box.setValue(EXAMPLE.energy_kev)
    win.open_source(str(example_file))  # no detector chosen: xcal picks one by the image size, and says so
    idle(qtbot, win)
    note = bar.text()
    assert note.startswith("Detector") and "Pilatus1M" in note and not bar.showing_state

    pick_on_image(qtbot, win, 0)
    assert note not in bar.text() and bar.showing_state  # replaced by the state at once
    assert bar.text() == "1 ring picked (1; %d peaks) — click ring 2 on the image, or press Calibrate." % len(win.session.picks)

    # a note expires and gives the strip back to the state
    npt = tmp_path / "picks.npt"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(npt), ""))
    win.panel.save_picks_clicked.emit()
    assert bar.text() == f"Picks saved to {npt}." and not bar.showing_state
    qtbot.waitUntil(lambda: bar.showing_state, timeout=3000)
    assert bar.text().startswith("1 ring picked") and bar.isVisible()

    # an error stays until the state moves on
    click_pixel(qtbot, win, 200, 300)  # a module gap of the Pilatus
    qtbot.waitUntil(lambda: bar.level == "error", timeout=10_000)
    assert "is on a detector gap" in bar.text()
    qtbot.wait(600)
    assert bar.level == "error"
    pick_on_image(qtbot, win, 1)
    assert bar.showing_state and bar.text().startswith("2 rings picked (1, 2;")

    # Calibrate: the verdict is the state; the next pick replaces it; dismissing the state hides the strip
    calibrate(qtbot, win)
    assert bar.showing_state and bar.text().startswith("Calibrated: ")
    win.modes.setCurrentRow(1)
    assert not bar.isVisible()  # the picking state belongs to the Calibration mode
    win.modes.setCurrentRow(0)
    pick_on_image(qtbot, win, 2)
    assert "click ring 4 on the image or the cake" in bar.text()
    qtbot.mouseClick(bar.findChild(QToolButton), Qt.LeftButton)  # ✕
    assert not bar.isVisible() and bar.state is None


def _sample_header(qtbot, win: MainWindow, monkeypatch, sample: Path, out: Path) -> str:
    """Integration mode: integrate ``sample`` with the session's calibration, save the .xy, return its Mask line."""
    win.modes.setCurrentRow(2)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(sample), ""))
    qtbot.mouseClick(win.integration_panel.open_button, Qt.LeftButton)
    idle(qtbot, win)
    assert win.integration.sample is not None, win.messages.text()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    qtbot.mouseClick(win.integration_panel.save_pattern_button, Qt.LeftButton)
    idle(qtbot, win)
    return next(line for line in out.read_text().splitlines() if line.startswith("# Mask: "))


def test_pattern_header_says_what_was_masked(qtbot, main_window, example_file, tmp_path, monkeypatch):
    win = main_window
    truth = example_geometry()
    generic = new_geometry(Detector(truth.detector.pixel1, truth.detector.pixel2), **geometry_values(truth))
    poni = tmp_path / "no_detector.poni"
    write_poni(poni, generic)  # a .poni naming no detector model

    # a .poni alone, without detector: the gaps are not masked, and the header says so
    win.modes.setCurrentRow(2)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(poni), ""))
    qtbot.mouseClick(win.integration_panel.load_poni_button, Qt.LeftButton)
    idle(qtbot, win)
    assert "module gaps are not masked" in win.messages.text()
    line = _sample_header(qtbot, win, monkeypatch, example_file, tmp_path / "generic.xy")
    assert static_mask(win.session, win.integration.sample.data.shape) is None  # what was done
    assert line == ("# Mask: negative or non-finite pixels of each image; "
                    "no detector gaps masked (generic detector: no module gaps known)")

    # the calibration image with its detector, and a user mask: both in the header, with their sizes
    win.modes.setCurrentRow(0)
    win.panel.select_detector(EXAMPLE.detector)
    win.calibration.set_detector(name=EXAMPLE.detector)
    win.open_source(str(example_file))
    idle(qtbot, win)
    win.session.mask.rectangle(10, 10, 19, 29, True)
    line = _sample_header(qtbot, win, monkeypatch, example_file, tmp_path / "pilatus.xy")
    masked = static_mask(win.session, win.integration.sample.data.shape)
    gaps, user = int(truth.detector.mask.sum()), int(win.session.user_mask.sum())
    assert user > 100 and masked.sum() == gaps + user  # the rectangle lies inside a module
    assert line == (f"# Mask: detector gaps (Pilatus 1M, {gaps} px), user mask ({user} px), "
                    "negative or non-finite pixels of each image")
