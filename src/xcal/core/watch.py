"""Integrate images as they appear in a folder, as at a beamline while data is being collected.

A detector writes a file over some time; a file counts as complete once its size and
modification time have not changed over one polling interval.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable
from pathlib import Path

from .batch import BatchReport, expand_sources
from .batch_job import Item
from .errors import Cancelled, XcalError
from .images import image_files_in_folder
from .progress import Task, ensure_task

RunItems = Callable[[list[Item], Task], BatchReport]


class FolderWatcher:
    """Reports each image file of a folder once, when it is complete (stable over one poll)."""

    def __init__(self, folder: str | os.PathLike, pattern: str = "*") -> None:
        self.folder = Path(folder)
        self.pattern = pattern
        self._last: dict[Path, tuple[int, int]] = {}  # file → (size, mtime) at the previous poll
        self._reported: set[Path] = set()

    def poll(self) -> list[Path]:
        """Files complete since the last call, in natural order."""
        current: dict[Path, tuple[int, int]] = {}
        for path in image_files_in_folder(self.folder):
            if path in self._reported or not fnmatch.fnmatch(path.name, self.pattern):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed or renamed meanwhile
                continue
            current[path] = (stat.st_size, stat.st_mtime_ns)
        ready = [p for p, state in current.items() if state[0] > 0 and self._last.get(p) == state]
        self._reported.update(ready)
        self._last = {p: s for p, s in current.items() if p not in self._reported}
        return ready


def watch_folder(folder: str | os.PathLike, run: RunItems, pattern: str = "*", task: Task | None = None,
                 poll_s: float = 1.0, idle_s: float | None = None,
                 on_report: Callable[[BatchReport], None] | None = None) -> BatchReport:
    """Integrate the folder's images, then each new one when complete, until cancelled or idle.

    :param run: integrates a list of items (a :class:`~.batch.BatchRunner`'s ``run``, or Dask).
    :param idle_s: stop after this many seconds without a new file (None: only on cancel).
    :param on_report: called after each group of files, e.g. to print what was done.
    """
    task = ensure_task(task)
    if not Path(folder).is_dir():
        raise XcalError(f"{folder}: not a folder, nothing to watch.")
    watcher = FolderWatcher(folder, pattern)
    total = BatchReport()
    last_new = time.monotonic()
    try:
        while True:
            ready = watcher.poll()
            if ready:
                items, failed = expand_sources(ready)
                report = run(items, task)
                report.results += failed
                total.extend(report)
                if on_report is not None:
                    on_report(report)
                if report.cancelled:
                    break
                last_new = time.monotonic()
            elif idle_s is not None and time.monotonic() - last_new > idle_s:
                break
            task.report(0.0, f"watching {Path(folder).name}: {len(total.done)} integrated")
            _sleep(poll_s, task)
    except Cancelled:
        total.cancelled = True
    return total


def _sleep(seconds: float, task: Task) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        task.check()
        time.sleep(min(left, 0.1))
