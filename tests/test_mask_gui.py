"""Mask mode driven as a user would: shapes drawn with real mouse events on the image view,
keyboard shortcuts, the panel's buttons, files through the (patched) file dialogs."""

from __future__ import annotations

from pathlib import Path

import fabio
import numpy as np
import pytest
from pyFAI.detectors import Detector
from PyQt5.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt5.QtGui import QColor, QMouseEvent
from PyQt5.QtWidgets import QApplication, QColorDialog, QFileDialog

from xcal.core.geometry.refinement import new_geometry
from xcal.core.masks.model import MaskModel, read_mask, write_mask
from xcal.core.masks.shapes import short_arc
from xcal.gui.main_window import MainWindow
from xcal.gui.mask_panel import MaskPanel
from xcal.gui.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TIMEOUT_MS = 60_000
SHAPE = (200, 300)


@pytest.fixture
def image_file(tmp_path) -> Path:
    """Smooth noise with a dead stripe (-1, like a module gap) and three hot pixels."""
    rng = np.random.default_rng(0)
    data = rng.poisson(100.0, SHAPE).astype(np.float32)
    data[:, 150:153] = -1
    for row, col in ((20, 30), (120, 240), (170, 60)):
        data[row, col] = 50_000
    path = tmp_path / "sample_0001.tif"
    fabio.tifimage.TifImage(data=data).write(str(path))
    return path


@pytest.fixture
def window(qtbot, main_window, image_file):
    win = main_window
    win.open_source(str(image_file))
    idle(qtbot, win)
    win.modes.setCurrentRow(1)
    win.tabs.setCurrentWidget(win.image_view)
    win.image_view.view.setRange(xRange=(0, 100), yRange=(0, 60), padding=0)  # big pixels: exact positions
    qtbot.wait(50)
    return win


def idle(qtbot, win: MainWindow) -> None:
    qtbot.waitUntil(lambda: not win.runner.busy, timeout=TIMEOUT_MS)


# -- mouse -------------------------------------------------------------------------------------------
def screen_pos(win: MainWindow, x: float, y: float) -> QPoint:
    """Viewport position of view point (x, y); view x = column + 0.5 at a pixel centre."""
    view = win.image_view
    return view.graphics.mapFromScene(view.view.mapViewToScene(QPointF(x, y)))


def view_point(win: MainWindow, pos: QPoint) -> tuple[float, float]:
    """Where a viewport position lands in pixel indices (row, col), after rounding to screen pixels."""
    view = win.image_view
    point = view.view.mapSceneToView(view.graphics.mapToScene(pos))
    return point.y() - 0.5, point.x() - 0.5


def send(win: MainWindow, kind: QEvent.Type, pos: QPoint, buttons=Qt.LeftButton, modifiers=Qt.NoModifier) -> None:
    button = Qt.NoButton if kind == QEvent.MouseMove else Qt.LeftButton
    held = Qt.NoButton if kind == QEvent.MouseButtonRelease else buttons
    event = QMouseEvent(kind, QPointF(pos), button, held, modifiers)
    QApplication.sendEvent(win.image_view.graphics.viewport(), event)


def drag(qtbot, win: MainWindow, start: QPoint, end: QPoint, modifiers=Qt.NoModifier) -> None:
    """Press, move (past pyqtgraph's drag distance, slower than its move-rate limit), release."""
    send(win, QEvent.MouseButtonPress, start, modifiers=modifiers)
    for fraction in (0.3, 0.7, 1.0):
        qtbot.wait(25)
        send(win, QEvent.MouseMove, start + (end - start) * fraction, modifiers=modifiers)
    qtbot.wait(25)
    send(win, QEvent.MouseButtonRelease, end, modifiers=modifiers)


def key(qtbot, win: MainWindow, code: int, modifier=Qt.NoModifier) -> None:
    """A key press on the image; button shortcuts click their button after Qt's 100 ms animation."""
    qtbot.keyClick(win.image_view.graphics, code, modifier)
    qtbot.wait(150)


