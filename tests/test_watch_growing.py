"""Watch mode and writers that pause: a TIFF or CBF file written half, left unchanged for longer than
one poll (so it is tried and fails), then finished, ends integrated with its full content; a file
that fails, is reported failed and is later rewritten gets integrated and its failure withdrawn."""

from __future__ import annotations

import threading
from pathlib import Path

import fabio
import numpy as np
import pytest
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry

from xcal.core.beamtime.batch import BatchReport, BatchRunner, expand_sources, run_batch
from xcal.core.beamtime.batch_job import Recipe
from xcal.core.beamtime.watch import watch_folder
from xcal.core.integration.integrator import IntegrationSettings

WRITERS = {"tif": fabio.tifimage.TifImage, "cbf": fabio.cbfimage.CbfImage}


def geometry() -> Geometry:
    return Geometry(detector=detector_factory("Pilatus100k"), wavelength=0.3e-10, dist=0.1, poni1=0.017, poni2=0.04)


def recipe(out: Path) -> Recipe:
    return Recipe(geometry(), IntegrationSettings(npt=300), out)


def encoded(tmp_path: Path, fmt: str) -> bytes:
    """A whole detector frame as the bytes of a ``fmt`` file (a reference copy stays in tmp_path)."""
    data = np.random.default_rng(1).poisson(100, geometry().detector.shape).astype(np.int32)
    path = tmp_path / f"reference.{fmt}"
    WRITERS[fmt](data).write(str(path))
    return path.read_bytes()


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_a_file_written_with_a_pause_is_integrated_whole(tmp_path, fmt) -> None:
    incoming, out = tmp_path / "incoming", tmp_path / "out"
    incoming.mkdir()
    content = encoded(tmp_path, fmt)
    attempts: list[list[str]] = []  # the statuses of each run, as it returned
    tried = threading.Event()

    with BatchRunner(recipe(out), workers=1) as runner:
        def run(items, task) -> BatchReport:
            report = runner.run(items, task)
            attempts.append([r.status for r in report.results])
            tried.set()
            return report

        def writer() -> None:
            """Half the file, a pause until the watch has tried it (longer than a poll), the rest."""
            with open(incoming / f"frame.{fmt}", "wb") as handle:
                handle.write(content[:len(content) // 2])
                handle.flush()
                tried.wait(10)
                handle.write(content[len(content) // 2:])

        thread = threading.Thread(target=writer)
        thread.start()
        total = watch_folder(incoming, run, poll_s=0.05, idle_s=0.3, settle_s=0.3)
        thread.join()
    assert attempts[0] == ["failed"], "the half-written file was tried"
    assert [r.item.stem for r in total.done] == ["frame"] and not total.failed, total.summary()
    reference = run_batch(expand_sources([tmp_path / f"reference.{fmt}"])[0], recipe(tmp_path / "ref"), workers=1)
    assert len(reference.done) == 1
    np.testing.assert_array_equal(np.loadtxt(out / "frame.xy"), np.loadtxt(tmp_path / "ref" / "reference.xy"))


def test_a_failed_file_rewritten_later_is_integrated(tmp_path) -> None:
    """Reported failed once unchanged for the settling time; rewritten afterwards: integrated, failure withdrawn."""
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "late.tif").write_bytes(b"II*\x00 a writer that stalled")
    content = encoded(tmp_path, "tif")
    reports: list[BatchReport] = []

    def on_report(report: BatchReport) -> None:
        reports.append(report)
        if report.failed:
            (incoming / "late.tif").write_bytes(content)

    with BatchRunner(recipe(tmp_path / "out"), workers=1) as runner:
        total = watch_folder(incoming, runner.run, poll_s=0.05, idle_s=0.3, settle_s=0.3, on_report=on_report)
    assert [r.item.stem for r in reports[0].failed] == ["late"] and "late.tif" in reports[0].summary()
    assert [r.item.stem for r in total.done] == ["late"] and not total.failed
    assert (tmp_path / "out" / "late.xy").exists()
