"""Mask mode shows the image and says why a shape drawn elsewhere draws nothing; its hot-pixel
search does not trust a geometry the checks did not call good. Real mouse events, on xcal's
example image (with one hot pixel planted), file dialogs patched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PyQt5.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt5.QtGui import QMouseEvent
from PyQt5.QtWidgets import QApplication, QFileDialog, QWidget
from test_bad_pixel_search import HOT, distance_off, planted_example
from test_gui import idle
from test_gui_picking import calibrate, open_example, pick_on_image

from xcal.core.io.poni import write_poni
from xcal.gui.example import example_geometry
from xcal.gui.main_window import MainWindow

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    return planted_example(tmp_path_factory.mktemp("planted"))


def load_poni(qtbot, win: MainWindow, monkeypatch, path: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    qtbot.mouseClick(win.panel.load_poni_button, Qt.LeftButton)
    idle(qtbot, win)
    assert win.session.history[-1].label == f"loaded {path.name}", win.messages.text()


def send(viewport: QWidget, kind: QEvent.Type, pos: QPoint) -> None:
    button = Qt.NoButton if kind == QEvent.MouseMove else Qt.LeftButton
    held = Qt.NoButton if kind == QEvent.MouseButtonRelease else Qt.LeftButton
    QApplication.sendEvent(viewport, QMouseEvent(kind, QPointF(pos), button, held, Qt.NoModifier))


def drag(qtbot, viewport: QWidget, start: QPoint, end: QPoint) -> None:
    """Press, move past pyqtgraph's drag distance (slower than its move-rate limit), release."""
    send(viewport, QEvent.MouseButtonPress, start)
    for fraction in (0.3, 0.7, 1.0):
        qtbot.wait(25)
        send(viewport, QEvent.MouseMove, start + (end - start) * fraction)
    qtbot.wait(25)
    send(viewport, QEvent.MouseButtonRelease, end)


def image_pos(win: MainWindow, row: float, col: float) -> QPoint:
    view = win.image_view
    return view.graphics.mapFromScene(view.view.mapViewToScene(QPointF(col + 0.5, row + 0.5)))


def test_mask_mode_shows_the_image_and_says_why_elsewhere(qtbot, main_window, image_file, tmp_path, monkeypatch):
    win = main_window
    # before any image, a drawing tool says what is missing
    win.modes.setCurrentRow(1)
    qtbot.mouseClick(win.mask_panel.tool_buttons["rectangle"], Qt.LeftButton)
    viewport = win.image_view.graphics.viewport()
    drag(qtbot, viewport, QPoint(200, 200), QPoint(300, 300))
    assert win.messages.level == "warning" and "Load an image first" in win.messages.text()

    win.modes.setCurrentRow(0)
    open_example(qtbot, win, image_file)
    poni = tmp_path / "true.poni"
    write_poni(poni, example_geometry())
    load_poni(qtbot, win, monkeypatch, poni)
    tab_bar = win.tabs.tabBar()
    qtbot.mouseClick(tab_bar, Qt.LeftButton, pos=tab_bar.tabRect(1).center())  # the user looks at the cake
    assert win.tabs.currentWidget() is win.cake_view

    # entering Mask mode shows the image: a rectangle drawn there masks its pixels
    qtbot.mouseClick(win.modes.viewport(), Qt.LeftButton, pos=win.modes.visualItemRect(win.modes.item(1)).center())
    assert win.mask_panel.isVisible() and win.tabs.currentWidget() is win.image_view
    qtbot.waitUntil(lambda: win.image_view.view.drawing)
    drag(qtbot, viewport, image_pos(win, 100, 100), image_pos(win, 200, 260))
    mask = win.session.mask
    assert 150 * 100 < mask.count < 110 * 170 and mask.array[150, 180]

    # a rectangle dragged on the cake draws nothing, and says why
    qtbot.mouseClick(tab_bar, Qt.LeftButton, pos=tab_bar.tabRect(1).center())
    assert win.tabs.currentWidget() is win.cake_view
    count = mask.count
    cake = win.cake_view.plot.viewport()
    drag(qtbot, cake, QPoint(cake.width() // 3, cake.height() // 3), QPoint(cake.width() // 2, cake.height() // 2))
    assert mask.count == count
    assert win.messages.level == "warning" and "Rectangle tool draws on the image only" in win.messages.text()
    # the pattern too; choosing a drawing tool brings the image back
    qtbot.mouseClick(tab_bar, Qt.LeftButton, pos=tab_bar.tabRect(2).center())
    win.messages.clear()
    plot = win.pattern_view.plot.viewport()
    drag(qtbot, plot, QPoint(plot.width() // 3, plot.height() // 2), QPoint(plot.width() // 2, plot.height() // 2))
    assert "the pattern shows what the mask leaves out" in win.messages.text()
    qtbot.mouseClick(win.mask_panel.tool_buttons["circle"], Qt.LeftButton)
    assert win.tabs.currentWidget() is win.image_view


def test_hot_pixels_on_a_geometry_not_judged_good_use_the_median_filter(qtbot, main_window, image_file, tmp_path, monkeypatch):
    win = main_window
    open_example(qtbot, win, image_file)
    panel = win.mask_panel

    def find() -> None:
        win.messages.clear()
        qtbot.mouseClick(panel.find_button, Qt.LeftButton)
        idle(qtbot, win)

    # the true geometry with the distance 20 % off, loaded from a file: not checked on this image
    poni = tmp_path / "far.poni"
    write_poni(poni, distance_off(0.2))
    load_poni(qtbot, win, monkeypatch, poni)
    win.modes.setCurrentRow(1)
    find()
    found = win.masking.suggestion
    assert found is not None and found.method == "median filter", win.messages.text()
    assert found.hot[HOT] and found.hot.sum() == 1 and found.dead.sum() == 0
    text = win.messages.text()
    assert text.startswith("Found 1 hot and 0 dead pixels. The current geometry (loaded far.poni) has not been checked")
    assert "median filter" in text
    assert "1 hot and 0 dead pixels (median filter)" in panel.suggestion_label.text()
    qtbot.mouseClick(panel.accept_button, Qt.LeftButton)
    assert win.session.mask.array[HOT] and win.session.mask.count == 1

    # a real calibration with the ring number forced back ("Use my ring numbers"): judged bad
    qtbot.mouseClick(win.mask_panel.undo_button, Qt.LeftButton)
    win.modes.setCurrentRow(0)
    win.panel.ring_box.setValue(1)
    pick_on_image(qtbot, win, 1)  # the second ring, typed as the first
    calibrate(qtbot, win)
    qtbot.mouseClick(win.panel.verdict.revert_button, Qt.LeftButton)
    idle(qtbot, win)
    assert win.session.verdict.level == "bad"
    win.modes.setCurrentRow(1)
    find()
    found = win.masking.suggestion
    assert found.method == "median filter" and found.hot[HOT] and found.hot.sum() == 1
    assert "The calibration was judged bad (" in win.messages.text() and win.messages.level == "warning"

    # the calibration the image confirms: the pixels at one 2θ are the reference
    win.modes.setCurrentRow(0)
    qtbot.mouseClick(win.panel.calibrate_button, Qt.LeftButton)
    idle(qtbot, win)
    assert win.session.verdict.level == "good", win.session.verdict.text
    win.modes.setCurrentRow(1)
    find()
    found = win.masking.suggestion
    assert found.method == "azimuthal statistics" and found.hot[HOT] and found.hot.sum() < 20
    assert win.messages.text() == ""
    assert int(np.count_nonzero(found.mask)) == len(win.masking.tools.suggestion.data)