def click(qtbot, win: MainWindow, pos: QPoint, double: bool = False) -> None:
    qtbot.wait(25)
    send(win, QEvent.MouseMove, pos, buttons=Qt.NoButton)
    send(win, QEvent.MouseButtonPress, pos)
    send(win, QEvent.MouseButtonRelease, pos)
    if double:  # what Qt sends for the second click of a double click
        send(win, QEvent.MouseButtonDblClick, pos)
        send(win, QEvent.MouseButtonRelease, pos)


# -- drawing ---------------------------------------------------------------------------------------
def test_draw_rectangle_and_polygon_with_the_mouse(qtbot, window):
    win = window
    mask = win.session.mask
    assert win.masking.active and win.image_view.view.drawing is False  # Pan until a tool is chosen
    win.mask_panel.set_tool("rectangle")
    assert win.image_view.view.drawing
    start, end = screen_pos(win, 10.0, 20.0), screen_pos(win, 40.0, 35.0)  # pixel edges: columns 10-39, rows 20-34
    drag(qtbot, win, start, end)
    expected = MaskModel(SHAPE)
    expected.rectangle(*view_point(win, start), *view_point(win, end))
    assert expected.count == pytest.approx(30 * 15, abs=2)
    assert mask.count == expected.count and np.array_equal(mask.array, expected.array)
    assert mask.array[20:35, 10:40].sum() >= 30 * 15 - 2
    assert np.array_equal(win.masking.tools.overlay.image.astype(bool), mask.array)  # drawn on the image
    assert f"{mask.count} pixels masked" in win.mask_panel.count_label.text()
    assert "Rectangle" in win.statusBar().currentMessage()

    # a polygon: clicks on the vertices, a double click closes it
    win.mask_panel.set_tool("polygon")
    assert not win.image_view.view.drawing  # clicks, not drags
    corners = [(50.0, 10.0), (90.0, 10.0), (90.0, 50.0)]  # (x, y): a right triangle of side 40
    positions = [screen_pos(win, x, y) for x, y in corners]
    for pos in positions[:-1]:
        click(qtbot, win, pos)
    assert len(win.masking.tools._vertices) == 2
    click(qtbot, win, positions[-1], double=True)
    expected.polygon([view_point(win, pos) for pos in positions])
    assert np.array_equal(mask.array, expected.array)
    triangle = expected.count - 30 * 15
    assert triangle == pytest.approx(40 * 40 / 2, rel=0.05)
    assert mask.undo_label == "polygon" and not win.masking.tools._vertices

    # undo / redo buttons
    win.mask_panel.undo_button.click()
    assert mask.count == expected.count - triangle
    win.mask_panel.redo_button.click()
    assert mask.count == expected.count

    # the mask is what the calibration excludes, and outside Mask mode clicks do not draw
    assert win.session.invalid[mask.array].all()
    win.modes.setCurrentRow(0)
    assert not win.image_view.view.drawing and win.image_view.mask_item.isVisible()
    assert not win.masking.tools.overlay.isVisible()
    count = mask.count
    click(qtbot, win, screen_pos(win, 70.0, 55.0))
    idle(qtbot, win)
    assert mask.count == count


