"""Batch integration (``xcal.core.beamtime.batch``, ``watch``): folders, globs, HDF5 stacks, two worker
processes, a corrupt file among good ones, never overwriting, Cancel, a worker killed mid-batch,
and a watched folder that receives files while it is watched."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import fabio
import h5py
import numpy as np
import pytest
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry

from xcal.core.beamtime.batch import BatchRunner, batch_geometry, expand_sources, run_batch
from xcal.core.beamtime.batch_job import Item, Recipe
from xcal.core.beamtime.watch import FolderWatcher, watch_folder
from xcal.core.calibration.synthetic import ring_image
from xcal.core.integration.integrator import IntegrationSettings, Integrator, calibrant_positions
from xcal.core.io.calibrants import load_calibrant
from xcal.core.io.poni import write_poni
from xcal.core.progress import Task

WAVELENGTH = 0.3e-10
N_FILES = 10


def geometry() -> Geometry:
    return Geometry(detector=detector_factory("Pilatus100k"), wavelength=WAVELENGTH,
                    dist=0.1, poni1=0.017, poni2=0.04, rot1=0.01)


def write_tif(path: Path, data: np.ndarray) -> Path:
    fabio.tifimage.TifImage(np.asarray(data, np.float32)).write(str(path))
    return path


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    g = geometry()
    return ring_image(g, load_calibrant("CeO2"), g.detector.shape, fwhm_deg=0.08, noise=True, seed=2)


@pytest.fixture()
def folder(tmp_path, image) -> Path:
    """N_FILES good images, a corrupt .tif in the middle, and a text file (not an image)."""
    data = tmp_path / "data"
    data.mkdir()
    for k in range(N_FILES):
        write_tif(data / f"sample_{k:03d}.tif", image * (1 + k))
    (data / "sample_004b.tif").write_bytes(b"II*\x00 not really a TIFF")
    (data / "notes.txt").write_text("beamline log")
    return data


def recipe(out: Path, **changes) -> Recipe:
    return Recipe(geometry(), changes.pop("settings", IntegrationSettings(npt=800)), out, **changes)


def test_sources_folders_globs_stacks_and_clashes(tmp_path, folder, image) -> None:
    stack = tmp_path / "stack.h5"
    with h5py.File(stack, "w") as h5:
        h5["entry/data"] = np.stack([image] * 3)
    items, failed = expand_sources([folder, stack, tmp_path / "missing.tif", str(folder / "sample_00[12].tif"),
                                    tmp_path / "nothing*.cbf"], pattern="sample_00?.tif")
    stems = [i.stem for i in items]
    assert stems == [f"sample_{k:03d}" for k in range(N_FILES)] + ["stack_0000", "stack_0001", "stack_0002"]
    assert [(i.source, i.frame) for i in items[-3:]] == [(str(stack), k) for k in range(3)]
    reasons = [r.reason for r in failed]
    assert any("missing.tif: file not found" in r for r in reasons)
    assert any("nothing*.cbf: no file matches" in r for r in reasons)
    assert sum("is already that of" in r for r in reasons) == 2  # the glob repeats two files of the folder
    assert all(r.status == "failed" for r in failed)


def test_batch_reports_corrupt_file_and_finishes_the_rest(tmp_path, folder, image) -> None:
    """Two worker processes; the corrupt file is named with its problem; the results are pyFAI's."""
    out = tmp_path / "out"
    items, failed = expand_sources([folder])
    assert not failed and len(items) == N_FILES + 1
    seen = []
    report = run_batch(items, recipe(out, formats=("xy", "dat"), cake_formats=("npy",),
                                     header=["Geometry: test"]), workers=2, task=Task(lambda f, m: seen.append(f)))
    assert len(report.done) == N_FILES and not report.skipped and not report.cancelled
    assert [r.item.stem for r in report.failed] == ["sample_004b"]
    assert "sample_004b.tif: cannot be read as an image" in report.failed[0].reason
    assert "failed 1" in report.summary() and "sample_004b.tif" in report.summary()
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert len(list(out.iterdir())) == 3 * N_FILES

    expected = Integrator().pattern(image * 4, geometry(), geometry().detector.mask.astype(bool), 800, sigma=True)
    text = (out / "sample_003.xy").read_text()
    assert text.startswith("# Image: sample_003.tif\n# Geometry: test\n")
    xy = np.loadtxt(out / "sample_003.xy")
    np.testing.assert_allclose(xy[:, 0], expected.radial, rtol=1e-7)
    np.testing.assert_allclose(xy[:, 1], expected.intensity, rtol=1e-5, atol=1e-5 * expected.intensity.max())
    dat = np.loadtxt(out / "sample_003.dat")
    np.testing.assert_allclose(dat[:, 2], expected.sigma, rtol=1e-5, atol=1e-6 * expected.sigma.max())
    lines = calibrant_positions(load_calibrant("CeO2").dspacing, WAVELENGTH)
    peak = xy[np.argmax(xy[:, 1]), 0]
    assert np.min(np.abs(lines - peak)) < 2 * (xy[1, 0] - xy[0, 0])
    assert np.load(out / "sample_003.cake.npy").shape == (360, 1000)


