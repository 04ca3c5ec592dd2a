"""The "Manual calibration by point selection" dialog, driven by real mouse clicks on its two views.

A synthetic image holds one Gaussian ring (R = 200 px, σ = 1.5 px, Poisson noise) about a known
centre; clicks are made 2 px off the ring, as a hurried user would, and the refined fit must
still find the centre within 0.1 px.
"""

from __future__ import annotations

from pathlib import Path

import fabio
import numpy as np
import pytest
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QFileDialog, QMessageBox

from xcal.core.beam import beam_centre
from xcal.core.circle_calibration import distance_from_radius
from xcal.gui.circle_dialog import CircleDialog
from xcal.gui.main_window import MainWindow
from xcal.gui.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SHAPE = (620, 700)
ROW0, COL0, RADIUS = 301.3, 352.7, 200.0  # pyFAI indices of the true centre
TIMEOUT_MS = 30_000


def ring_data(seed: int = 1) -> np.ndarray:
    rr, cc = np.mgrid[: SHAPE[0], : SHAPE[1]]
    r = np.hypot(rr - ROW0, cc - COL0)
    lam = 20.0 + 400.0 * np.exp(-0.5 * ((r - RADIUS) / 1.5) ** 2)
    return np.random.default_rng(seed).poisson(lam).astype(np.float32)


@pytest.fixture(scope="module")
def ring_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("circle") / "ring_0001.tif"
    fabio.tifimage.TifImage(data=ring_data()).write(str(path))
    return path


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, ring_file):
    monkeypatch.setenv("XCAL_CALIBRANT_DIR", str(tmp_path / "calibrants"))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Discard)
    win = MainWindow(settings=Settings(tmp_path / "xcal.ini"))
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    win.open_source(str(ring_file))
    qtbot.waitUntil(lambda: win.session.raw is not None and not win.runner.busy, timeout=TIMEOUT_MS)
    return win


def open_dialog(qtbot, win: MainWindow) -> CircleDialog:
    qtbot.mouseClick(win.panel.circle_button, Qt.LeftButton)
    dialog = win.calibration.circle_dialog
    assert dialog is not None
    qtbot.waitExposed(dialog)
    return dialog


def click_view(qtbot, pane, row: float, col: float) -> None:
    """A real left click on pixel index (row, col) of one of the dialog's views."""
    qtbot.mouseClick(pane.viewport(), Qt.LeftButton, pos=pane.viewport_pos(col + 0.5, row + 0.5))


def add_point(qtbot, dialog: CircleDialog, row: float, col: float, error: tuple[float, float]) -> None:
    """First click 3 px off on the image, second click ``error`` px off in the magnified view."""
    n = len(dialog.rows)
    click_view(qtbot, dialog.main_pane, row + 3, col - 3)
    click_view(qtbot, dialog.zoom_pane, row + error[0], col + error[1])
    assert len(dialog.rows) == n + 1


def ring_point(angle_deg: float, dr: float = 0.0) -> tuple[float, float]:
    a = np.radians(angle_deg)
    return ROW0 + (RADIUS + dr) * np.sin(a), COL0 + (RADIUS + dr) * np.cos(a)


ANGLES = (10, 75, 140, 200, 260, 320)
ERRORS = ((2, -1.5), (-2, 1), (1.5, 2), (-1, -2), (2, 2), (-2, -1))


def six_points(qtbot, dialog: CircleDialog) -> None:
    for angle, error in zip(ANGLES, ERRORS):
        add_point(qtbot, dialog, *ring_point(angle), error)