def test_shortcuts_circle_point_arc_and_escape(qtbot, window):
    win = window
    mask = win.session.mask
    panel = win.mask_panel
    win.activateWindow()
    qtbot.waitActive(win)  # shortcuts act in the active window
    win.image_view.graphics.setFocus()
    for code, tool in ((Qt.Key_R, "rectangle"), (Qt.Key_C, "circle"), (Qt.Key_E, "ellipse"), (Qt.Key_P, "polygon"),
                      (Qt.Key_A, "arc"), (Qt.Key_D, "point"), (Qt.Key_N, "pan")):
        key(qtbot, win, code)
        assert panel.tool == tool, code

    key(qtbot, win, Qt.Key_C)
    centre, edge = screen_pos(win, 30.5, 30.5), screen_pos(win, 35.5, 30.5)  # radius 5 around pixel (30, 30)
    drag(qtbot, win, centre, edge)
    (r0, c0), (r1, c1) = view_point(win, centre), view_point(win, edge)
    expected = MaskModel(SHAPE)
    expected.circle(r0, c0, np.hypot(r1 - r0, c1 - c0))
    assert np.array_equal(mask.array, expected.array) and expected.count == pytest.approx(np.pi * 25, rel=0.15)

    key(qtbot, win, Qt.Key_D)
    panel.point_radius_box.setValue(0)
    click(qtbot, win, screen_pos(win, 80.5, 10.5))
    assert mask.array[10, 80] and mask.undo_label == "point"

    key(qtbot, win, Qt.Key_U)  # unmask mode
    assert not panel.masking
    click(qtbot, win, screen_pos(win, 80.5, 10.5))
    assert not mask.array[10, 80] and mask.undo_label == "unmask point"
    key(qtbot, win, Qt.Key_M)

    # no geometry: the arc is around a clicked centre; Shift makes the full ring
    key(qtbot, win, Qt.Key_A)
    before = mask.count
    drag(qtbot, win, screen_pos(win, 60.5, 30.5), screen_pos(win, 70.5, 30.5))
    assert mask.count == before and "centre" in win.statusBar().currentMessage()
    click(qtbot, win, screen_pos(win, 60.5, 30.5))
    drag(qtbot, win, screen_pos(win, 65.5, 30.5), screen_pos(win, 70.5, 30.5), Qt.ShiftModifier)
    assert mask.undo_label == "annulus"
    assert mask.count - before == pytest.approx(np.pi * (10**2 - 5**2), rel=0.1)

    # Esc drops a polygon being drawn, then goes back to Pan
    key(qtbot, win, Qt.Key_P)
    click(qtbot, win, screen_pos(win, 5.0, 5.0))
    assert win.masking.tools.drawing_in_progress
    key(qtbot, win, Qt.Key_Escape)
    assert not win.masking.tools.drawing_in_progress and panel.tool == "polygon"
    key(qtbot, win, Qt.Key_Escape)
    assert panel.tool == "pan"

    # Ctrl+Z / Ctrl+Y
    count = mask.count
    key(qtbot, win, Qt.Key_Z, Qt.ControlModifier)
    assert mask.count == before and mask.redo_label == "annulus"
    key(qtbot, win, Qt.Key_Y, Qt.ControlModifier)
    assert mask.count == count


def test_arc_in_two_theta_and_chi_with_a_geometry(qtbot, window):
    win = window
    geometry = new_geometry(Detector(1e-4, 1e-4, max_shape=SHAPE), dist=0.1, poni1=0.01, poni2=0.015, wavelength=1e-10)
    win.session.add_geometry("test", geometry)
    win.modes.setCurrentRow(0)
    win.modes.setCurrentRow(1)
    win.image_view.view.setRange(xRange=(100, 200), yRange=(60, 120), padding=0)  # around the beam
    win.mask_panel.set_tool("arc")
    idle(qtbot, win)  # the 2θ/χ maps are computed in the worker
    assert win.session.mask.angle_maps_ready(win.session.geometry)
    a, b = screen_pos(win, 160.5, 100.5), screen_pos(win, 175.5, 110.5)
    drag(qtbot, win, a, b)
    idle(qtbot, win)
    expected = MaskModel(SHAPE)
    rows, cols = np.array([view_point(win, p) for p in (a, b)]).T
    tth = np.degrees(geometry.tth(rows, cols))
    chi = np.degrees(geometry.chi(rows, cols))
    expected.sector(geometry, tuple(tth), short_arc(*chi))
    assert win.session.mask.count == expected.count > 20
    assert np.array_equal(win.session.mask.array, expected.array)


