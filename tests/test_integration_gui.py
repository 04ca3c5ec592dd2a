"""Integration mode in the window, driven as a user would: a .poni, sample images (next file,
frames of a stack), units and points, calibrant lines, the cursor read-out, saving, and a batch
over a folder with Cancel; with a rotated calibration image the results still fit the raw files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import fabio
import h5py
import numpy as np
import pytest
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry
from PyQt5.QtCore import QPointF, Qt
from PyQt5.QtWidgets import QFileDialog

from xcal.core.beamtime import batch_job
from xcal.core.calibration.synthetic import ring_image
from xcal.core.integration.integrator import Integrator, calibrant_positions
from xcal.core.io.calibrants import load_calibrant
from xcal.core.io.poni import write_poni
from xcal.gui.main_window import MainWindow

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TIMEOUT_MS = 60_000
WAVELENGTH = 0.3e-10


def truth() -> Geometry:
    return Geometry(detector=detector_factory("Pilatus300k"), wavelength=WAVELENGTH,
                    dist=0.15, poni1=0.06, poni2=0.035, rot1=0.01, rot2=-0.005)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("samples")
    g = truth()
    image = ring_image(g, load_calibrant("CeO2"), g.detector.shape, fwhm_deg=0.06, noise=True, seed=8)
    image[g.detector.mask.astype(bool)] = -1
    series = root / "series"
    series.mkdir()
    for k in range(3):
        fabio.tifimage.TifImage(image * (1 + k)).write(str(series / f"run_{k:03d}.tif"))
    stack = root / "stack.h5"
    with h5py.File(stack, "w") as h5:
        h5["entry/data"] = np.stack([image * (1 + k) for k in range(4)])
    poni = root / "truth.poni"
    write_poni(poni, g)
    return {"root": root, "series": series, "stack": stack, "poni": poni, "image": image}


@pytest.fixture
def window(main_window):
    main_window.resize(1500, 950)
    return main_window


def idle(qtbot, win: MainWindow) -> None:
    qtbot.waitUntil(lambda: not win.runner.busy, timeout=TIMEOUT_MS)


def answer_open(monkeypatch, path: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))


def open_with_poni(qtbot, win: MainWindow, monkeypatch, files: dict) -> None:
    """Integration mode, a .poni from the panel, then the first sample from the panel."""
    win.modes.setCurrentRow(2)
    assert win.centre_views.currentWidget() is win.integration_view
    panel = win.integration_panel
    answer_open(monkeypatch, files["poni"])
    qtbot.mouseClick(panel.load_poni_button, Qt.LeftButton)
    idle(qtbot, win)
    assert "distance 150.00 mm" in panel.calibration_label.text()
    answer_open(monkeypatch, files["series"] / "run_000.tif")
    qtbot.mouseClick(panel.open_button, Qt.LeftButton)
    idle(qtbot, win)
    assert panel.sample_label.text() == "run_000.tif", win.messages.text()


def curve(win: MainWindow) -> tuple[np.ndarray, np.ndarray]:
    return win.integration_view.pattern.curve.getData()


def test_integration_mode_workflow(qtbot, window, files, monkeypatch, tmp_path) -> None:
    win, panel, view = window, window.integration_panel, window.integration_view
    open_with_poni(qtbot, win, monkeypatch, files)
    x, y = curve(win)
    lines = calibrant_positions(load_calibrant("CeO2").dspacing, WAVELENGTH)
    assert len(x) == 2000 and np.min(np.abs(lines - x[np.argmax(y)])) < 2 * (x[1] - x[0])
    assert view.cake.image_item.image.shape == (360, 1000)
    assert view.image.image_item.image is not None

    # calibrant lines on pattern, cake and image
    win.calibration.set_calibrant("CeO2")
    panel.overlay_box.setCurrentIndex(panel.overlay_box.findData("calibrant"))
    idle(qtbot, win)
    assert len(view.pattern.lines_item.getData()[0]) > 0 and len(view.image.rings_item.getData()[0]) > 0
    # a phase's lines instead
    panel.phase_box.setCurrentIndex(panel.phase_box.findText("LaB6"))
    panel.overlay_box.setCurrentIndex(panel.overlay_box.findData("phase"))
    idle(qtbot, win)
    lab6 = calibrant_positions(load_calibrant("LaB6").dspacing, WAVELENGTH)
    shown = view.pattern.lines_item.getData()[0][::2]
    assert np.allclose(shown, lab6[(lab6 >= x.min()) & (lab6 <= x.max())])

    # unit, points, sector
    view.pattern.unit_box.setCurrentIndex(view.pattern.unit_box.findData("q_A^-1"))
    panel.npt_box.setValue(1200)
    idle(qtbot, win)
    q, y = curve(win)
    assert len(q) == 1200 and np.min(np.abs(2 * np.pi / np.asarray(load_calibrant("CeO2").dspacing) - q[np.argmax(y)])) < 2 * (q[1] - q[0])
    assert "q (Å⁻¹)" in view.cake.plot.getPlotItem().getAxis("bottom").labelText
    panel.azimuth_box.setChecked(True)
    panel.azimuth_from.setValue(-60)
    panel.azimuth_to.setValue(60)
    idle(qtbot, win)
    assert win.messages.level != "error", win.messages.text()

    # cursor read-out on the pattern, at the strongest peak (the mouse over the plot)
    plot = view.pattern.plot
    scene = plot.getPlotItem().vb.mapViewToScene(QPointF(float(q[np.argmax(y)]), float(y.max()) / 2))
    qtbot.mouseMove(plot.viewport(), plot.mapFromScene(scene))
    qtbot.waitUntil(lambda: "2θ" in view.readout.text())
    text = view.readout.text()
    assert "2θ" in text and "d " in text and f"q {q[np.argmax(y)]:.2f}" in text

    # the next file of the folder, and the frames of a stack
    qtbot.mouseClick(panel.next_button, Qt.LeftButton)
    idle(qtbot, win)
    assert panel.sample_label.text() == "run_001.tif" and not panel.frame_row.isVisibleTo(panel)
    win.integration.load(f"{files['stack']}::/entry/data")
    idle(qtbot, win)
    assert panel.frame_row.isVisibleTo(panel) and panel.frame_box.maximum() == 3
    peak0 = curve(win)[1].max()
    panel.frame_slider.setValue(2)
    idle(qtbot, win)
    assert panel.frame_box.value() == 2 and "[frame 2]" in panel.sample_label.text()
    assert curve(win)[1].max() == pytest.approx(3 * peak0, rel=1e-3)

    # save the pattern (with errors and the settings in the header) and the cake
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "saved.dat"), ""))
    qtbot.mouseClick(panel.save_pattern_button, Qt.LeftButton)
    idle(qtbot, win)
    saved = np.loadtxt(tmp_path / "saved.dat")
    assert saved.shape == (1200, 3) and np.all(saved[:, 2] >= 0)
    header = (tmp_path / "saved.dat").read_text()
    assert "# Image: stack.h5::/entry/data [frame 2]" in header and "azimuth range: -60 to 60 deg" in header
    # NeXus: the pattern with the geometry of the raw file
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "saved.nxs"), ""))
    qtbot.mouseClick(panel.save_pattern_button, Qt.LeftButton)
    idle(qtbot, win)
    assert win.messages.level != "error", win.messages.text()
    with h5py.File(tmp_path / "saved.nxs", "r") as h5:
        assert h5["entry/data/I"].shape == (1, 1200)
        stored = Geometry()
        stored.set_config(json.loads(h5["entry/reduction/input/poni"][()]))
    for name in ("dist", "poni1", "poni2", "rot1", "rot2", "wavelength"):
        assert getattr(stored, name) == pytest.approx(getattr(truth(), name), rel=1e-9), name
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "cake"), ""))
    qtbot.mouseClick(panel.save_cake_button, Qt.LeftButton)
    idle(qtbot, win)
    assert fabio.open(str(tmp_path / "cake.tif")).data.shape == (360, 1000)
    win.grab().save("/tmp/integration_mode.png")


def test_batch_from_the_window_with_cancel(qtbot, window, files, monkeypatch, tmp_path) -> None:
    win, panel = window, window.integration_panel
    open_with_poni(qtbot, win, monkeypatch, files)
    panel.batch_folder.set_path(str(files["series"]))
    panel.batch_output.set_path(str(tmp_path / "out"))
    panel.format_boxes["chi"].setChecked(True)
    panel.workers_box.setValue(1)
    qtbot.mouseClick(panel.batch_button, Qt.LeftButton)
    idle(qtbot, win)
    assert panel.batch_summary.toPlainText().startswith("Integrated 3, skipped 0, failed 0")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(f"run_{k:03d}.{ext}" for k in range(3) for ext in ("xy", "chi"))
    direct = Integrator().pattern(files["image"] * 2, truth(), None, 2000, invalid=files["image"] < 0)
    np.testing.assert_allclose(np.loadtxt(tmp_path / "out" / "run_001.xy")[:, 1], direct.intensity,
                               rtol=1e-5, atol=1e-5 * direct.intensity.max())

    # Cancel while it runs: what was done is kept and reported
    process = batch_job.Worker.process

    def slow(self, item):
        time.sleep(0.3)
        return process(self, item)

    monkeypatch.setattr(batch_job.Worker, "process", slow)
    panel.overwrite_box.setChecked(True)
    win.runner.progress.connect(lambda *_: win.cancel_button.click())
    qtbot.mouseClick(panel.batch_button, Qt.LeftButton)
    idle(qtbot, win)
    summary = panel.batch_summary.toPlainText()
    assert "cancelled" in summary and "skipped" in summary, summary


def test_rotated_calibration_fits_raw_files(qtbot, window, files, monkeypatch, tmp_path) -> None:
    """Calibration image turned 90° and a user mask: the window's pattern and the batch's (raw files) agree."""
    win, panel = window, window.integration_panel
    win.open_source(str(files["series"] / "run_000.tif"))
    idle(qtbot, win)
    win.transform("rot90")
    idle(qtbot, win)
    win.session.load_poni(files["poni"])  # read for the raw file, then turned with the image
    user = np.zeros(win.session.data.shape, bool)
    user[:, :120] = True  # a block in the working (turned) frame
    win.session.user_mask = user
    win.modes.setCurrentRow(2)
    idle(qtbot, win)
    win.integration.load(str(files["series"] / "run_002.tif"))
    idle(qtbot, win)
    shown = curve(win)[1]
    raw_mask = np.rot90(user, -1)
    direct = Integrator().pattern(files["image"] * 3, truth(), raw_mask | truth().detector.mask.astype(bool), 2000,
                                  invalid=files["image"] < 0)
    np.testing.assert_allclose(shown, direct.intensity, rtol=1e-4, atol=1e-4 * direct.intensity.max())
    panel.batch_folder.set_path(str(files["series"]))
    panel.batch_glob.setText("run_002*")
    panel.batch_output.set_path(str(tmp_path / "out"))
    qtbot.mouseClick(panel.batch_button, Qt.LeftButton)
    idle(qtbot, win)
    batch = np.loadtxt(tmp_path / "out" / "run_002.xy")[:, 1]
    np.testing.assert_allclose(batch, direct.intensity, rtol=1e-4, atol=1e-4 * direct.intensity.max())


def test_sample_of_another_shape_is_refused(qtbot, window, files, monkeypatch, tmp_path) -> None:
    win = window
    open_with_poni(qtbot, win, monkeypatch, files)
    other = tmp_path / "small.tif"
    fabio.tifimage.TifImage(np.ones((40, 50), np.float32)).write(str(other))
    win.integration.load(str(other))
    idle(qtbot, win)
    assert win.messages.level == "error"
    assert "small.tif is 40 x 50 pixels but the calibration is for 619 x 487 images" in win.messages.text()
    assert win.integration_panel.sample_label.text() == "run_000.tif"  # the previous sample stays