def test_points_fit_and_done_set_the_geometry(qtbot, window):
    dialog = open_dialog(qtbot, window)
    assert dialog.refine_check.isChecked()
    assert not dialog.done_button.isEnabled()
    # Too few points: a message, no fit, no traceback; the points stay.
    add_point(qtbot, dialog, *ring_point(10), (2, -1.5))
    add_point(qtbot, dialog, *ring_point(75), (-2, 1))
    assert dialog.fit is None and "at least 3 points" in dialog.message
    assert len(dialog.rows) == 2
    for angle, error in list(zip(ANGLES, ERRORS))[2:]:
        add_point(qtbot, dialog, *ring_point(angle), error)
    assert len(dialog.rows) == 6
    fit = dialog.fit
    assert fit is not None and dialog.message == ""
    assert abs(fit.row - ROW0) < 0.1 and abs(fit.col - COL0) < 0.1, (fit.row, fit.col)
    assert abs(fit.radius - RADIUS) < 0.2
    assert dialog.done_button.isEnabled()
    assert dialog.table.rowCount() == 6
    x, y = (float(v) for v in dialog.result_labels["centre"].text().replace(" px", "").split(","))
    assert abs(x - (COL0 + 0.5)) < 0.1 and abs(y - (ROW0 + 0.5)) < 0.1

    # The clicks alone (no refinement) are off by the click errors: the refinement matters.
    dialog.refine_check.setChecked(False)
    raw = dialog.fit
    dialog.refine_check.setChecked(True)
    assert np.hypot(raw.row - ROW0, raw.col - COL0) > np.hypot(dialog.fit.row - ROW0, dialog.fit.col - COL0)

    wavelength = dialog.wavelength_m
    pixel = dialog.pixel_m
    assert wavelength == pytest.approx(window.session.wavelength, rel=1e-4)
    assert pixel == pytest.approx(window.session.detector.pixel1)
    fit = dialog.fit
    qtbot.mouseClick(dialog.done_button, Qt.LeftButton)
    geometry = window.session.geometry
    assert geometry is not None
    bx, by = beam_centre(geometry, window.session.data.shape)
    assert bx == pytest.approx(fit.col + 0.5, abs=1e-6) and by == pytest.approx(fit.row + 0.5, abs=1e-6)
    assert geometry.dist == pytest.approx(distance_from_radius(fit.radius, 58.38, wavelength, pixel), rel=1e-9)
    assert window.session.history[-1].label == "circle fit"
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=TIMEOUT_MS)


def test_remove_point_by_clicking_its_marker(qtbot, window):
    dialog = open_dialog(qtbot, window)
    six_points(qtbot, dialog)
    removed = (dialog.rows[2], dialog.cols[2])
    # A click on the marker in the image (within a few screen pixels) removes it...
    click_view(qtbot, dialog.main_pane, removed[0] + 0.3, removed[1] - 0.3)
    assert len(dialog.rows) == 5 and removed not in list(zip(dialog.rows, dialog.cols))
    assert dialog.fit is not None and dialog.done_button.isEnabled()
    # ...and so does a click on the marker in the magnified view.
    row, col = dialog.rows[0], dialog.cols[0]
    click_view(qtbot, dialog.main_pane, row + 10, col + 10)  # centre the magnified view near it
    click_view(qtbot, dialog.zoom_pane, row + 0.5, col)
    assert len(dialog.rows) == 4 and not dialog.done_button.isEnabled()
    qtbot.mouseClick(dialog.reset_button, Qt.LeftButton)
    assert dialog.rows == [] and dialog.fit is None


def test_errors_keep_the_points(qtbot, window):
    dialog = open_dialog(qtbot, window)
    dialog.refine_check.setChecked(False)
    for angle in (10, 13, 16):  # a 6° arc: refused with a message
        add_point(qtbot, dialog, *ring_point(angle), (0, 0))
    assert dialog.fit is None and "cover only" in dialog.message and "Traceback" not in dialog.message
    assert len(dialog.rows) == 3
    dialog.accept()  # Done refused without a fit
    assert dialog.isVisible() and window.session.geometry is None


def test_export_csv(qtbot, window, tmp_path, monkeypatch):
    dialog = open_dialog(qtbot, window)
    six_points(qtbot, dialog)
    target = tmp_path / "fit.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    qtbot.mouseClick(dialog.export_button, Qt.LeftButton)
    lines = target.read_text().splitlines()
    assert lines[0] == "iteration,stage,row,col,radius,cost"
    assert len(lines) == len(dialog.fit.history) + 2 and lines[-1].split(",")[1] == "result"
    assert float(lines[-1].split(",")[2]) == pytest.approx(dialog.fit.row)


def test_trace_and_fixed_centre(qtbot, window):
    dialog = open_dialog(qtbot, window)
    six_points(qtbot, dialog)
    dialog.trace_check.setChecked(True)  # runs in the window's worker
    qtbot.waitUntil(lambda: dialog.fit is not None and dialog.outcome.source == "traced ring", timeout=TIMEOUT_MS)
    fit = dialog.fit
    assert len(fit.residuals) > 50
    assert abs(fit.row - ROW0) < 0.05 and abs(fit.col - COL0) < 0.05
    dialog.trace_check.setChecked(False)
    dialog.fixed_check.setChecked(True)  # starts from the fitted centre, fits the radius only
    dialog.fixed_x_box.setValue(COL0 + 0.5)
    dialog.fixed_y_box.setValue(ROW0 + 0.5)
    fit = dialog.fit
    assert (fit.row, fit.col) == pytest.approx((ROW0, COL0)) and abs(fit.radius - RADIUS) < 0.1
    # The ring choice sets the d-spacing, and the distance follows.
    dialog.calibrant_box.setCurrentText("AgBh")
    dialog.ring_box.setValue(2)
    assert dialog.d_spacing_A == pytest.approx(29.19, abs=0.01)
    assert dialog.result_labels["distance"].text().endswith("mm")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=TIMEOUT_MS)