# -- panel actions -----------------------------------------------------------------------------------
def test_threshold_edit_and_hot_pixels(qtbot, window):
    win = window
    panel, mask = win.mask_panel, win.session.mask
    panel.above_box.setValue(10_000)
    panel.threshold_requested.emit("above", panel.above_box.value())
    assert mask.count == 3
    panel.grow_box.setValue(1)
    panel.grow_requested.emit(1)
    idle(qtbot, win)
    assert mask.count == 15
    panel.shrink_requested.emit(1)
    idle(qtbot, win)
    assert mask.count == 3
    panel.invert_clicked.emit()
    assert mask.count == SHAPE[0] * SHAPE[1] - 3
    panel.clear_clicked.emit()
    assert mask.count == 0 and panel.count_label.text() == "No pixels masked"
    panel.gaps_clicked.emit()
    assert mask.count == SHAPE[0] * 3

    panel.find_bad_pixels_clicked.emit(8.0)
    idle(qtbot, win)
    found = win.masking.suggestion
    assert found is not None and found.hot.sum() == 3 and found.hot[20, 30]
    assert "3 hot and 0 dead pixels" in panel.suggestion_label.text() and panel.accept_button.isEnabled()
    assert len(win.masking.tools.suggestion.data) == 3
    panel.accept_suggestion_clicked.emit()
    assert mask.count == SHAPE[0] * 3 + 3 and mask.undo_label == "hot and dead pixels"
    assert win.masking.suggestion is None and not panel.accept_button.isEnabled()


def test_mask_files_through_the_dialogs(qtbot, window, tmp_path, monkeypatch):
    win = window
    panel, mask = win.mask_panel, win.session.mask
    first = np.zeros(SHAPE, bool)
    first[:10] = True
    write_mask(tmp_path / "first.edf", first)
    second = np.zeros(SHAPE, bool)
    second[:, :5] = True
    write_mask(tmp_path / "second.npy", second)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "first.edf"), ""))
    panel.load_clicked.emit()
    idle(qtbot, win)
    assert np.array_equal(mask.array, first)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "second.npy"), ""))
    panel.add_clicked.emit()
    idle(qtbot, win)
    assert np.array_equal(mask.array, first | second)
    # saving: the chosen format's suffix is added to a bare name
    chosen = (str(tmp_path / "both"), "pyFAI / Fit2D mask (*.edf)")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: chosen)
    panel.save_clicked.emit()
    idle(qtbot, win)
    assert np.array_equal(read_mask(tmp_path / "both.edf"), first | second)
    assert "Mask saved" in win.messages.text()
    # a mask of another size is refused, naming both sizes; the mask is kept
    write_mask(tmp_path / "small.mask", np.ones((20, 30), bool))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "small.mask"), ""))
    panel.load_clicked.emit()
    idle(qtbot, win)
    assert "20 x 30" in win.messages.text() and "200 x 300" in win.messages.text()
    assert win.messages.level == "error" and np.array_equal(mask.array, first | second)


def test_display_settings_persist(qtbot, window, tmp_path, monkeypatch):
    win = window
    monkeypatch.setattr(QColorDialog, "getColor", lambda *a, **k: QColor("#00ff00"))
    win.mask_panel.color_button.click()
    win.mask_panel.opacity_slider.setValue(55)
    assert win.image_view.mask_color.name() == "#00ff00" and win.image_view.mask_opacity == pytest.approx(0.55)
    win.session.mask.rectangle(0, 0, 10, 10)
    win.masking.refresh()
    assert tuple(win.masking.tools.overlay.lut[1]) == (0, 255, 0, 140)
    win.save_settings()
    panel = MaskPanel()
    qtbot.addWidget(panel)
    panel.load_settings(Settings(tmp_path / "xcal.ini"))
    assert panel.color.name() == "#00ff00" and panel.opacity == pytest.approx(0.55)
    assert Settings(tmp_path / "xcal.ini").get("window/mode", 0) == 1
