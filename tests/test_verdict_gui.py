"""The calibration's verdict in the window: the banner beside the parameters, going back to the
typed ring numbers, saving a doubtful calibration, and Mask mode not relying on a bad geometry.

The window calibrates the synthetic CeO2 image of ``test_gui`` with a wrong input each time
(a ring number, the calibrant, the energy); the core's checks judge, the window only shows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QFileDialog, QMessageBox, QVBoxLayout, QWidget
from test_gui import (
    ENERGY_KEV,
    TIMEOUT_MS,
    _write_image,
    calibrate,
    choose,
    click_pixel,
    idle,
    load,
    point_on_ring,
    set_start_values,
)

from xcal.core.calibration.trust import (
    GROSS_WAVELENGTH_REL,
    WAVELENGTH_MIN_REL,
    Correction,
    TrustReport,
    WavelengthCheck,
)
from xcal.gui.main_window import MainWindow
from xcal.gui.verdict_banner import VerdictBanner

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    """CeO2 on a Pilatus 1M at 30 keV (see ``test_gui._write_image``)."""
    return _write_image(tmp_path_factory.mktemp("images") / "CeO2_0001.tif")


@pytest.fixture
def window(qtbot, main_window, image_file) -> MainWindow:
    load(qtbot, main_window, image_file)
    set_start_values(qtbot, main_window)
    return main_window


def pick(qtbot, win: MainWindow, ring: int) -> None:
    """Click on ``ring`` (0-based) of the image with whatever number the panel shows."""
    before = len(win.session.picks.groups)
    click_pixel(qtbot, win, *point_on_ring(win, ring))
    qtbot.waitUntil(lambda: len(win.session.picks.groups) == before + 1 or bool(win.messages.text()), timeout=TIMEOUT_MS)
    idle(qtbot, win)
    assert len(win.session.picks.groups) == before + 1, win.messages.text()


def banner_text(banner: VerdictBanner) -> str:
    return " ".join(label.text() for label in (banner.title, banner.corrections, banner.details)) + banner.toolTip()


def edit_distance(qtbot, win: MainWindow, mm: float) -> None:
    box = win.panel.parameters.pyfai.boxes["dist"]
    box.setValue(box.value() + mm)
    box.editingFinished.emit()
    idle(qtbot, win)


# -- the banner widget alone -------------------------------------------------------------------------
def test_banner_shows_level_reasons_corrections_and_states(qtbot):
    page = QWidget()
    qtbot.addWidget(page)
    banner = VerdictBanner()
    QVBoxLayout(page).addWidget(banner)
    page.show()
    assert banner.isHidden() and banner.level == ""  # nothing to judge yet
    report = TrustReport("check", ["First <reason>.", "Second reason."],
                         [Correction("ring numbers", "You clicked ring 3 but typed 1.", 2),
                          Correction("saturated pixels", "12 saturated pixels excluded.")],
                         WavelengthCheck(1e-10, 1e-10, 1e-14, "agrees", "The rings agree with the given wavelength."))
    banner.show_verdict(report, has_geometry=True)
    assert banner.isVisible() and banner.level == "check" and "#fff3cd" in banner.styleSheet()
    assert "CHECK" in banner.title.text() and "First &lt;reason&gt;." in banner.title.text()
    assert banner.corrections.isVisible() and "ring 3 but typed 1" in banner.corrections.text()
    assert "12 saturated pixels" in banner.corrections.text()
    assert banner.revert_button.isVisible()
    # the other findings are folded away, every one of them in the tooltip
    assert not banner.details.isVisible() and banner.details_button.text() == "More (2)"
    qtbot.mouseClick(banner.details_button, Qt.LeftButton)
    assert banner.details.isVisible() and "Second reason." in banner.details.text()
    assert banner.details_button.text() == "Less"
    assert "agree with the given wavelength" in banner.details.text()
    for text in ("First <reason>.", "Second reason.", "typed 1", "saturated", "given wavelength"):
        assert text in banner.toolTip()
    with qtbot.waitSignal(banner.revert_clicked):
        qtbot.mouseClick(banner.revert_button, Qt.LeftButton)

    banner.show_verdict(TrustReport("good", ["Fine."]), has_geometry=True)
    assert banner.level == "good" and not banner.revert_button.isVisible() and not banner.corrections.isVisible()
    assert not banner.details_button.isVisible()
    banner.show_verdict(None, has_geometry=True)
    assert banner.level == "unchecked" and banner.isVisible() and "Not checked" in banner.title.text()
    banner.show_verdict(None, has_geometry=False)
    assert banner.isHidden()


# -- in the window -----------------------------------------------------------------------------------
def test_corrected_ring_numbers_and_going_back(qtbot, window):
    win = window
    panel, banner = win.panel, win.panel.verdict
    assert banner.isHidden()  # no geometry yet
    panel.ring_box.setValue(1)
    pick(qtbot, win, 1)  # the second ring, typed as the first
    assert panel.ring_box.value() == 2
    calibrate(qtbot, win)
    assert win.session.result is not None, win.messages.text()

    # the image corrected the number: said in the banner and the message strip, the picks follow
    assert banner.isVisible() and banner.level in ("good", "check"), banner_text(banner)
    assert "You clicked ring 2 but typed 1" in banner.corrections.text()
    assert "Corrected: You clicked ring 2 but typed 1" in win.messages.text()
    assert banner.revert_button.isVisible() and banner.revert_button.isEnabled()
    assert [g.ring for g in win.session.picks.groups] == [1]
    assert [label.toPlainText() for label in win.image_view._labels] == ["2"]
    assert panel.ring_box.value() == 3  # the next click goes on after the corrected ring

    # one click goes back to the typed numbers; the verdict then says they contradict the image
    qtbot.mouseClick(banner.revert_button, Qt.LeftButton)
    idle(qtbot, win)
    assert [g.ring for g in win.session.picks.groups] == [0]
    assert [label.toPlainText() for label in win.image_view._labels] == ["1"]
    assert panel.ring_box.value() == 2
    assert banner.level == "bad" and "BAD" in banner.title.text() and "#f8d7da" in banner.styleSheet()
    assert not banner.revert_button.isVisible()
    assert "ring numbers" in banner_text(banner)
    assert win.messages.level == "error" and "BAD" in win.messages.text()
    assert "Refine again" not in win.messages.text() + banner_text(banner)

    # an edited, restored or loaded geometry was not checked
    edit_distance(qtbot, win, 2.0)
    assert banner.level == "unchecked" and "Not checked" in banner.title.text()
    panel.parameters.history_list.setCurrentRow(len(win.session.history) - 2)  # the calibration
    qtbot.mouseClick(panel.parameters.restore_button, Qt.LeftButton)
    assert banner.level == "bad"  # the calibration's own geometry again, and its verdict
    panel.parameters.history_list.setCurrentRow(0)  # the first guess
    qtbot.mouseClick(panel.parameters.restore_button, Qt.LeftButton)
    assert banner.level == "unchecked"


def test_bad_verdict_asks_before_saving_and_the_mask_search_falls_back(qtbot, window, tmp_path, monkeypatch):
    win = window
    banner = win.panel.verdict
    win.panel.ring_box.setValue(1)
    pick(qtbot, win, 0)
    choose(win.panel.calibrant_box, "LaB6")  # the image shows CeO2
    calibrate(qtbot, win)
    assert win.session.result is not None, win.messages.text()
    assert banner.level == "bad" and "#f8d7da" in banner.styleSheet(), banner_text(banner)
    assert "BAD" in banner.title.text() and "LaB6" in banner.title.text()
    assert win.messages.level == "error" and "BAD: " in win.messages.text()
    assert "Refine again" not in win.messages.text() + banner_text(banner)
    first_reason = win.session.verdict.reasons[0]

    # Save asks, naming the first reason; No writes nothing, Yes saves
    poni = tmp_path / "bad.poni"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(poni), ""))
    asked: list[tuple] = []

    def answer(reply):
        def question(*args):
            asked.append(args)
            return reply
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.No))
    qtbot.mouseClick(win.panel.save_poni_button, Qt.LeftButton)
    assert len(asked) == 1 and first_reason in asked[0][2] and asked[0][4] == QMessageBox.No  # the default
    assert not poni.exists() and win.calibration.unsaved
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.Yes))
    qtbot.mouseClick(win.panel.save_poni_button, Qt.LeftButton)
    assert len(asked) == 2 and poni.is_file() and not win.calibration.unsaved

    # Mask mode's hot-pixel search will not rely on a bad geometry: the median filter, and the reason
    win.modes.setCurrentRow(1)
    win.mask_panel.find_bad_pixels_clicked.emit(8.0)
    idle(qtbot, win)
    text = win.messages.text()
    assert "judged bad" in text and first_reason in text and "median filter" in text and "Traceback" not in text
    assert win.masking.suggestion is None or win.masking.suggestion.method == "median filter"


def test_check_verdict_saves_with_the_warning_repeated(qtbot, window, tmp_path, monkeypatch):
    win = window
    banner = win.panel.verdict
    # the image was made at 30 keV: off by more than a wavelength worth reporting, less than a wrong input
    win.panel.energy_box.setValue(ENERGY_KEV * (1 + (WAVELENGTH_MIN_REL + GROSS_WAVELENGTH_REL) / 2))
    win.panel.ring_box.setValue(1)
    pick(qtbot, win, 0)
    calibrate(qtbot, win)
    assert banner.level == "check" and "#fff3cd" in banner.styleSheet(), banner_text(banner)
    assert "CHECK" in banner.title.text() and "energy" in banner.title.text()
    assert win.messages.level == "warning"

    poni = tmp_path / "check.poni"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(poni), ""))
    asked: list[tuple] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a: asked.append(a) or QMessageBox.Discard)
    qtbot.mouseClick(win.panel.save_poni_button, Qt.LeftButton)
    assert poni.is_file() and not asked  # saved without a question
    text = win.messages.text()
    assert f"Calibration saved to {poni}" in text and "CHECK: " in text and "energy" in text
    assert win.messages.level == "warning"

    # a loaded .poni is not a calibration on this image: not checked
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(poni), ""))
    qtbot.mouseClick(win.panel.load_poni_button, Qt.LeftButton)
    idle(qtbot, win)
    assert win.session.history[-1].label == "loaded check.poni"
    assert banner.level == "unchecked" and banner.isVisible()
