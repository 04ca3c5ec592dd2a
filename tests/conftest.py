"""Shared fixtures: where the real beamline images live, and a headless Qt platform."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("XCAL_REAL_DATA", REPO.parent / "shared" / "data" / "real"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder of real calibration images with reference .poni files (see its SOURCES.md)."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data folder {REAL_DATA} not present")
    return REAL_DATA

@pytest.fixture(autouse=True)
def _collect_closed_widgets(request):
    """Run Python's cycle collector between GUI tests.

    A parentless widget dies when the collector reaches it; left to chance, that can happen in
    the middle of a later test's paint event, and a pyqtgraph view deleted there crashes the
    process. Collected here, after pytest-qt has closed the test's widgets, it dies quietly.
    """
    yield
    if "qtbot" in request.fixturenames:
        gc.collect()


@pytest.fixture
def main_window(qtbot, tmp_path, monkeypatch):
    """The application window, shown, with temporary settings and calibrant folder.

    The user's own settings are never read or changed; pytest-qt closes the window before the
    fixtures end, so the unsaved-calibration question is answered "discard".
    """
    from PyQt5.QtWidgets import QMessageBox

    from xcal.gui.main_window import MainWindow
    from xcal.gui.settings import Settings

    monkeypatch.setenv("XCAL_CALIBRANT_DIR", str(tmp_path / "calibrants"))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Discard)
    win = MainWindow(settings=Settings(tmp_path / "xcal.ini"))
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    return win


import sys  # noqa: E402

sys.path.insert(0, str(REPO))  # tests share the real/synthetic case tables in benchmarks/
