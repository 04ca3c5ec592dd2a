"""Picking again after Calibrate, as a Dioptas user does, and the keys they expect: real mouse
clicks on the cake and the image, real Ctrl+O/S/Z key presses, on xcal's example image (true
geometry known). File dialogs are patched, nothing else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PyQt5.QtCore import QPoint, QPointF, Qt
from PyQt5.QtWidgets import QFileDialog
from test_gui import TIMEOUT_MS, click_pixel, idle

from xcal.core.calibration.cake_pick import detector_pixel
from xcal.core.geometry.refinement import ring_tth
from xcal.core.io.poni import read_poni
from xcal.gui.example import EXAMPLE, example_geometry, make_example
from xcal.gui.main_window import MainWindow

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def example_file(tmp_path_factory) -> Path:
    return make_example(tmp_path_factory.mktemp("example"))


def open_example(qtbot, win: MainWindow, path: Path) -> None:
    """The example's start values typed in, then the image loaded, as ``xcal --example`` does."""
    panel = win.panel
    panel.energy_box.setValue(EXAMPLE.energy_kev)
    panel.select_detector(EXAMPLE.detector)
    win.calibration.set_calibrant(EXAMPLE.calibrant)
    win.open_source(str(path))
    idle(qtbot, win)


def ring_pixel(win: MainWindow, ring: int, chi_deg: float = 10.0) -> tuple[float, float]:
    """(row, col) on ``ring`` (0-based) of the true geometry, near ``chi_deg``, away from gaps and masked pixels."""
    truth = example_geometry()
    tth = np.degrees(ring_tth(win.session.dspacing, np.array([ring]), truth.wavelength)[0])
    invalid = win.session.invalid
    for chi in chi_deg + np.arange(0, 180, 3.0):
        row, col = detector_pixel(truth, invalid.shape, tth, chi)
        r, c = round(row), round(col)
        if 6 <= r < invalid.shape[0] - 6 and 6 <= c < invalid.shape[1] - 6 and not invalid[r - 6:r + 7, c - 6:c + 7].any():
            return row, col
    raise AssertionError("no clean pixel on the ring")


def pick_on_image(qtbot, win: MainWindow, ring: int) -> None:
    before = len(win.session.picks.groups)
    click_pixel(qtbot, win, *ring_pixel(win, ring))
    qtbot.waitUntil(lambda: len(win.session.picks.groups) == before + 1 or win.messages.level == "error", timeout=TIMEOUT_MS)
    idle(qtbot, win)
    assert len(win.session.picks.groups) == before + 1, win.messages.text()


def calibrate(qtbot, win: MainWindow) -> None:
    qtbot.mouseClick(win.panel.calibrate_button, Qt.LeftButton)
    idle(qtbot, win)
    assert win.session.result is not None, win.messages.text()


def cake_pos(win: MainWindow, tth_deg: float, chi_deg: float) -> QPoint:
    """Viewport position of the cake point (2θ, χ)."""
    plot = win.cake_view.plot
    return plot.mapFromScene(plot.getPlotItem().vb.mapViewToScene(QPointF(tth_deg, chi_deg)))


def true_rms_deg(points: np.ndarray, ring: int, win: MainWindow) -> float:
    truth = example_geometry()
    line = ring_tth(win.session.dspacing, np.array([ring]), truth.wavelength)[0]
    return float(np.degrees(np.sqrt(np.mean((truth.tth(points[:, 0], points[:, 1]) - line) ** 2))))


def press(qtbot, win: MainWindow, key: int) -> None:
    """Ctrl+``key`` pressed on the window, as from the keyboard."""
    win.activateWindow()
    qtbot.keyClick(win, key, Qt.ControlModifier)


