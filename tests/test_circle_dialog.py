"""The circle calibration dialog, driven by real mouse clicks on its two views, in its three modes.

Point selection: a synthetic image holds one Gaussian ring (R = 200 px, σ = 1.5 px, Poisson noise)
about a known centre; clicks are made 2 px off the ring, as a hurried user would, and the refined
fit must still find the centre within 0.1 px. Calibration image and parameters: a synthetic
silver behenate image of known geometry (:mod:`xcal.core.calibration.synthetic`), whose rings must be found
and whose distance must come back.
"""

from __future__ import annotations

from pathlib import Path

import fabio
import numpy as np
import pytest
from pyFAI.calibrant import get_calibrant
from pyFAI.detectors import Detector, Pilatus100k
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QFileDialog

from xcal.core.calibration.synthetic import ring_image
from xcal.core.circle.geometry import distance_from_radius, ring_radius_px
from xcal.core.geometry.beam import beam_centre
from xcal.core.geometry.refinement import new_geometry
from xcal.gui.circle_dialog import CircleDialog
from xcal.gui.circle_settings import GENERIC, IMAGE, PARAMETERS, POINTS
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
def window(qtbot, main_window, ring_file):
    win = main_window
    win.open_source(str(ring_file))
    qtbot.waitUntil(lambda: win.session.raw is not None and not win.runner.busy, timeout=TIMEOUT_MS)
    return win


def open_dialog(qtbot, win: MainWindow, mode: str = POINTS) -> CircleDialog:
    qtbot.mouseClick(win.panel.circle_button, Qt.LeftButton)
    dialog = win.calibration.circle_dialog
    assert dialog is not None
    qtbot.waitExposed(dialog)
    dialog.settings_box.set_mode(mode)
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
    assert dialog.results_box.table.rowCount() == 6
    x, y = (float(v) for v in dialog.results_box.labels["centre"].text().replace(" px", "").split(","))
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
    box = dialog.settings_box
    box.fixed_check.setChecked(True)  # starts from the fitted centre, fits the radius only
    assert box.centre_x_box.value() == pytest.approx(dialog.fit.col + 0.5, abs=1e-3)
    box.centre_x_box.setValue(COL0 + 0.5)
    box.centre_y_box.setValue(ROW0 + 0.5)
    fit = dialog.fit
    assert (fit.row, fit.col) == pytest.approx((ROW0, COL0)) and abs(fit.radius - RADIUS) < 0.1
    # The ring choice sets the d-spacing, and the distance follows.
    box.calibrant_box.setCurrentText("AgBh")
    box.ring_box.setValue(2)
    assert dialog.d_spacing_A == pytest.approx(29.19, abs=0.01)
    assert dialog.results_box.labels["distance"].text().endswith("mm")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=TIMEOUT_MS)


def test_calibration_image_mode_and_done(qtbot, window):
    """Opened in the automatic mode, the ring is found in the background; Done makes it the geometry."""
    dialog = open_dialog(qtbot, window, IMAGE)
    qtbot.waitUntil(lambda: dialog.fit is not None, timeout=TIMEOUT_MS)
    fit = dialog.fit
    assert dialog.outcome.source == "traced ring" and dialog.message == ""
    assert abs(fit.row - ROW0) < 0.05 and abs(fit.col - COL0) < 0.05 and abs(fit.radius - RADIUS) < 0.05
    assert dialog.done_button.isEnabled()
    qtbot.mouseClick(dialog.done_button, Qt.LeftButton)
    bx, by = beam_centre(window.session.geometry, window.session.data.shape)
    assert (bx, by) == pytest.approx((fit.col + 0.5, fit.row + 0.5), abs=1e-6)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=TIMEOUT_MS)


