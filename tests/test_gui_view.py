"""The views as a Dioptas user drives them, with real mouse and key events on real images: a new
image of another shape fitted to the window, the zoom rectangle, xcal's right-click menu, the
contrast controls (levels, colormap, log) on the image and the cake kept between sessions, the
cake's "Computing" state and its 2θ/χ read-out, and integration mode's resizable, maximisable panes."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from PyQt5.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt5.QtGui import QImage, QMouseEvent
from PyQt5.QtWidgets import QApplication, QFileDialog, QMenu, QMessageBox

from xcal.core.integration.integrator import METHOD
from xcal.core.io.poni import write_poni
from xcal.gui.colormaps import colormap
from xcal.gui.example import example_geometry, make_example
from xcal.gui.levels_control import log_scaled
from xcal.gui.main_window import MainWindow
from xcal.gui.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> dict[str, Path]:
    """xcal's example image (CeO2, Pilatus 1M) and its true geometry as a .poni file."""
    folder = tmp_path_factory.mktemp("example")
    poni = folder / "example.poni"
    write_poni(poni, example_geometry())
    return {"image": make_example(folder), "poni": poni}


def new_window(qtbot, settings_file: Path, monkeypatch) -> MainWindow:
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Discard)
    win = MainWindow(settings=Settings(settings_file))
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    return win


def idle(qtbot, win: MainWindow) -> None:
    qtbot.waitUntil(lambda: not win.runner.busy, timeout=TIMEOUT_MS)


def load(qtbot, win: MainWindow, path: Path) -> None:
    win.open_source(str(path))
    idle(qtbot, win)
    assert win.messages.level != "error", win.messages.text()
    qtbot.wait(50)  # the layout settles (the histogram's axis takes the width of its new labels)


def with_poni(qtbot, win: MainWindow, monkeypatch, poni: Path) -> None:
    """The user presses Load Calibration… and chooses ``poni``."""
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(poni), ""))
    qtbot.mouseClick(win.panel.load_poni_button, Qt.LeftButton)


# -- mouse on a pyqtgraph view -----------------------------------------------------------------------
def viewport_pos(graphics, box, x: float, y: float) -> QPoint:
    """Viewport position of view point (x, y) in ``box``, shown by the GraphicsView ``graphics``."""
    return graphics.mapFromScene(box.mapViewToScene(QPointF(x, y)))


def view_point(graphics, box, pos: QPoint) -> QPointF:
    return box.mapSceneToView(graphics.mapToScene(pos))


def send(graphics, kind: QEvent.Type, pos: QPoint, button=Qt.LeftButton, held=None, modifiers=Qt.NoModifier) -> None:
    if held is None:
        held = Qt.NoButton if kind == QEvent.MouseButtonRelease else button
    event = QMouseEvent(kind, QPointF(pos), Qt.NoButton if kind == QEvent.MouseMove else button, held, modifiers)
    QApplication.sendEvent(graphics.viewport(), event)


def drag(qtbot, graphics, start: QPoint, end: QPoint, button=Qt.LeftButton, modifiers=Qt.NoModifier) -> None:
    """Press, move (past pyqtgraph's drag distance, slower than its move-rate limit), release."""
    send(graphics, QEvent.MouseMove, start, held=Qt.NoButton)
    send(graphics, QEvent.MouseButtonPress, start, button, modifiers=modifiers)
    for fraction in (0.3, 0.7, 1.0):
        qtbot.wait(25)
        send(graphics, QEvent.MouseMove, start + (end - start) * fraction, button, modifiers=modifiers)
    qtbot.wait(25)
    send(graphics, QEvent.MouseButtonRelease, end, button, modifiers=modifiers)


def right_click(qtbot, graphics, pos: QPoint) -> None:
    send(graphics, QEvent.MouseMove, pos, held=Qt.NoButton)
    send(graphics, QEvent.MouseButtonPress, pos, Qt.RightButton)
    send(graphics, QEvent.MouseButtonRelease, pos, Qt.RightButton)


def menu_click(qtbot, menu, text: str) -> None:
    """Click the entry ``text`` of an open menu."""
    qtbot.waitUntil(menu.isVisible)
    action = next(a for a in menu.actions() if a.text() == text)
    qtbot.mouseClick(menu, Qt.LeftButton, pos=menu.actionGeometry(action).center())


def view_rect(box) -> tuple[float, float, float, float]:
    (x0, x1), (y0, y1) = box.viewRange()
    return x0, x1, y0, y1


