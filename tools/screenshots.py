"""Screenshots of the calibration, mask and integration modes for the README, made offscreen on the example.

Opens the window with ``xcal --example``'s image, clicks the first ring through the image
view's mouse handling, presses Calibrate and saves the Image (with its right-click menu open), Cake
(another colormap, the cursor's 2θ/χ read-out), Pattern and Diagnostics tabs; then masks a beamstop,
its arm, a shadowed sector and the module gaps and saves the Mask mode; last, integrates a LaB6
"sample" with that calibration and saves the Integration mode (image, cake and pattern panes); and
the circle dialog on a SAXS silver behenate image (points clicked on a ring, the magnified view
zoomed by the wheel, the detector chosen among those of the image's shape)::

    .venv/bin/python tools/screenshots.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import fabio  # noqa: E402
import numpy as np  # noqa: E402
from PyQt5.QtCore import QEvent, QEventLoop, QPoint, QPointF, Qt  # noqa: E402
from PyQt5.QtGui import QMouseEvent, QPainter, QWheelEvent  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402

from xcal.core.calibration.synthetic import ring_image
from xcal.core.geometry.beam import beam_centre
from xcal.core.geometry.refinement import ring_tth
from xcal.core.io.calibrants import load_calibrant
from xcal.gui.example import example_geometry
from xcal.gui.main_window import MainWindow
from xcal.gui.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def wait_until(app: QApplication, condition, timeout: float = 60.0) -> None:
    start = time.monotonic()
    while not condition():
        app.processEvents(QEventLoop.AllEvents, 50)
        if time.monotonic() - start > timeout:
            raise TimeoutError("the window did not finish in time")


def idle(app: QApplication, window: MainWindow) -> None:
    wait_until(app, lambda: not window.runner.busy)
    for _ in range(5):
        app.processEvents()


def click_pixel(window: MainWindow, row: float, col: float) -> None:
    """Press and release the left button over pixel (row, col) of the image view."""
    view = window.image_view
    scene = view.view.mapViewToScene(QPointF(col + 0.5, row + 0.5))
    pos = view.graphics.mapFromScene(scene)
    viewport = view.graphics.viewport()
    for kind in (QEvent.MouseButtonPress, QEvent.MouseButtonRelease):
        event = QMouseEvent(kind, QPointF(pos), Qt.LeftButton, Qt.LeftButton if kind == QEvent.MouseButtonPress else Qt.NoButton, Qt.NoModifier)
        QApplication.sendEvent(viewport, event)


def hover(graphics, box, x: float, y: float) -> None:
    """Move the mouse (no button) over view point (x, y) of a pyqtgraph view, for its read-out."""
    pos = graphics.mapFromScene(box.mapViewToScene(QPointF(x, y)))
    event = QMouseEvent(QEvent.MouseMove, QPointF(pos), Qt.NoButton, Qt.NoButton, Qt.NoModifier)
    QApplication.sendEvent(graphics.viewport(), event)


def grab_with_menu(app: QApplication, window: MainWindow, path: Path) -> None:
    """The window with the image view's right-click menu, opened by a right click on the image, drawn on top."""
    view = window.image_view
    x, y = view.view.viewRange()[0][0], view.view.viewRange()[1][0]
    width = view.view.viewRange()[0][1] - x
    pos = view.graphics.mapFromScene(view.view.mapViewToScene(QPointF(x + 0.62 * width, y + 0.3 * width)))
    for kind in (QEvent.MouseButtonPress, QEvent.MouseButtonRelease):
        held = Qt.RightButton if kind == QEvent.MouseButtonPress else Qt.NoButton
        QApplication.sendEvent(view.graphics.viewport(), QMouseEvent(kind, QPointF(pos), Qt.RightButton, held, Qt.NoModifier))
    wait_until(app, lambda: view.menu is not None and view.menu.isVisible())
    for _ in range(5):
        app.processEvents()
    shot = window.grab()
    painter = QPainter(shot)
    painter.drawPixmap(window.mapFromGlobal(view.graphics.viewport().mapToGlobal(pos)), view.menu.grab())
    painter.end()
    shot.save(str(path))
    view.menu.close()