# -- picking again after Calibrate -----------------------------------------------------------------
def test_click_on_the_cake_picks_the_ring_there(qtbot, main_window, example_file):
    win = main_window
    open_example(qtbot, win, example_file)
    pick_on_image(qtbot, win, 0)
    calibrate(qtbot, win)
    assert win.tabs.currentWidget() is win.cake_view and win.panel.tabs.currentIndex() == 1  # Geometry and Cake
    qtbot.waitUntil(lambda: win.calibration.views_geometry is win.session.geometry, timeout=TIMEOUT_MS)
    assert "Calibrated" in win.messages.text() and win.messages.showing_state

    # a click on ring 3's line of the cake picks ring 3 on the image, as Dioptas does
    win.panel.ring_box.setValue(3)
    row, col = ring_pixel(win, 2, chi_deg=40.0)
    geometry = win.session.geometry
    tth, chi = (float(np.degrees(f(np.array([row]), np.array([col]))[0])) for f in (geometry.tth, geometry.chi))
    groups = len(win.session.picks.groups)
    qtbot.mouseClick(win.cake_view.plot.viewport(), Qt.LeftButton, pos=cake_pos(win, tth, chi))
    qtbot.waitUntil(lambda: len(win.session.picks.groups) == groups + 1 or win.messages.level == "error", timeout=TIMEOUT_MS)
    idle(qtbot, win)
    group = win.session.picks.groups[-1]
    assert group.ring == 2 and len(group.points) > 50, win.messages.text()
    assert true_rms_deg(group.points, 2, win) < 0.01  # on the true ring 3
    assert win.tabs.currentWidget() is win.cake_view  # the user stays where they clicked
    assert len(win.calibration.cake_picks.data) == len(win.session.picks)  # the picks are drawn on the cake
    assert win.messages.showing_state and "2 rings picked (1, 3;" in win.messages.text()
    assert "Calibrated" not in win.messages.text()  # the state moved on
    assert win.panel.ring_box.value() == 4

    # a click on the cake where no pixel is: said, nothing picked
    axis = win.cake_view.plot.getPlotItem().vb.viewRange()
    qtbot.mouseClick(win.cake_view.plot.viewport(), Qt.LeftButton, pos=cake_pos(win, axis[0][1] * 0.995, 0.0))
    idle(qtbot, win)
    assert len(win.session.picks.groups) == groups + 1
    assert win.messages.level == "error" and "off the detector" in win.messages.text()

    # Calibrate again with the new ring: both rings in the fit
    calibrate(qtbot, win)
    assert {0, 2} <= set(win.session.picks.rings())


def test_pick_more_button_brings_the_image_and_the_ring_number_back(qtbot, main_window, example_file):
    win = main_window
    open_example(qtbot, win, example_file)
    pick_on_image(qtbot, win, 0)
    calibrate(qtbot, win)
    assert win.tabs.currentWidget() is win.cake_view
    qtbot.mouseClick(win.panel.pick_more_button, Qt.LeftButton)
    assert win.tabs.currentWidget() is win.image_view and win.panel.tabs.currentIndex() == 0
    assert win.panel.ring_box.isVisible()
    assert win.messages.text() == "Picking: click on ring 2 of the image (or the cake), then press Calibrate."
    pick_on_image(qtbot, win, 1)  # one click, straight away
    assert [g.ring for g in win.session.picks.groups] == [0, 1]


# -- keys ------------------------------------------------------------------------------------------
def test_ctrl_o_s_z(qtbot, main_window, example_file, tmp_path, monkeypatch):
    win = main_window
    panel = win.panel
    panel.energy_box.setValue(EXAMPLE.energy_kev)
    panel.select_detector(EXAMPLE.detector)
    win.calibration.set_calibrant(EXAMPLE.calibrant)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(example_file), ""))
    press(qtbot, win, Qt.Key_O)  # Ctrl+O: load image
    idle(qtbot, win)
    assert win.session.raw is not None and win.session.raw.name == example_file.name

    pick_on_image(qtbot, win, 0)
    pick_on_image(qtbot, win, 1)
    assert panel.ring_box.value() == 3
    press(qtbot, win, Qt.Key_Z)  # Ctrl+Z: the last pick group goes
    assert [g.ring for g in win.session.picks.groups] == [0] and panel.ring_box.value() == 2
    assert len(win.image_view.picks_item.data) == len(win.session.picks)
    assert "1 ring picked (1;" in win.messages.text()

    calibrate(qtbot, win)
    poni = tmp_path / "example.poni"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(poni), ""))
    press(qtbot, win, Qt.Key_S)  # Ctrl+S: save the calibration
    assert poni.is_file() and not win.calibration.unsaved
    saved, geometry = read_poni(poni).geometry, win.session.geometry
    for name in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"):
        assert getattr(saved, name) == pytest.approx(getattr(geometry, name), rel=1e-9, abs=1e-12)
    assert type(saved.detector).__name__ == "Pilatus1M"

    # in Mask mode Ctrl+Z undoes mask steps and leaves the picks alone
    win.modes.setCurrentRow(1)
    assert win.session.mask.rectangle(10, 10, 40, 40, True) > 0
    win.masking.refresh()
    picks = len(win.session.picks)
    press(qtbot, win, Qt.Key_Z)
    assert win.session.mask.count == 0 and len(win.session.picks) == picks

    # in Integration mode Ctrl+O loads a sample image
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: asked.append(a[1]) or ("", ""))
    win.modes.setCurrentRow(2)
    press(qtbot, win, Qt.Key_O)
    assert asked == ["Load a sample image"]
