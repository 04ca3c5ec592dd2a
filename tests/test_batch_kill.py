"""Killed processes: ``xcal integrate`` killed with -9 in the middle of a stack leaves no worker or
fork server running, and the next run into the folder removes the temporary files of the killed
writes and completes; a worker killed just before the next frame is sent is survived."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry

from xcal.cli import main
from xcal.core.beamtime.batch import BatchRunner, expand_sources
from xcal.core.beamtime.batch_job import Recipe
from xcal.core.integration.integrator import IntegrationSettings
from xcal.core.io.poni import write_poni
from xcal.core.progress import Task

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="processes are listed from /proc")
FRAMES = 40


def geometry() -> Geometry:
    return Geometry(detector=detector_factory("Pilatus100k"), wavelength=0.3e-10, dist=0.1, poni1=0.017, poni2=0.04)


@pytest.fixture()
def stack(tmp_path) -> Path:
    path = tmp_path / "stack.h5"
    with h5py.File(path, "w") as h5:
        h5["entry/data/data"] = np.random.default_rng(3).poisson(100, (FRAMES, *geometry().detector.shape)).astype(np.uint16)
    return path


def _stat(pid: int) -> list[str] | None:
    """State, parent... of a process (fields after the name), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def running(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def killed_write(folder: Path, name: str) -> None:
    """A process killed with -9 in the middle of an atomic write into ``folder``."""
    script = ("import sys, time\nfrom xcal.core.io.atomic import atomic_writer\n"
              "with atomic_writer(sys.argv[1]) as handle:\n"
              "    handle.write('half'); handle.flush(); print('writing', flush=True); time.sleep(60)\n")
    writer = subprocess.Popen([sys.executable, "-c", script, str(folder / name)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "writing\n"
    finally:
        writer.kill()
        writer.wait()


def test_kill_9_leaves_no_process_and_the_next_run_completes(tmp_path, stack, capsys) -> None:
    poni, out = tmp_path / "g.poni", tmp_path / "out"
    write_poni(poni, geometry())
    args = ["integrate", str(stack), "--poni", str(poni), "-o", str(out), "--cake", "--cake-npt", "500", "180"]
    batch = subprocess.Popen([sys.executable, "-c", "import sys; from xcal.cli import main; sys.exit(main())",
                              *args, "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(3000):  # until the workers have written a result (60 s at most)
            if batch.poll() is not None or (out.is_dir() and any(out.glob("*.xy"))):
                break
            time.sleep(0.02)
        family = descendants(batch.pid)
    finally:
        batch.kill()
        batch.wait()
    assert batch.returncode == -signal.SIGKILL, "the batch ended before it was killed: give it more frames"
    assert len(family) >= 3, family  # the fork server and two workers (and the resource tracker)
    for _ in range(500):  # the workers notice within a second; 10 s at most
        if not any(map(running, family)):
            break
        time.sleep(0.02)
    assert [p for p in family if running(p)] == []

    killed_write(out, "stack_0000.xy")
    assert any(p.name.endswith(".tmp") for p in out.iterdir())
    assert main([*args, "--workers", "1"]) == 0
    assert "failed 0" in capsys.readouterr().out
    expected = {f"stack_{k:04d}.{ext}" for k in range(FRAMES) for ext in ("xy", "cake.tif")}
    assert {p.name for p in out.iterdir()} == expected  # every frame, no temporary file left


def test_a_worker_dying_before_the_next_frame_is_sent(tmp_path, stack) -> None:
    """The pool is known broken when the next frame is submitted: the frames go to a new pool."""
    items = expand_sources([stack])[0][:20]
    with BatchRunner(Recipe(geometry(), IntegrationSettings(npt=300), tmp_path / "out"), workers=2) as runner:
        killed = []

        def progress(fraction: float, message: str) -> None:
            pool = runner._pool
            if fraction > 0 and not killed and pool is not None and pool._processes:
                killed.append(next(iter(pool._processes)))
                os.kill(killed[0], signal.SIGKILL)
                for _ in range(500):  # until the pool knows (10 s at most)
                    if pool._broken:
                        break
                    time.sleep(0.02)

        report = runner.run(items, Task(progress))
    assert killed
    assert len(report.done) == len(items) and not report.failed and not report.skipped, report.summary()