def test_results_are_never_overwritten_unless_asked(tmp_path, folder) -> None:
    out = tmp_path / "out"
    items = [i for i in expand_sources([folder])[0] if i.stem != "sample_004b"][:3]
    first = run_batch(items, recipe(out, formats=("xy", "chi")), workers=1)
    assert len(first.done) == 3
    sentinel = "an earlier result\n"
    (out / "sample_000.xy").write_text(sentinel)
    (out / "sample_001.chi").unlink()  # one format missing: only that one is written
    (out / "sample_001.xy").write_text(sentinel)
    again = run_batch(items, recipe(out, formats=("xy", "chi")), workers=1)
    assert [r.item.stem for r in again.skipped] == ["sample_000", "sample_002"]
    assert "results exist" in again.skipped[0].reason
    assert [r.outputs for r in again.done] == [[str(out / "sample_001.chi")]]
    assert (out / "sample_000.xy").read_text() == sentinel == (out / "sample_001.xy").read_text()
    forced = run_batch(items, recipe(out, formats=("xy", "chi"), overwrite=True), workers=1)
    assert len(forced.done) == 3 and (out / "sample_000.xy").read_text() != sentinel


def test_hdf5_stack_every_frame(tmp_path, image) -> None:
    stack = tmp_path / "scan.nxs"
    with h5py.File(stack, "w") as h5:
        h5["entry/data/data"] = np.stack([image * (k + 1) for k in range(4)]).astype(np.int32)
    items, failed = expand_sources([f"{stack}::/entry/data/data"])
    assert not failed and [i.frame for i in items] == [0, 1, 2, 3]
    report = run_batch(items, recipe(tmp_path / "out"), workers=1)
    assert len(report.done) == 4
    peaks = [np.loadtxt(tmp_path / "out" / f"scan_{k:04d}.xy")[:, 1].max() for k in range(4)]
    np.testing.assert_allclose(np.array(peaks) / peaks[0], [1, 2, 3, 4], rtol=1e-3)
    assert "# Image: scan.nxs::/entry/data/data [frame 2]" in (tmp_path / "out" / "scan_0002.xy").read_text()


def test_image_of_another_shape_fails_alone(tmp_path, folder, image) -> None:
    write_tif(folder / "sample_005.tif", np.ones((50, 60)))
    mask = np.zeros(image.shape, bool)
    items = [i for i in expand_sources([folder])[0] if i.stem in ("sample_005", "sample_006")]
    report = run_batch(items, recipe(tmp_path / "out", mask=mask), workers=1)
    assert [r.item.stem for r in report.done] == ["sample_006"]
    assert "sample_005.tif" in report.failed[0].reason and "50 x 60" in report.failed[0].reason


def test_cancel_stops_between_frames(tmp_path, folder) -> None:
    items = [i for i in expand_sources([folder])[0] if i.stem != "sample_004b"]
    task = Task()
    calls = []

    def progress(fraction: float, message: str) -> None:
        calls.append(fraction)
        if len(calls) == 3:
            task.cancel()

    task._callback = progress
    report = run_batch(items, recipe(tmp_path / "out"), workers=1, task=task)
    assert report.cancelled and 1 <= len(report.done) < N_FILES
    assert len(report.results) == N_FILES
    assert {r.reason for r in report.skipped} == {"cancelled"}
    assert "cancelled" in report.summary()


