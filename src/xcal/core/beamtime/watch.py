"""Integrate images as they appear in a folder, as at a beamline while data is being collected.

A detector writes a file over some time; a file counts as complete once its size and
modification time have not changed over one polling interval. A writer may pause longer than
that, so a file that fails is not reported at once: it is integrated again once it has changed
and then stayed unchanged for ``settle_s``, and reported failed only when it stays unreadable
(unchanged for ``settle_s``). A bad file is that file's failure only: the watch goes on.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import Cancelled, XcalError
from ..io.images import image_files_in_folder, split_hdf5_source
from ..progress import Task, ensure_task
from .batch import BatchReport, expand_sources
from .batch_job import Item, ItemResult

RunItems = Callable[[list[Item], Task], BatchReport]
State = tuple[int, int]  # size, modification time (ns)


class FolderWatcher:
    """Offers each image file of a folder when complete (stable over one poll); a file whose
    integration failed is offered again whenever it changes, once it has settled."""

    def __init__(self, folder: str | os.PathLike, pattern: str = "*", settle_s: float = 5.0) -> None:
        self.folder = Path(folder)
        self.pattern = pattern
        self.settle_s = settle_s
        self._last: dict[Path, State] = {}  # file → state at the previous poll
        self._since: dict[Path, float] = {}  # file → when that state was first seen
        self._offered: dict[Path, State] = {}  # file → state when last offered
        self._failed: set[Path] = set()  # offered files whose integration failed

    def poll(self) -> list[Path]:
        """Files to integrate now, in natural order: new ones once stable over one poll, failed
        ones once changed since and unchanged for ``settle_s``."""
        current = self._states()
        if current is None:  # the folder cannot be listed now (a network file system's hiccup)
            return []
        now = time.monotonic()
        self._since = {p: self._since[p] if self._last.get(p) == s else now for p, s in current.items()}
        ready = [p for p, state in current.items() if self._ready(p, state, now)]
        self._last = current
        self._offered.update((p, current[p]) for p in ready)
        return ready

    def failed(self, path: Path) -> None:
        """The offered file could not be (entirely) integrated: offer it again if it changes."""
        self._failed.add(path)

    def integrated(self, path: Path) -> None:
        self._failed.discard(path)

    def settled(self, path: Path) -> bool:
        """A failed file unchanged since it was offered, for ``settle_s``: it stays as it is."""
        state = self._last.get(path)
        return state is None or (state == self._offered[path] and time.monotonic() - self._since[path] >= self.settle_s)

    def retry_due(self) -> bool:
        """Some failed file has changed since it was offered: it will be offered again."""
        return any(p in self._last and self._last[p] != self._offered[p] for p in self._failed)

    def _states(self) -> dict[Path, State] | None:
        try:
            files = image_files_in_folder(self.folder)
        except OSError:
            return None
        current: dict[Path, State] = {}
        for path in files:
            if not fnmatch.fnmatch(path.name, self.pattern):
                continue
            try:
                stat = path.stat()
            except OSError:  # removed or renamed meanwhile
                continue
            current[path] = (stat.st_size, stat.st_mtime_ns)
        return current

    def _ready(self, path: Path, state: State, now: float) -> bool:
        if state[0] == 0 or self._last.get(path) != state:  # empty, or changed since the previous poll
            return False
        if path not in self._offered:
            return True
        return path in self._failed and state != self._offered[path] and now - self._since[path] >= self.settle_s


def watch_folder(folder: str | os.PathLike, run: RunItems, pattern: str = "*", task: Task | None = None,
                 poll_s: float = 1.0, idle_s: float | None = None,
                 on_report: Callable[[BatchReport], None] | None = None,
                 settle_s: float | None = None) -> BatchReport:
    """Integrate the folder's images, then each new one when complete, until cancelled or idle.

    :param run: integrates a list of items (a :class:`~.batch.BatchRunner`'s ``run``, or Dask).
    :param idle_s: stop after this many seconds without a new file, once no failed file waits for
        another try (None: only on cancel).
    :param on_report: called after each group of files, e.g. to print what was done.
    :param settle_s: how long a failed file must stay unchanged before it is tried again (if it
        changed) or reported failed (if not); default 5 s, at least three polls.
    """
    task = ensure_task(task)
    if not Path(folder).is_dir():
        raise XcalError(f"{folder}: not a folder, nothing to watch.")
    watcher = FolderWatcher(folder, pattern, max(5.0, 3 * poll_s) if settle_s is None else settle_s)
    total = BatchReport()
    held: dict[Path, list[ItemResult]] = {}  # failures of files that may still be being written
    integrated: set[tuple[str, int]] = set()  # (source, frame) done during this watch
    last_new = time.monotonic()
    try:
        while True:
            ready = watcher.poll()
            report = _integrate(ready, run, task, integrated) if ready else BatchReport()
            _hold_failures(report, ready, held, watcher)
            report.results += _settled_failures(held, watcher)
            if report.results or report.cancelled:
                _merge(total, report, ready)
                integrated.update((r.item.source, r.item.frame) for r in report.done)
                if on_report is not None:
                    on_report(report)
            if report.cancelled:
                break
            if ready:
                last_new = time.monotonic()
            elif (idle_s is not None and not held and not watcher.retry_due()
                  and time.monotonic() - last_new > idle_s):
                break
            task.report(0.0, f"watching {Path(folder).name}: {len(total.done)} integrated")
            _sleep(poll_s, task)
    except Cancelled:
        total.cancelled = True
    total.results += [r for results in held.values() for r in results]  # still unreadable at the end
    return total


def _integrate(files: list[Path], run: RunItems, task: Task, integrated: set[tuple[str, int]]) -> BatchReport:
    """Integrate the files' frames not yet done during this watch (a stack retried once complete)."""
    items, failed = expand_sources(files)
    report = run([i for i in items if (i.source, i.frame) not in integrated], task)
    report.results += failed
    return report


def _hold_failures(report: BatchReport, files: list[Path], held: dict[Path, list[ItemResult]],
                   watcher: FolderWatcher) -> None:
    """Take the failures out of the report until their files have settled: they may be incomplete."""
    failures: dict[Path, list[ItemResult]] = {}
    for result in report.failed:
        failures.setdefault(_file(result.item), []).append(result)
    report.results = [r for r in report.results if r.status != "failed"]
    for path in files:
        if path in failures:
            held[path] = failures.pop(path)
            watcher.failed(path)
        else:
            held.pop(path, None)
            watcher.integrated(path)
    report.results += [r for results in failures.values() for r in results]  # not a watched file's


def _settled_failures(held: dict[Path, list[ItemResult]], watcher: FolderWatcher) -> list[ItemResult]:
    """The held failures of files that stayed unchanged for the settling time: final now."""
    return [r for path in [p for p in held if watcher.settled(p)] for r in held.pop(path)]


def _merge(total: BatchReport, report: BatchReport, files: Iterable[Path]) -> None:
    """Add a group's results to the total; files integrated again replace their earlier failures."""
    again = set(files)
    total.results = [r for r in total.results if r.status != "failed" or _file(r.item) not in again]
    total.extend(report)


def _file(item: Item) -> Path:
    return Path(split_hdf5_source(item.source)[0])


def _sleep(seconds: float, task: Task) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        task.check()
        time.sleep(min(left, 0.1))
