"""The detector of an image, never guessed silently: the header's pixel size first, then a shape only one
detector (or one pixel size) has; a shape several detectors share is the user's choice, among the
candidates listed (core, command line, main window and circle dialog, on real images)."""

from __future__ import annotations

import json

import fabio
import numpy as np
import pytest
from PyQt5.QtCore import Qt

from xcal.cli import main
from xcal.core.geometry.detector_guess import guess_detector, header_pixel_um
from xcal.core.geometry.detectors import make_detector
from xcal.core.io.images import load_image
from xcal.gui.calibration_panel import CHOOSE_DETECTOR
from xcal.gui.circle_settings import CHOOSE

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MARCCD = "gsas2tut_AgBh_MarCCD165-bin2_12keV.tif"  # a MarCCD file fabio reads as a plain TIFF
FLI = "raw_AgBeh_FLI-CCD_CHESS.tif"  # 1024 x 1024, no pixel size anywhere
APS = "aps15idd_AgBh_Pilatus100k_16p9keV.hdf5"
TIMEOUT_MS = 30_000


def guess(real_data, name: str):
    path = real_data / name
    if not path.exists():
        pytest.skip(f"{name} not in the real data folder")
    image = load_image(path)
    return guess_detector(image.shape, image.header, image.source)


def test_marccd_header_read_behind_the_tiff(real_data):
    """fabio reads the file as a TIFF without the MarCCD header at byte 1024; it holds 158 µm (2 x 2
    binned MarCCD 165). Among the 13 detectors of a 1024 x 1024 image only the binned Rayonix SX165 has
    158 µm pixels (the shape alone gave Apex2, 120 µm: a distance 24 % short)."""
    found = guess(real_data, MARCCD)
    assert found.name == "RayonixSx165" and found.basis == "header pixel size 158 µm"
    assert make_detector(found.name, shape=(1024, 1024)).pixel1 == pytest.approx(158e-6)
    assert ("Apex2", 120.0) in found.candidates and len(found.candidates) == 13


@pytest.mark.parametrize(("name", "detector", "pixel_um", "basis"), [
    ("raw_AgBe_mar345_CuKa.mar1200", "Mar345", None, "header pixel size 150 µm"),
    ("raw_AgBe_ADSC-Quantum_7p7keV.img", None, (70.7, 70.7),
     "header pixel size 70.7 µm; no pyFAI detector of this shape has it"),
    ("cms_AgBH_Pilatus800k_12p7keV.tiff", "Pilatus1M", None, "header pixel size 172 µm, silicon sensor"),
    ("dls2021_CeO2_Pilatus2M_100keV_737mm.cbf", "PilatusCdTe2M", None, "header pixel size 172 µm, CdTe sensor"),
    (APS, "Pilatus100k", None, "only detector of this shape"),
    ("aps1idc_CeO2_Pilatus2M_61keV.hdf5", "Pilatus2M", None,
     "only pixel size of this shape, 172 µm; also PilatusCdTe2M, another sensor"),
])
def test_real_headers_and_shapes(real_data, name, detector, pixel_um, basis):
    found = guess(real_data, name)
    assert (found.name, found.pixel_um, found.basis) == (detector, pixel_um, basis)


def test_a_shared_shape_without_a_header_is_ambiguous(real_data):
    found = guess(real_data, FLI)
    assert not found.decided and found.name is None and found.pixel_um is None
    assert found.basis.startswith("ambiguous: 13 pyFAI detectors give 1024 x 1024 images, candidates Apex2 (120 µm)")
    assert "RayonixSx165 (158 µm)" in found.basis


def test_edf_pixel_size_and_no_detector_of_the_shape(tmp_path):
    path = tmp_path / "frame.edf"
    header = {"PSize_1": "6e-05", "PSize_2": "6e-05"}  # ESRF EDF: metres
    fabio.edfimage.EdfImage(data=np.ones((1024, 1024), np.float32), header=header).write(str(path))
    image = load_image(path)
    assert header_pixel_um(image.header) == pytest.approx((60.0, 60.0))
    assert guess_detector(image.shape, image.header).name == "Fairchild"  # the 1024 x 1024 detector of 60 µm
    odd = guess_detector((500, 480))
    assert not odd.decided and odd.basis == "no pyFAI detector gives 500 x 480 images and the file states no pixel size"


# -- command line --------------------------------------------------------------------------------------------


def test_cli_refuses_an_ambiguous_shape_naming_the_candidates(real_data, tmp_path, capsys):
    if not (real_data / FLI).exists():
        pytest.skip(f"{FLI} not in the real data folder")
    rc = main(["calibrate", str(real_data / FLI), "--calibrant", "AgBh", "--energy", "12", "-o", str(tmp_path / "x.poni")])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and not (tmp_path / "x.poni").exists()
    assert "ambiguous: 13 pyFAI detectors give 1024 x 1024 images" in err and "RayonixSx165 (158 µm)" in err
    assert "give --detector NAME" in err