# -- 1. a new image of another shape ------------------------------------------------------------------
def test_image_of_another_shape_is_fitted_same_shape_keeps_the_zoom(qtbot, tmp_path, monkeypatch, real_data):
    from xcal.core.io.images import load_image

    big, small = real_data / "chess_CeO2_Dexela2923_29p8keV.h5", real_data / "cpf_CeO2_Pilatus1M_30keV.tif"
    assert load_image(str(big)).shape == (3888, 3072) and load_image(str(small)).shape == (1043, 981)
    win = new_window(qtbot, tmp_path / "xcal.ini", monkeypatch)
    view = win.image_view
    load(qtbot, win, big)
    # the user zooms on a corner (a rectangle drawn with the right button)
    graphics = view.graphics
    drag(qtbot, graphics, viewport_pos(graphics, view.view, 300, 300), viewport_pos(graphics, view.view, 900, 800),
         Qt.RightButton)
    x0, x1, y0, y1 = view_rect(view.view)
    assert x1 - x0 < 3072 / 2
    load(qtbot, win, small)
    assert win.session.data.shape == (1043, 981)
    x0, x1, y0, y1 = view_rect(view.view)
    assert x0 <= 0 and x1 >= 981 and y0 <= 0 and y1 >= 1043  # the whole new image is in the window
    assert min((x1 - x0) / 981, (y1 - y0) / 1043) < 1.05  # and fills it along one side
    # a zoom, then another image of the same shape (the next file of a series): the zoom stays
    drag(qtbot, graphics, viewport_pos(graphics, view.view, 200, 300), viewport_pos(graphics, view.view, 400, 450),
         Qt.RightButton)
    zoomed = view_rect(view.view)
    assert zoomed[1] - zoomed[0] < 300
    load(qtbot, win, real_data / "dioptas_CeO2_Pilatus1M_30keV.tif")
    assert win.session.data.shape == (1043, 981)
    # (within a screen pixel or two: the message strip above may take another line)
    assert view_rect(view.view) == pytest.approx(zoomed, abs=0.01 * (zoomed[1] - zoomed[0]))


# -- 7. zoom rectangle and the right-click menu -----------------------------------------------------
def test_zoom_rectangle_pan_and_right_click_menu_on_the_image(qtbot, tmp_path, monkeypatch, example):
    win = new_window(qtbot, tmp_path / "xcal.ini", monkeypatch)
    load(qtbot, win, example["image"])
    view, graphics = win.image_view, win.image_view.graphics
    full = view_rect(view.view)

    # right-drag: the view shows the rectangle (the aspect ratio kept: the other side grows)
    start, end = viewport_pos(graphics, view.view, 300, 200), viewport_pos(graphics, view.view, 500, 320)
    a, b = view_point(graphics, view.view, start), view_point(graphics, view.view, end)
    drag(qtbot, graphics, start, end, Qt.RightButton)
    x0, x1, y0, y1 = view_rect(view.view)
    assert x0 <= a.x() + 1 and x1 >= b.x() - 1 and y0 <= a.y() + 1 and y1 >= b.y() - 1
    assert min((x1 - x0) / (b.x() - a.x()), (y1 - y0) / (b.y() - a.y())) == pytest.approx(1, abs=0.02)
    assert not win.session.picks.groups  # a zoom is not a pick

    # Ctrl + left drag zooms too; a plain left drag pans (same size, moved)
    start, end = viewport_pos(graphics, view.view, 350, 230), viewport_pos(graphics, view.view, 400, 260)
    a, b = view_point(graphics, view.view, start), view_point(graphics, view.view, end)
    drag(qtbot, graphics, start, end, Qt.LeftButton, Qt.ControlModifier)
    x0, x1, y0, y1 = view_rect(view.view)
    assert min((x1 - x0) / (b.x() - a.x()), (y1 - y0) / (b.y() - a.y())) == pytest.approx(1, abs=0.05)
    before = view_rect(view.view)
    drag(qtbot, graphics, viewport_pos(graphics, view.view, 370, 245), viewport_pos(graphics, view.view, 360, 240))
    after = view_rect(view.view)
    assert after[1] - after[0] == pytest.approx(before[1] - before[0]) and after[0] > before[0]

    # right click: xcal's menu, not pyqtgraph's
    right_click(qtbot, graphics, viewport_pos(graphics, view.view, 370, 245))
    menu = view.menu
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts == ["Fit to window", "Zoom in", "Zoom out", "Colormap", "Log scale", "Auto contrast", "Save view as PNG…"]
    assert [w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu) and w.isVisible()] == [menu]
    menu_click(qtbot, menu, "Fit to window")
    assert view_rect(view.view) == pytest.approx(full, abs=1.0)

    # Save view as PNG…: what is shown, 2048 pixels wide
    path = tmp_path / "view"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    right_click(qtbot, graphics, viewport_pos(graphics, view.view, 370, 245))
    menu_click(qtbot, view.menu, "Save view as PNG…")
    saved = QImage(str(path) + ".png")
    assert saved.width() == 2048 and saved.height() > 1000