def test_parameters_mode_and_done(qtbot, window):
    """No fit: the ring's radius follows from λ, distance and pixel; Done keeps the given distance and centre."""
    dialog = open_dialog(qtbot, window, PARAMETERS)
    box = dialog.settings_box
    box.wavelength_box.setValue(1.0)
    box.distance_box.setValue(1500.0)
    box.centre_x_box.setValue(COL0 + 0.5)
    box.centre_y_box.setValue(ROW0 + 0.5)
    assert box.distance_box.isVisible() and not box.fixed_check.isEnabled()
    radius = ring_radius_px(58.38, 1.5, 1e-10, dialog.pixel_m)
    circle = dialog.circle
    assert (circle.row, circle.col, circle.radius) == pytest.approx((ROW0, COL0, radius), abs=1e-9)
    assert dialog.results_box.labels["distance"].text() == "1500.000 mm (given)"
    x, _ = dialog.main_pane.circle_item.getData()
    assert x.max() == pytest.approx(COL0 + 0.5 + radius, abs=0.01)  # the ring drawn where it should be
    assert dialog.fit is None and not dialog.export_button.isEnabled() and dialog.done_button.isEnabled()
    qtbot.mouseClick(dialog.done_button, Qt.LeftButton)
    geometry = window.session.geometry
    assert geometry.dist == pytest.approx(1.5, rel=1e-9) and geometry.wavelength == pytest.approx(1e-10)
    assert beam_centre(geometry, window.session.data.shape) == pytest.approx((COL0 + 0.5, ROW0 + 0.5), abs=1e-6)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=TIMEOUT_MS)


# Silver behenate at 1.2 m, 1 Å, 172 µm pixels (pyFAI geometry): rings at 119.5 px and 239.1 px.
AGBH_SHAPE, AGBH_CENTRE, AGBH_DISTANCE = (500, 480), (250.3, 230.6), 1.2


@pytest.fixture(scope="module")
def agbh():
    p = 172e-6
    geometry = new_geometry(Detector(p, p, max_shape=AGBH_SHAPE), dist=AGBH_DISTANCE, poni1=(AGBH_CENTRE[0] + 0.5) * p,
                            poni2=(AGBH_CENTRE[1] + 0.5) * p, rot1=0.0, rot2=0.0, rot3=0.0, wavelength=1e-10)
    data = ring_image(geometry, get_calibrant("AgBh"), AGBH_SHAPE, noise=True, intensity=400, background=20, max_rings=3)
    invalid = np.zeros(AGBH_SHAPE, bool)
    invalid[240:262, :235] = True  # beamstop arm
    data[invalid] = 0
    radii = [ring_radius_px(d, AGBH_DISTANCE, 1e-10, p) for d in get_calibrant("AgBh").dspacing[:2]]
    return data, invalid, radii


