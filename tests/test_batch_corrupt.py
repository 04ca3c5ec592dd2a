"""Corrupt HDF5 files among good images (a damaged symbol table, a damaged local heap, a soft-link
loop, garbage behind an HDF5 signature, frames too large for memory): every reader error is one
failed file with its reason; expanding the sources, the batch, ``xcal integrate`` and watch mode
finish the good files and report."""

from __future__ import annotations

import threading
from pathlib import Path

import fabio
import h5py
import numpy as np
import pytest
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry

from xcal.cli import main
from xcal.core.beamtime.batch import BatchRunner, batch_geometry, expand_sources
from xcal.core.beamtime.batch_job import Recipe
from xcal.core.beamtime.watch import watch_folder
from xcal.core.integration.integrator import IntegrationSettings
from xcal.core.io.poni import write_poni

BAD = ("bad_symtab.h5", "bad_heap.h5", "bad_loop.h5", "bad_garbage.h5")  # fail when their frames are counted
HUGE = "bad_huge.h5"  # counted, but each frame fails to load (3.6 TiB)


def geometry() -> Geometry:
    return Geometry(detector=detector_factory("Pilatus100k"), wavelength=0.3e-10, dist=0.1, poni1=0.017, poni2=0.04)


def noise(seed: int, frames: int | None = None) -> np.ndarray:
    shape = geometry().detector.shape if frames is None else (frames, *geometry().detector.shape)
    return np.random.default_rng(seed).poisson(100, shape).astype(np.float32)


def write_tif(path: Path, data: np.ndarray) -> Path:
    fabio.tifimage.TifImage(data).write(str(path))
    return path


def damaged_hdf5(path: Path, signature: bytes) -> Path:
    """A valid stack whose last structure with ``signature`` (SNOD: symbol table, HEAP: local heap) is overwritten."""
    with h5py.File(path, "w") as h5:
        h5["entry/data/data"] = noise(9, 2)
    data = bytearray(path.read_bytes())
    at = data.rindex(signature)
    data[at:at + len(signature)] = b"XXXX"
    path.write_bytes(bytes(data))
    return path


def write_bad_files(folder: Path) -> None:
    damaged_hdf5(folder / "bad_symtab.h5", b"SNOD")
    damaged_hdf5(folder / "bad_heap.h5", b"HEAP")
    with h5py.File(folder / "bad_loop.h5", "w") as h5:
        h5["a"] = h5py.SoftLink("/b")
        h5["b"] = h5py.SoftLink("/a")
    (folder / "bad_garbage.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 16)
    with h5py.File(folder / HUGE, "w") as h5:
        h5.create_dataset("data", shape=(2, 1_000_000, 1_000_000), dtype=np.float32, chunks=(1, 1024, 1024))


@pytest.fixture()
def folder(tmp_path) -> Path:
    """Three good TIFFs, a good two-frame stack and the bad files."""
    data = tmp_path / "data"
    data.mkdir()
    for k in range(3):
        write_tif(data / f"good_{k}.tif", noise(k))
    with h5py.File(data / "good_stack.h5", "w") as h5:
        h5["entry/data/data"] = noise(5, 2)
    write_bad_files(data)
    return data


def recipe(out: Path) -> Recipe:
    return Recipe(geometry(), IntegrationSettings(npt=300), out)


GOOD_STEMS = ["good_0", "good_1", "good_2", "good_stack_0000", "good_stack_0001"]


def test_expanding_reports_each_corrupt_hdf5_file(folder) -> None:
    items, failed = expand_sources([folder])
    assert sorted(i.stem for i in items) == sorted(GOOD_STEMS + ["bad_huge_0000", "bad_huge_0001"])
    assert sorted(Path(r.item.source).name for r in failed) == sorted(BAD)
    for result in failed:
        assert result.status == "failed" and result.reason.startswith(f"{result.item.source}: "), result.reason
    reasons = {Path(r.item.source).name: r.reason for r in failed}
    assert "symbol table" in reasons["bad_symtab.h5"] and "local heap" in reasons["bad_heap.h5"]


def test_geometry_of_a_legacy_poni_is_read_on_the_first_readable_image(folder, tmp_path) -> None:
    """A .poni without orientation is fitted to the first image that loads; frames that do not load are passed over."""
    poni = tmp_path / "legacy.poni"
    poni.write_text("poni_version: 2\nDetector: Pilatus100k\nDetector_config: {\"pixel1\": 0.000172, \"pixel2\": 0.000172}\n"
                    "Distance: 0.1\nPoni1: 0.017\nPoni2: 0.04\nRot1: 0\nRot2: 0\nRot3: 0\nWavelength: 3e-11\n")
    items, _ = expand_sources([folder / HUGE, folder / "good_0.tif"])
    geometry_read, _ = batch_geometry(poni, items)
    assert geometry_read.dist == pytest.approx(0.1)


def test_cli_integrates_the_good_files_and_reports_each_bad_one(folder, tmp_path, capsys) -> None:
    write_poni(tmp_path / "g.poni", geometry())
    out = tmp_path / "out"
    rc = main(["integrate", str(folder), "--poni", str(tmp_path / "g.poni"), "-o", str(out), "--npt", "300"])
    stdout, stderr = capsys.readouterr()
    assert rc == 1 and "Traceback" not in stderr
    assert "Integrated 5, skipped 0, failed 6" in stdout
    failed_lines = [line for line in stdout.splitlines() if line.startswith("  failed")]
    assert len(failed_lines) == 6
    for name in (*BAD, HUGE):
        assert any(str(folder / name) in line for line in failed_lines), name
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{stem}.xy" for stem in GOOD_STEMS)


def test_watch_goes_on_after_corrupt_files(folder, tmp_path) -> None:
    """The bad files are there when watching starts; a good file written later is integrated."""
    out = tmp_path / "out"
    first = threading.Event()

    def on_report(report) -> None:
        if not first.is_set():
            first.set()
            write_tif(folder / "good_3.tif", noise(3))

    with BatchRunner(recipe(out), workers=1) as runner:
        total = watch_folder(folder, runner.run, poll_s=0.05, idle_s=0.5, on_report=on_report, settle_s=0.3)
    assert sorted(r.item.stem for r in total.done) == sorted(GOOD_STEMS + ["good_3"])
    assert sorted({Path(r.item.source).name for r in total.failed}) == sorted((*BAD, HUGE))
    assert (out / "good_3.xy").exists()