def test_cli_says_which_detector_and_why(real_data, tmp_path, capsys):
    if not (real_data / APS).exists():
        pytest.skip(f"{APS} not in the real data folder")
    args = ["calibrate", f"{real_data / APS}::/entry/data/data", "--calibrant", "AgBh", "--energy", "16.9",
            "--distance", "514", "--json"]
    main([*args, "-o", str(tmp_path / "a.poni")])
    found = json.loads(capsys.readouterr().out)["detector"]
    assert found == {"name": "Pilatus100k, 195 x 487 px, 172 x 172 µm", "basis": "only detector of this shape"}
    main([*args[:-1], "--detector", "Pilatus100k", "-o", str(tmp_path / "b.poni")])
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "Detector: Pilatus100k, 195 x 487 px, 172 x 172 µm (given by --detector)"


# -- main window and circle dialog -------------------------------------------------------------------------


def load(qtbot, win, path) -> None:
    win.open_source(str(path))
    qtbot.waitUntil(lambda: win.session.raw is not None and not win.runner.busy, timeout=TIMEOUT_MS)


def choose(qtbot, combo, name: str) -> None:
    """Type the name on the focused combo box, as a keyboard user selects an entry."""
    combo.setFocus()
    qtbot.keyClicks(combo, name)
    assert combo.currentText() == name


def test_main_window_says_the_header_detector(qtbot, main_window, real_data):
    if not (real_data / MARCCD).exists():
        pytest.skip(f"{MARCCD} not in the real data folder")
    load(qtbot, main_window, real_data / MARCCD)
    assert main_window.session.detector.pixel1 == pytest.approx(158e-6)
    assert "Detector: RayonixSx165 (header pixel size 158 µm)" in main_window.messages.text()
    assert main_window.panel.detector_name == "RayonixSx165"


def test_ambiguous_shape_the_user_chooses_in_the_circle_dialog(qtbot, main_window, real_data, tmp_path):
    """No detector is set on a 1024 x 1024 image without a header: the main window asks, the circle
    dialog lists the candidates and refuses Done until one is chosen; the choice becomes the session's."""
    if not (real_data / FLI).exists():
        pytest.skip(f"{FLI} not in the real data folder")
    win = main_window
    load(qtbot, win, real_data / FLI)
    assert win.session.raw_detector is None
    assert "Choose the detector under Setup" in win.messages.text() and "Apex2 (120 µm)" in win.messages.text()
    combo = win.panel.detector_box  # Setup says so too, and opens on the candidates
    assert combo.currentText() == CHOOSE_DETECTOR and combo.itemText(1) == "Apex2"
    assert not win.panel.pixel_v_box.isEnabled()  # no pixel size assumed
    qtbot.mouseClick(win.panel.circle_button, Qt.LeftButton)
    dialog = win.calibration.circle_dialog
    qtbot.waitExposed(dialog)
    box = dialog.settings_box
    assert box.detector_box.currentText() == CHOOSE and not box.detector_chosen
    assert box.detector_box.itemText(1) == "Apex2"  # the candidates first
    assert "Ambiguous: 13 detectors have this shape (60 to 450 µm" in box.detector_note.text()
    assert "RayonixSx165 (158 µm)" in box.detector_note.toolTip()
    qtbot.waitUntil(lambda: dialog.fit is not None, timeout=TIMEOUT_MS)  # the faint arc, found in the background
    assert not dialog.done_button.isEnabled() and "choose the detector" in dialog.results_box.labels["distance"].text()
    choose(qtbot, box.detector_box, "RayonixSx165")
    assert box.detector_box.findText(CHOOSE) < 0 and box.detector_note.text().startswith("Your choice")
    assert dialog.pixel_m == pytest.approx(158e-6) and dialog.done_button.isEnabled()
    qtbot.mouseClick(dialog.done_button, Qt.LeftButton)
    assert win.session.detector.pixel1 == pytest.approx(158e-6) and win.panel.detector_name == "RayonixSx165"
    assert win.session.geometry.dist == pytest.approx(dialog.fit.radius * 158e-6 / np.tan(2 * np.arcsin(
        dialog.wavelength_m / (2 * dialog.d_spacing_A * 1e-10))), rel=1e-9)
    qtbot.waitUntil(lambda: not win.runner.busy, timeout=TIMEOUT_MS)
    assert win.panel.detector_box.findText(CHOOSE_DETECTOR) < 0  # decided: the placeholder is gone


def test_ambiguous_shape_the_user_chooses_under_setup(qtbot, main_window, real_data):
    """Choosing one of the candidates under Setup sets the session's detector and removes the question."""
    if not (real_data / FLI).exists():
        pytest.skip(f"{FLI} not in the real data folder")
    win = main_window
    load(qtbot, win, real_data / FLI)
    assert win.panel.detector_box.currentText() == CHOOSE_DETECTOR and win.session.raw_detector is None
    combo = win.panel.detector_box
    combo.setCurrentIndex(combo.findText("RayonixSx165"))  # as a mouse choice in the list
    qtbot.waitUntil(lambda: not win.runner.busy, timeout=TIMEOUT_MS)
    assert win.session.raw_detector.pixel1 == pytest.approx(158e-6)
    assert win.panel.detector_box.findText(CHOOSE_DETECTOR) < 0 and win.panel.detector_name == "RayonixSx165"