# -- 6. contrast: levels, colormap, log, kept between sessions ---------------------------------------
def expected_color(cmap_name: str, value: float, levels: tuple[float, float]) -> np.ndarray:
    low, high = levels
    return colormap(cmap_name).map(np.clip((value - low) / (high - low), 0, 1), mode="byte")[:3]


def shown_color(item, row: int, col: int) -> np.ndarray:
    item.render()
    color = item.qimage.pixelColor(col, row)
    return np.array([color.red(), color.green(), color.blue()])


def test_contrast_controls_reach_the_lookup_table_and_are_kept(qtbot, tmp_path, monkeypatch, example):
    settings = tmp_path / "xcal.ini"
    win = new_window(qtbot, settings, monkeypatch)
    load(qtbot, win, example["image"])
    view, item = win.image_view, win.image_view.image_item
    data = win.session.data
    contrast = view.contrast

    # colormap chosen with the keyboard in the visible box, log scale by a click
    qtbot.keyClicks(contrast.colormap_box, "Viridis")
    assert contrast.colormap == "viridis"
    qtbot.mouseClick(view.log_box, Qt.LeftButton, pos=QPoint(6, view.log_box.height() // 2))
    assert view.log_box.isChecked()
    np.testing.assert_allclose(item.image, log_scaled(data))
    levels = tuple(item.getLevels())
    valid = item.image[~win.session.invalid]
    assert levels == pytest.approx(tuple(np.percentile(valid, (1, 99.8))), rel=0.05)
    row, col = np.unravel_index(np.argmin(np.abs(item.image - np.mean(levels))), item.image.shape)
    np.testing.assert_allclose(shown_color(item, row, col), expected_color("viridis", item.image[row, col], levels), atol=4)

    # the histogram's upper level dragged down with the mouse: brighter, and kept for the next frame
    hist = view.histogram
    qtbot.wait(50)  # the histogram's range follows the new values when it is painted
    top, target = (view.graphics.mapFromScene(hist.vb.mapViewToScene(QPointF(0, level)))
                   for level in (levels[1], levels[0] + 0.5 * (levels[1] - levels[0])))
    drag(qtbot, view.graphics, top, QPoint(top.x(), target.y()))
    moved = tuple(item.getLevels())
    assert moved[1] < levels[1] - 0.3 * (levels[1] - levels[0]) and moved[0] == pytest.approx(levels[0])
    assert not contrast.auto
    np.testing.assert_allclose(shown_color(item, row, col), expected_color("viridis", item.image[row, col], moved), atol=4)
    view.set_image(data * 2, win.session.invalid, reset_view=False)  # the next frame of the series
    assert tuple(item.getLevels()) == pytest.approx(moved)
    qtbot.mouseClick(view.auto_button, Qt.LeftButton)
    assert tuple(item.getLevels()) == pytest.approx(tuple(np.percentile(log_scaled(data * 2)[~win.session.invalid],
                                                                        (1, 99.8))), rel=0.05)

    # the cake's own controls: inferno, linear
    with_poni(qtbot, win, monkeypatch, example["poni"])
    idle(qtbot, win)
    win.tabs.setCurrentWidget(win.cake_view)
    cake = win.cake_view
    assert cake.contrast.log  # faint outer rings: log scale by default
    qtbot.keyClicks(cake.contrast.colormap_box, "Inferno")
    qtbot.mouseClick(cake.contrast.log_box, Qt.LeftButton, pos=QPoint(6, cake.contrast.log_box.height() // 2))
    assert not cake.contrast.log and cake.contrast.colormap == "inferno"
    intensity = cake.image_item.image
    np.testing.assert_array_equal(intensity, cake._cake.intensity)
    cake_levels = tuple(cake.image_item.getLevels())
    r, c = np.unravel_index(np.argmax(intensity), intensity.shape)  # the brightest bin: top of the colormap
    np.testing.assert_allclose(shown_color(cake.image_item, r, c), expected_color("inferno", intensity[r, c], cake_levels),
                               atol=4)

    # a new session shows them again
    win.calibration.saved_geometry = win.session.geometry
    assert win.close()
    second = new_window(qtbot, settings, monkeypatch)
    assert second.image_view.contrast.colormap == "viridis" and second.image_view.log_box.isChecked()
    assert second.cake_view.contrast.colormap == "inferno" and not second.cake_view.contrast.log
    load(qtbot, second, example["image"])
    item = second.image_view.image_item
    np.testing.assert_allclose(item.image, log_scaled(data))
    np.testing.assert_allclose(shown_color(item, row, col), expected_color("viridis", item.image[row, col],
                                                                           tuple(item.getLevels())), atol=4)


# -- 6 and 7 on the cake: progress, zoom, read-out -----------------------------------------------------
def number(text: str, label: str) -> float:
    match = re.search(label + r" (-?[0-9.]+)", text)
    assert match, f"{label} not in {text!r}"
    return float(match.group(1))


def test_cake_computing_state_zoom_and_readout_in_two_theta_chi(qtbot, tmp_path, monkeypatch, example):
    win = new_window(qtbot, tmp_path / "xcal.ini", monkeypatch)
    load(qtbot, win, example["image"])
    win.tabs.setCurrentWidget(win.cake_view)
    cake = win.cake_view
    assert cake.stack.currentIndex() == 0 and "appears after a calibration" in cake.message.text()  # no empty axes
    with_poni(qtbot, win, monkeypatch, example["poni"])
    qtbot.waitUntil(lambda: cake.computing, timeout=TIMEOUT_MS)
    assert cake.stack.currentIndex() == 0 and cake.message.text() == "Computing the cake…"
    assert cake.busy_bar.isVisible() and win.pattern_view.message.text() == "Computing the pattern…"
    idle(qtbot, win)
    assert not cake.computing and cake.stack.currentWidget() is cake.content and not cake.status.isVisible()

    # the same cake from pyFAI itself
    geometry = win.session.geometry
    ai = AzimuthalIntegrator(detector=geometry.detector, wavelength=geometry.wavelength)
    ai.setPyFAI(**geometry.getPyFAI())
    direct = ai.integrate2d(win.session.data, 1000, 360, unit="2th_deg", method=METHOD, mask=win.session.invalid)
    shown = cake._cake
    np.testing.assert_allclose(shown.radial, direct.radial, rtol=1e-6)
    np.testing.assert_allclose(shown.azimuth, direct.azimuthal, rtol=1e-6)

    # zoom on a ring with a right drag, then hover over one bin
    graphics, box = cake.plot, cake.box
    qtbot.wait(50)  # the plot's range follows the new cake when it is painted
    i, j = 200, int(np.argmax(shown.intensity[200]))
    tth, chi = float(direct.radial[j]), float(direct.azimuthal[i])
    start, end = viewport_pos(graphics, box, tth - 0.5, chi - 8), viewport_pos(graphics, box, tth + 0.5, chi + 8)
    a, b = view_point(graphics, box, start), view_point(graphics, box, end)
    drag(qtbot, graphics, start, end, Qt.RightButton)
    x0, x1, y0, y1 = view_rect(box)
    assert (x0, x1) == pytest.approx((a.x(), b.x()), abs=0.02) and (min(y0, y1), max(y0, y1)) == pytest.approx(
        (min(a.y(), b.y()), max(a.y(), b.y())), abs=0.3)
    pos = viewport_pos(graphics, box, tth, chi)
    qtbot.mouseMove(graphics.viewport(), pos)
    qtbot.waitUntil(lambda: "χ" in win.cursor_label.text())
    text = win.cursor_label.text()
    pixel = view_point(graphics, box, pos + QPoint(1, 1)) - view_point(graphics, box, pos)
    assert number(text, "2θ") == pytest.approx(tth, abs=abs(pixel.x()) + 1e-4)
    assert number(text, "χ") == pytest.approx(chi, abs=abs(pixel.y()) + 0.01)
    assert number(text, "I") == pytest.approx(float(direct.intensity[i, j]), rel=1e-4)
    theta = math.radians(number(text, "2θ")) / 2
    assert number(text, "d") == pytest.approx(geometry.wavelength * 1e10 / (2 * math.sin(theta)), rel=1e-3)
    assert number(text, "q") == pytest.approx(4 * math.pi * math.sin(theta) / (geometry.wavelength * 1e10), rel=1e-3)
    assert not text.startswith("x ")  # not the image's x/y read-out

    # the menu's Fit to window shows the whole cake again
    right_click(qtbot, graphics, pos)
    assert "Colormap" in [a.text() for a in cake.menu.actions()]
    menu_click(qtbot, cake.menu, "Fit to window")
    qtbot.waitUntil(lambda: view_rect(box)[1] - view_rect(box)[0] > 10)
    x0, x1, y0, y1 = view_rect(box)
    dx = shown.radial[1] - shown.radial[0]
    assert (x0, x1) == pytest.approx((shown.radial[0] - dx / 2, shown.radial[-1] + dx / 2), abs=1e-3)

    # the pattern's read-out in 2θ, d, q
    win.tabs.setCurrentWidget(win.pattern_view)
    plot = win.pattern_view.plot
    qtbot.wait(50)
    (_, _), (low, high) = plot.getPlotItem().vb.viewRange()
    qtbot.mouseMove(plot.viewport(), viewport_pos(plot, plot.getPlotItem().vb, tth, (low + high) / 2))
    qtbot.waitUntil(lambda: "χ" not in win.cursor_label.text() and "2θ" in win.cursor_label.text())
    assert number(win.cursor_label.text(), "2θ") == pytest.approx(tth, abs=0.05)
    assert "d " in win.cursor_label.text() and "q " in win.cursor_label.text()


# -- 9. integration mode's layout -----------------------------------------------------------------------
def test_integration_panes_resize_maximise_and_are_kept(qtbot, tmp_path, monkeypatch):
    settings = tmp_path / "xcal.ini"
    win = new_window(qtbot, settings, monkeypatch)
    win.modes.setCurrentRow(2)
    view = win.integration_view
    qtbot.waitUntil(view.isVisible)
    image_width, right_width = view.splitter.sizes()
    assert image_width / (image_width + right_width) == pytest.approx(1 / 3, abs=0.04)

    # double click on the cake's title: the cake alone; its button: the layout back
    panes = view.panes
    qtbot.mouseDClick(panes["cake"].title_bar, Qt.LeftButton)
    assert panes["cake"].isVisible() and not panes["image"].isVisible() and not panes["pattern"].isVisible()
    qtbot.waitUntil(lambda: panes["cake"].width() > 0.95 * view.splitter.width()
                    and panes["cake"].height() > 0.9 * view.splitter.height())
    qtbot.mouseClick(panes["cake"].button, Qt.LeftButton)
    assert all(pane.isVisible() for pane in panes.values())
    assert view.splitter.sizes() == [image_width, right_width]

    # the user drags the splitter between image and plots to the right
    handle = view.splitter.handle(1)
    centre = QPoint(handle.width() // 2, handle.height() // 2)
    for kind, pos in ((QEvent.MouseButtonPress, centre), (QEvent.MouseMove, centre + QPoint(120, 0)),
                      (QEvent.MouseButtonRelease, centre + QPoint(120, 0))):
        held = Qt.NoButton if kind == QEvent.MouseButtonRelease else Qt.LeftButton
        button = Qt.NoButton if kind == QEvent.MouseMove else Qt.LeftButton
        QApplication.sendEvent(handle, QMouseEvent(kind, QPointF(pos), QPointF(handle.window().mapFromGlobal(
            handle.mapToGlobal(pos))), QPointF(handle.mapToGlobal(pos)), button, held, Qt.NoModifier))
    dragged = view.splitter.sizes()
    assert dragged[0] == pytest.approx(image_width + 120, abs=3)
    right = view.right.sizes()
    # the pattern maximised when the window closes: the next session has the layout under it
    qtbot.mouseClick(panes["pattern"].button, Qt.LeftButton)
    assert not panes["cake"].isVisible()
    assert win.close()
    second = new_window(qtbot, settings, monkeypatch)
    assert second.centre_views.currentWidget() is second.integration_view
    qtbot.waitUntil(second.integration_view.isVisible)
    assert all(pane.isVisible() for pane in second.integration_view.panes.values())
    assert second.integration_view.splitter.sizes() == dragged and second.integration_view.right.sizes() == right
