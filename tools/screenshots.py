"""Screenshots of the calibration mode for the README, made offscreen on the example image.

Opens the window with ``xcal --example``'s image, clicks the first ring through the image
view's mouse handling, presses Calibrate and saves the Image, Cake and Pattern tabs::

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

import numpy as np  # noqa: E402
from PyQt5.QtCore import QEvent, QEventLoop, QPointF, Qt  # noqa: E402
from PyQt5.QtGui import QMouseEvent  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402

from xcal.core.beam import beam_centre  # noqa: E402
from xcal.core.refinement import ring_tth  # noqa: E402
from xcal.gui.example import example_geometry  # noqa: E402
from xcal.gui.main_window import MainWindow  # noqa: E402
from xcal.gui.settings import Settings  # noqa: E402

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
        for index, name in ((0, "image"), (1, "cake"), (2, "pattern")):
            window.tabs.setCurrentIndex(index)
            idle(app, window)
            path = args.out / f"calibration_{name}.png"
            window.grab().save(str(path))
            print(f"wrote {path}")
        window.calibration.saved_geometry = window.session.geometry  # nothing to save: close quietly
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