def agbh_dialog(qtbot, agbh, tmp_path, **kwargs) -> CircleDialog:
    """A dialog on the AgBh image, fitting in the UI thread (no runner), with its own settings file."""
    data, invalid, _ = agbh
    kwargs.setdefault("settings", Settings(tmp_path / "xcal.ini"))
    dialog = CircleDialog(data, invalid, **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_image_mode_finds_the_first_ring_and_a_click_chooses_another(qtbot, agbh, tmp_path):
    _, _, radii = agbh
    dialog = agbh_dialog(qtbot, agbh, tmp_path, wavelength_m=1e-10, detector=Detector(172e-6, 172e-6))
    assert dialog.mode == IMAGE and dialog.fit is not None, dialog.message
    fit = dialog.fit
    assert np.hypot(fit.row - AGBH_CENTRE[0], fit.col - AGBH_CENTRE[1]) < 0.05
    assert fit.radius == pytest.approx(radii[0], abs=0.05)
    assert float(dialog.results_box.labels["distance"].text().split()[0]) == pytest.approx(1200.0, abs=0.5)
    x, y = dialog.main_pane.circle_item.getData()  # the circle drawn lies on the fitted circle
    assert np.hypot(y - 0.5 - fit.row, x - 0.5 - fit.col) == pytest.approx(fit.radius)
    # A real click on the second ring (3 px off) chooses it; its d-spacing gives the same distance.
    click_view(qtbot, dialog.main_pane, AGBH_CENTRE[0] - radii[1] * 0.6 + 2, AGBH_CENTRE[1] + radii[1] * 0.8 - 2)
    assert dialog.fit.radius == pytest.approx(radii[1], abs=0.05), dialog.message
    dialog.settings_box.ring_box.setValue(2)
    assert float(dialog.results_box.labels["distance"].text().split()[0]) == pytest.approx(1200.0, abs=0.5)


def test_image_mode_with_a_fixed_centre(qtbot, agbh, tmp_path):
    _, _, radii = agbh
    dialog = agbh_dialog(qtbot, agbh, tmp_path)
    box = dialog.settings_box
    box.fixed_check.setChecked(True)
    box.centre_x_box.setValue(AGBH_CENTRE[1] + 0.5)
    box.centre_y_box.setValue(AGBH_CENTRE[0] + 0.5)
    fit = dialog.fit
    assert (fit.row, fit.col) == pytest.approx(AGBH_CENTRE) and fit.radius == pytest.approx(radii[0], abs=0.05)


def test_image_mode_falls_back_to_point_selection(qtbot, tmp_path):
    blank = np.random.default_rng(0).poisson(100, (300, 300)).astype(np.float32)
    dialog = CircleDialog(blank, None, settings=Settings(tmp_path / "xcal.ini"))
    qtbot.addWidget(dialog)
    assert dialog.mode == POINTS and dialog.fit is None
    assert "No clear ring was found on the image" in dialog.message and "Switched to point selection" in dialog.message
    assert "Traceback" not in dialog.message and dialog.points_box.isEnabled()


def test_detector_from_the_registry_or_the_image_shape(qtbot, tmp_path):
    data = np.random.default_rng(0).poisson(100, (195, 487)).astype(np.float32)  # a Pilatus 100k image
    dialog = CircleDialog(data, None, settings=Settings(tmp_path / "xcal.ini"))
    qtbot.addWidget(dialog)
    box = dialog.settings_box
    assert box.detector_box.itemText(0) == "Pilatus100k"  # detectors of the image's shape first
    box.detector_box.setCurrentText("Pilatus100k")
    assert dialog.pixel_m == pytest.approx(172e-6) and not box.pixel_box.isEnabled()
    assert dialog.detector_name == "Pilatus100k" and dialog.detector_changed
    box.detector_box.setCurrentText("Pilatus1M")  # 1043 × 981: does not fit, the image's shape is kept
    assert box.detector_box.currentText() == GENERIC and dialog.detector_name is None
    assert "Pilatus1M" in dialog.message and "image's shape" in dialog.message
    assert box.pixel_box.isEnabled() and dialog.pixel_m == pytest.approx(172e-6)
    # The session's detector is shown and kept unless the user chooses another.
    same = CircleDialog(data, None, detector=Detector(172e-6, 172e-6), settings=Settings(tmp_path / "other.ini"))
    qtbot.addWidget(same)
    assert same.detector_name is None and same.pixel_m == pytest.approx(172e-6) and not same.detector_changed
    named = CircleDialog(data, None, detector=Pilatus100k(), settings=Settings(tmp_path / "other.ini"))
    qtbot.addWidget(named)
    assert named.detector_name == "Pilatus100k" and not named.detector_changed
    named.settings_box.detector_box.setCurrentText(GENERIC)
    assert named.detector_changed


def test_settings_persist_between_runs(qtbot, agbh, tmp_path):
    settings = Settings(tmp_path / "xcal.ini")
    first = agbh_dialog(qtbot, agbh, tmp_path, settings=settings)
    box = first.settings_box
    box.set_mode(PARAMETERS)
    box.calibrant_box.setCurrentText("d-spacing")
    box.unit_box.setCurrentText("nm")
    assert box.d_box.value() == pytest.approx(5.838)
    box.d_box.setValue(4.5)
    box.wavelength_box.setValue(0.9)
    box.pixel_box.setValue(75.0)
    box.distance_box.setValue(2345.0)
    box.centre_x_box.setValue(240.25)
    box.centre_y_box.setValue(251.75)
    first.refine_check.setChecked(False)
    first.reject()  # Cancel saves the settings too
    box.set_mode(POINTS)
    box.fixed_check.setChecked(True)
    first.done(0)

    second = agbh_dialog(qtbot, agbh, tmp_path, settings=Settings(tmp_path / "xcal.ini"))
    box = second.settings_box
    assert second.mode == POINTS and box.fixed_check.isChecked()
    assert box.calibrant_box.currentText() == "d-spacing" and box.unit_box.currentText() == "nm"
    assert second.d_spacing_A == pytest.approx(45.0) and second.wavelength_m == pytest.approx(0.9e-10)
    assert second.pixel_m == pytest.approx(75e-6) and box.distance_m == pytest.approx(2.345)
    assert box.fixed_centre == pytest.approx((251.25, 239.75)) and not second.refine_check.isChecked()
    # The session's own wavelength and detector win over the stored ones.
    third = agbh_dialog(qtbot, agbh, tmp_path, settings=Settings(tmp_path / "xcal.ini"), wavelength_m=1.2e-10,
                        detector=Detector(50e-6, 50e-6))
    assert third.wavelength_m == pytest.approx(1.2e-10) and third.pixel_m == pytest.approx(50e-6)


def wheel(pane, notches: int) -> None:
    """A real wheel event (``notches`` of a standard wheel, positive away from the user) over the pane's centre."""
    from PyQt5.QtCore import QPoint, QPointF
    from PyQt5.QtGui import QWheelEvent
    from PyQt5.QtWidgets import QApplication

    viewport = pane.viewport()
    pos = QPointF(viewport.width() / 2, viewport.height() / 2)
    event = QWheelEvent(pos, QPointF(viewport.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120 * notches),
                        Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(viewport, event)


def test_magnifier_zoom_follows_the_wheel(qtbot, agbh, tmp_path):
    """The magnified view's field (64 px at first) shrinks by 1.25 per notch forwards and grows backwards,
    about the same centre; the box on the image and the label follow, a click still lands where it is made,
    the whole image's zoom is untouched, and the field is kept for the next run."""
    settings = Settings(tmp_path / "xcal.ini")
    dialog = agbh_dialog(qtbot, agbh, tmp_path, settings=settings)
    dialog.settings_box.set_mode(POINTS)
    click_view(qtbot, dialog.main_pane, 150.0, 200.0)  # centres the magnified view there
    main_range = dialog.main_pane.view.viewRange()
    (x0, x1), (y0, y1) = dialog.zoom_pane.view.viewRange()
    assert x1 - x0 == pytest.approx(64, rel=0.02) and dialog.zoom_label.text().startswith("Magnified 64 × 64 px")
    wheel(dialog.zoom_pane, 2)
    (x0, x1), (y0, y1) = dialog.zoom_pane.view.viewRange()
    assert x1 - x0 == pytest.approx(64 / 1.25**2, rel=0.02) and y1 - y0 == pytest.approx(64 / 1.25**2, rel=0.02)
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((200.5, 150.5), abs=0.5)
    assert dialog.zoom_label.text().startswith("Magnified 41 × 41 px")
    box_x, _ = dialog.zoom_box_item.getData()
    assert box_x.max() - box_x.min() == pytest.approx(64 / 1.25**2)
    assert dialog.main_pane.view.viewRange() == main_range
    click_view(qtbot, dialog.zoom_pane, 151.3, 201.7)  # precise at the higher magnification
    assert (dialog.rows[-1], dialog.cols[-1]) == pytest.approx((151.3, 201.7), abs=0.1)
    wheel(dialog.zoom_pane, -5)
    (x0, x1), _ = dialog.zoom_pane.view.viewRange()
    assert x1 - x0 == pytest.approx(64 / 1.25**2 * 1.25**5, rel=0.02)
    dialog.reject()
    again = agbh_dialog(qtbot, agbh, tmp_path, settings=Settings(tmp_path / "xcal.ini"))
    assert again.zoom_px == pytest.approx(64 * 1.25**3)