def point_on_first_ring(window: MainWindow) -> tuple[float, float]:
    """(row, col) of a valid pixel on the example's innermost ring, right of the beam, as a user would click."""
    truth = example_geometry()
    session = window.session
    target = ring_tth(session.dspacing, np.array([0]), truth.wavelength)[0]
    x, y = beam_centre(truth, session.data.shape)
    row = round(y - 0.5)
    cols = np.arange(round(x), session.data.shape[1])
    cols = cols[~session.invalid[row, cols]]
    tth = truth.tth(np.full(len(cols), float(row)), cols.astype(float))
    return float(row), float(cols[np.argmin(np.abs(tth - target))])


def mask_example(window: MainWindow) -> None:
    """The mask a user would draw on the example: beamstop and arm, a shadowed sector, the gaps."""
    session = window.session
    mask, geometry = session.mask, session.geometry
    x, y = beam_centre(geometry, session.data.shape)
    row, col = y - 0.5, x - 0.5
    mask.circle(row, col, 30)
    mask.polygon([(row - 8, col), (row + 8, col), (row + 14, session.data.shape[1]), (row - 14, session.data.shape[1])])
    tth = np.degrees(ring_tth(session.dspacing, np.array([3, 6]), geometry.wavelength))
    mask.sector(geometry, (tth[0] - 0.3, tth[1] + 0.3), (200.0, 240.0))
    session.mask_invalid_pixels()
    window.modes.setCurrentRow(1)
    window.mask_panel.set_tool("polygon")
    window.masking.refresh()
    window.calibration.request_views()


def integration_example(window: MainWindow, folder: Path) -> Path:
    """A LaB6 "sample" taken with the example's geometry, integrated with the calibration just made."""
    geometry = example_geometry()
    detector = geometry.detector
    image = ring_image(geometry, load_calibrant("LaB6"), tuple(detector.shape), fwhm_deg=0.05, intensity=600.0,
                       background=30.0, noise=True, seed=2)
    image[detector.mask.astype(bool)] = -1.0
    path = folder / "LaB6_sample_0001.tif"
    fabio.tifimage.TifImage(data=image).write(str(path))
    panel = window.integration_panel
    window.modes.setCurrentRow(2)
    panel.phase_box.setCurrentIndex(panel.phase_box.findText("LaB6"))
    panel.overlay_box.setCurrentIndex(panel.overlay_box.findData("phase"))
    window.integration.load(str(path))
    return path