def test_worker_killed_mid_batch_costs_nothing(tmp_path, folder) -> None:
    """A worker that dies (crash, out-of-memory killer): its frames are retried in a new pool."""
    items = [i for i in expand_sources([folder])[0] if i.stem != "sample_004b"]
    with BatchRunner(recipe(tmp_path / "out"), workers=2) as runner:
        killed = []

        def progress(fraction: float, message: str) -> None:
            if 0 < fraction and not killed and runner._pool is not None and runner._pool._processes:
                pid = next(iter(runner._pool._processes))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        report = runner.run(items, Task(progress))
    assert killed
    assert len(report.done) == N_FILES and not report.failed, [(r.item.stem, r.status, r.reason) for r in report.results]


def test_batch_geometry_reads_legacy_dioptas_on_the_image(real_data, tmp_path) -> None:
    """A .poni without detector orientation is read the way that fits the first image (as the GUI)."""
    stem = "cpf_CeO2_Pilatus1M_30keV"
    items, _ = expand_sources([real_data / f"{stem}.tif"])
    modern, _ = batch_geometry(real_data / f"{stem}.poni", items)
    legacy, notes = batch_geometry(real_data / f"{stem}.dioptas.poni", items)
    assert int(modern.detector.orientation) == 2 == int(legacy.detector.orientation)
    assert any("legacy Dioptas" in n for n in notes)


def test_folder_watcher_waits_for_complete_files(tmp_path, image) -> None:
    watcher = FolderWatcher(tmp_path, "*.tif")
    assert watcher.poll() == []
    first = write_tif(tmp_path / "a_001.tif", image)
    (tmp_path / "a_002.tif").write_bytes(b"")  # being created: empty
    assert watcher.poll() == []  # seen once: not yet known to be complete
    assert watcher.poll() == [first]
    with open(tmp_path / "a_002.tif", "ab") as handle:
        handle.write(b"II*\x00")  # still growing
    assert watcher.poll() == []
    assert watcher.poll() == [tmp_path / "a_002.tif"]
    assert watcher.poll() == []  # each file once


def test_watch_integrates_files_as_they_arrive(tmp_path, image) -> None:
    incoming, out = tmp_path / "incoming", tmp_path / "out"
    incoming.mkdir()
    write_tif(incoming / "scan_000.tif", image)
    reports = []

    def collect() -> None:
        for k in range(1, 3):
            time.sleep(0.15)
            write_tif(incoming / f"scan_{k:03d}.tif", image)
        (incoming / "scan_003.tif").write_bytes(b"garbage")

    writer = threading.Thread(target=collect)
    with BatchRunner(recipe(out), workers=1) as runner:
        writer.start()
        total = watch_folder(incoming, runner.run, "*.tif", poll_s=0.05, idle_s=2.0, on_report=reports.append,
                             settle_s=0.3)
    writer.join()
    assert sorted(r.item.stem for r in total.done) == ["scan_000", "scan_001", "scan_002"]
    assert [r.item.stem for r in total.failed] == ["scan_003"]
    assert len(reports) >= 2 and not total.cancelled
    assert sorted(p.name for p in out.iterdir()) == ["scan_000.xy", "scan_001.xy", "scan_002.xy"]


def test_watch_stops_on_cancel(tmp_path) -> None:
    task = Task()
    threading.Timer(0.3, task.cancel).start()
    with BatchRunner(recipe(tmp_path / "out"), workers=1) as runner:
        total = watch_folder(tmp_path, runner.run, task=task, poll_s=0.05)
    assert total.cancelled and not total.results


def test_poni_written_and_read_back_drives_a_batch(tmp_path, folder) -> None:
    """The geometry as a file, the way the CLI gets it."""
    poni = tmp_path / "g.poni"
    write_poni(poni, geometry())
    items = [i for i in expand_sources([folder])[0] if i.stem == "sample_000"]
    g, notes = batch_geometry(poni, items)
    assert g.dist == pytest.approx(0.1) and not any("legacy" in n for n in notes)
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
    report = run_batch(items, Recipe(g, IntegrationSettings(npt=500), tmp_path / "out"), workers=2)
    assert len(report.done) == 1  # a single frame runs in this process, no pool to start
    assert isinstance(report.done[0].item, Item)
