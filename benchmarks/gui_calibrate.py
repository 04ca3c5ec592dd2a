"""The window's Calibrate, as the user waits for it: from the button to the result, then to the
cake and the pattern shown, idle and with one core kept busy.

The ``xcal --example`` image (CeO2, Pilatus 1M, 1 Mpx) is loaded in a real window (offscreen), the
first ring is picked through the controller's click slot, and Calibrate is pressed ``--repeat``
times; the first press is reported apart (a session's first cake builds the integrator's tables).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_calibrate.py [--repeat 3]

The table goes to stdout, the numbers to ``benchmarks/results/gui_calibrate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from PyQt5.QtCore import Qt  # noqa: E402
from PyQt5.QtTest import QTest  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402

from benchmarks.side_by_side import busy_core  # noqa: E402
from xcal.gui.example import EXAMPLE, make_example  # noqa: E402
from xcal.gui.main_window import MainWindow  # noqa: E402
from xcal.gui.settings import Settings  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "gui_calibrate.json"
CLICK = (554, 616)  # row, col on the example's second ring (README's API example)


def wait(app: QApplication, done, timeout_s: float = 60.0) -> float:
    """Process events until ``done()``; the time it took."""
    t0 = time.perf_counter()
    while not done():
        app.processEvents()
        if time.perf_counter() - t0 > timeout_s:
            raise TimeoutError("the window did not finish")
        time.sleep(0.001)
    return time.perf_counter() - t0


def press_calibrate(app: QApplication, win: MainWindow) -> tuple[float, float]:
    """(seconds to the result shown, seconds to result, cake and pattern shown)."""
    ctrl = win.calibration
    before = ctrl.views
    t0 = time.perf_counter()
    QTest.mouseClick(win.panel.calibrate_button, Qt.LeftButton)
    wait(app, lambda: win.session.geometry is not None and not win.runner.blocking)
    result = time.perf_counter() - t0
    wait(app, lambda: ctrl.views is not None and ctrl.views is not before
         and ctrl.views_geometry is win.session.geometry and not win.runner.busy)
    app.processEvents()  # paint
    return result, time.perf_counter() - t0


def session_run(app: QApplication, folder: Path, presses: int) -> list[tuple[float, float]]:
    win = MainWindow(Settings(folder / "settings.json"))
    win.resize(1400, 900)
    win.show()
    panel = win.panel
    panel.energy_box.setValue(EXAMPLE.energy_kev)
    panel.distance_box.setValue(EXAMPLE.distance_mm)
    win.open_source(str(make_example(folder)))
    wait(app, lambda: win.session.raw is not None and not win.runner.busy)
    panel.select_detector(EXAMPLE.detector)
    win.calibration.set_detector(name=EXAMPLE.detector)
    win.calibration.set_calibrant(EXAMPLE.calibrant)
    panel.ring_box.setValue(2)
    wait(app, lambda: not win.runner.busy)
    win.calibration.pick(*CLICK)
    wait(app, lambda: not win.runner.busy)
    if len(win.session.picks.groups) != 1:
        raise RuntimeError(f"the click picked nothing: {win.messages.text()}")
    times = [press_calibrate(app, win) for _ in range(presses)]
    win.calibration.saved_geometry = win.session.geometry  # no "save the calibration?" on close
    win.close()
    return times


def summarise(times: list[tuple[float, float]]) -> dict:
    later = times[1:] or times
    return {"first_result_s": times[0][0], "first_views_s": times[0][1],
            "later_result_s": statistics.median(t[0] for t in later),
            "later_views_s": statistics.median(t[1] for t in later)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="presses of Calibrate after the first")
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication([])
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows["idle"] = summarise(session_run(app, Path(tmp), args.repeat + 1))
        with busy_core():
            rows["one core busy"] = summarise(session_run(app, Path(tmp), args.repeat + 1))
    print(f"{'':14}  {'first: result':>13}  {'first: views':>12}  {'later: result':>13}  {'later: views':>12}")
    for name, r in rows.items():
        print(f"{name:14}  {r['first_result_s']:13.2f}  {r['first_views_s']:12.2f}  "
              f"{r['later_result_s']:13.2f}  {r['later_views_s']:12.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))
    print(f"\nseconds from the Calibrate button (1 Mpx example); results written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
