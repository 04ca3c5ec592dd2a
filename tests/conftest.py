"""Shared fixtures: where the real beamline images live, and a headless Qt platform."""

from __future__ import annotations

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

import sys

sys.path.insert(0, str(REPO))  # tests share the real/synthetic case tables in benchmarks/