def circle_dialog_example(app: QApplication, folder: Path, path: Path) -> None:
    """The circle dialog on a pyFAI-made SAXS image (AgBh, 1024 x 1024, 158 µm, beamstop): six clicks on the
    second ring through the views' mouse handling, two wheel notches over the magnified view, the detector
    chosen among the 13 of a 1024 x 1024 image (no header says which)."""
    from pyFAI.calibrant import Calibrant
    from pyFAI.detectors import Detector

    from xcal.core.geometry.refinement import new_geometry
    from xcal.gui.circle_dialog import CircleDialog
    from xcal.gui.circle_settings import POINTS

    shape, pixel, centre = (1024, 1024), 158e-6, (566.3, 483.7)
    geometry = new_geometry(Detector(pixel, pixel, max_shape=shape), dist=0.57, poni1=(centre[0] + 0.5) * pixel,
                            poni2=(centre[1] + 0.5) * pixel, rot1=0.0, rot2=0.0, rot3=0.0, wavelength=1.0332e-10)
    lam = sum(ring_image(geometry, Calibrant(dspacing=[58.38 / n]), shape, fwhm_deg=0.12, intensity=330.0 / n**1.5,
                         background=0.0) for n in range(1, 6))
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(rows - centre[0], cols - centre[1])
    lam = np.where(r < 15, 1.0, lam + 70.0 + 3000.0 * np.exp(-np.clip(r - 15.0, 0, None) / 10.0))
    data = np.random.default_rng(5).poisson(lam).astype(np.float32)
    dialog = CircleDialog(data, None, wavelength_m=1.0332e-10, settings=Settings(folder / "circle.ini"))
    dialog.resize(1500, 920)
    dialog.show()
    dialog.settings_box.set_mode(POINTS)
    dialog.settings_box.detector_box.setCurrentText("RayonixSx165")
    dialog.settings_box.ring_box.setValue(2)
    wait_until(app, dialog.isVisible)
    radius = 127.7  # the second order at 570 mm
    for angle in np.radians([20, 80, 150, 200, 260, 320]):
        row, col = centre[0] + radius * np.sin(angle), centre[1] + radius * np.cos(angle)
        for pane, offset in ((dialog.main_pane, 3.0), (dialog.zoom_pane, 0.0)):
            pos = pane.viewport_pos(col + offset + 0.5, row + 0.5)
            for kind in (QEvent.MouseButtonPress, QEvent.MouseButtonRelease):
                held = Qt.LeftButton if kind == QEvent.MouseButtonPress else Qt.NoButton
                QApplication.sendEvent(pane.viewport(), QMouseEvent(kind, QPointF(pos), Qt.LeftButton, held, Qt.NoModifier))
            app.processEvents()
    viewport = dialog.zoom_pane.viewport()
    middle = QPointF(viewport.width() / 2, viewport.height() / 2)
    QApplication.sendEvent(viewport, QWheelEvent(middle, QPointF(viewport.mapToGlobal(middle.toPoint())), QPoint(0, 0),
                                                 QPoint(0, 240), Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False))
    for _ in range(5):
        app.processEvents()
    dialog.grab().save(str(path))
    print(f"wrote {path} ({len(dialog.rows)} points, radius {dialog.fit.radius:.2f} px, {dialog.zoom_label.text()})")
    dialog.reject()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(settings=Settings(Path(tmp) / "xcal.ini"))
        window.resize(1500, 950)
        window.show()
        window.open_example()
        wait_until(app, lambda: window.session.raw is not None and window.session.raw_detector is not None)
        idle(app, window)
        row, col = point_on_first_ring(window)
        click_pixel(window, row, col)
        wait_until(app, lambda: len(window.session.picks.groups) == 1 or window.messages.level == "error")
        idle(app, window)
        if not window.session.picks.groups:
            raise SystemExit(f"picking failed: {window.messages.text()}")
        window.panel.calibrate_button.click()
        wait_until(app, lambda: window.session.result is not None or window.messages.level == "error")
        idle(app, window)
        if window.session.result is None:
            raise SystemExit(f"calibration failed: {window.messages.text()}")
        fit = window.session.result.fit
        print(f"calibrated: RMS {fit.rms_px:.3f} px on {len(fit.points)} points")
        window.messages.clear()
        window.cake_view.contrast.set_colormap("inferno")
        for index, name in ((0, "image"), (1, "cake"), (2, "pattern"), (3, "diagnostics")):
            window.tabs.setCurrentIndex(index)
            idle(app, window)
            path = args.out / f"calibration_{name}.png"
            if name == "image":
                grab_with_menu(app, window, path)
            else:
                if name == "cake":
                    cake = window.cake_view
                    wait_until(app, lambda: cake.box.viewRange()[0][1] > 1)  # its range follows the cake when painted
                    hover(cake.plot, cake.box, float(window.calibration.views.cake_lines[2]), 60.0)
                    app.processEvents()
                window.grab().save(str(path))
            print(f"wrote {path}")
        mask_example(window)
        window.tabs.setCurrentIndex(0)
        idle(app, window)
        path = args.out / "mask_mode.png"
        window.grab().save(str(path))
        print(f"wrote {path} ({window.mask_panel.count_label.text()})")
        integration_example(window, Path(tmp))
        idle(app, window)
        cake = window.integration_view.cake
        hover(cake.plot, cake.box, float(window.integration.shown.cake_lines[3]), -30.0)
        app.processEvents()
        path = args.out / "integration_mode.png"
        window.grab().save(str(path))
        print(f"wrote {path}")
        window.calibration.saved_geometry = window.session.geometry  # nothing to save: close quietly
        window.close()
        circle_dialog_example(app, Path(tmp), args.out / "circle_dialog.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
