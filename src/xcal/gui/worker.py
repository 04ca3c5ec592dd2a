"""Background runner: every slow session call runs here, off the UI thread, one at a time.

Jobs run in order on a single worker thread. That keeps the session consistent (a pick, a
calibration and a reload never overlap) without locks, while the UI thread stays free. Each
job gets a :class:`~xcal.core.progress.Task`; its progress reaches the UI through a queued Qt
signal, and Cancel sets the task's flag, which the engine honours at its next checkpoint.

Failures never escape: an :class:`XcalError` becomes its message, anything else becomes
"Unexpected error: ..." with the traceback on stderr.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PyQt5.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal

from ..core.errors import Cancelled, XcalError
from ..core.progress import Task


def describe_exception(exc: BaseException) -> str:
    """The message to show for an exception; unexpected ones also print their traceback."""
    if isinstance(exc, XcalError):
        return str(exc)
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return f"Unexpected error: {type(exc).__name__}: {exc}"


class _Signals(QObject):
    """Lives in the UI thread, so that signals emitted from the worker are delivered there."""

    progress = pyqtSignal(float, str)
    done = pyqtSignal(object)
    failed = pyqtSignal(str)
    cancelled = pyqtSignal()


@dataclass(eq=False)
class Job:
    """One queued call. ``kind`` lets a newer job of the same kind supersede one not yet started."""

    label: str
    fn: Callable[[Task], Any]
    on_done: Callable[[Any], None] | None
    on_failed: Callable[[str], None] | None
    blocking: bool
    kind: str | None
    task: Task = field(init=False)
    signals: _Signals = field(init=False)
    started: bool = field(default=False, init=False)
    superseded: bool = field(default=False, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.signals = _Signals()
        self.task = Task(self.signals.progress.emit)

    def start(self) -> bool:
        """Called by the worker: False if the job was cancelled before it began."""
        with self._lock:
            self.started = not self.task.cancelled
            return self.started

    def supersede(self) -> None:
        """Drop the job if it has not started; a running one finishes (its result stays valid)."""
        with self._lock:
            if not self.started:
                self.superseded = True
                self.task.cancel()


class _Runnable(QRunnable):
    def __init__(self, job: Job) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.job = job

    def run(self) -> None:
        job = self.job
        if not job.start():
            job.signals.cancelled.emit()
            return
        try:
            result = job.fn(job.task)
        except Cancelled:
            job.signals.cancelled.emit()
        except BaseException as exc:  # noqa: BLE001 - nothing may kill the worker thread or the GUI
            job.signals.failed.emit(describe_exception(exc))
        else:
            job.signals.done.emit(result)


class Runner(QObject):
    """Queue of jobs on one worker thread, with the state the window shows (busy, progress)."""

    submitted = pyqtSignal(str)  # job label
    busy_changed = pyqtSignal(bool)  # any job pending
    blocking_changed = pyqtSignal(bool)  # a job pending that forbids editing the session
    progress = pyqtSignal(str, float, str)  # job label, fraction, message
    failed = pyqtSignal(str, str)  # job label, message (when the job has no own handler)
    cancelled = pyqtSignal(str)  # job label

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._pool.setExpiryTimeout(-1)  # keep the thread: pyFAI/OpenMP state stays warm
        self._pending: list[Job] = []

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    @property
    def blocking(self) -> bool:
        return any(job.blocking for job in self._pending)

    def submit(
        self,
        label: str,
        fn: Callable[[Task], Any],
        on_done: Callable[[Any], None] | None = None,
        *,
        on_failed: Callable[[str], None] | None = None,
        blocking: bool = True,
        kind: str | None = None,
    ) -> Job:
        """Queue ``fn(task)``; ``on_done(result)`` runs in the UI thread when it succeeds.

        A job of the same ``kind`` that has not started is dropped: only the newest matters
        (views after each geometry change, frames while the spin box turns). Jobs that ran
        always report, so the window always shows what the session holds.
        """
        if kind is not None:
            for old in self._pending:
                if old.kind == kind:
                    old.supersede()
        job = Job(label, fn, on_done, on_failed, blocking, kind)
        job.signals.progress.connect(lambda f, m, j=job: self.progress.emit(j.label, f, m))
        job.signals.done.connect(lambda result, j=job: self._finish(j, lambda: j.on_done and j.on_done(result)))
        job.signals.failed.connect(lambda message, j=job: self._finish(j, lambda: self._report(j, message)))
        job.signals.cancelled.connect(lambda j=job: self._finish(j, lambda: self.cancelled.emit(j.label)))
        was_busy, was_blocking = self.busy, self.blocking
        self._pending.append(job)
        self._pool.start(_Runnable(job))
        self.submitted.emit(label)
        self._emit_changes(was_busy, was_blocking)
        return job

    def is_pending(self, job: Job) -> bool:
        return job in self._pending

    def cancel(self) -> None:
        """Ask every pending job to stop (the running one at its next checkpoint)."""
        for job in self._pending:
            job.task.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the worker is idle (used when the window closes)."""
        return self._pool.waitForDone(msecs)

    def _report(self, job: Job, message: str) -> None:
        if job.on_failed is not None:
            job.on_failed(message)
        else:
            self.failed.emit(job.label, message)

    def _finish(self, job: Job, handler: Callable[[], object]) -> None:
        was_busy, was_blocking = self.busy, self.blocking
        if job in self._pending:
            self._pending.remove(job)
        try:
            if not job.superseded:
                handler()
        except Exception as exc:  # noqa: BLE001 - a bug in a handler must not take the window down
            self.failed.emit(job.label, describe_exception(exc))
        self._emit_changes(was_busy, was_blocking)

    def _emit_changes(self, was_busy: bool, was_blocking: bool) -> None:
        if self.blocking != was_blocking:
            self.blocking_changed.emit(self.blocking)
        if self.busy != was_busy:
            self.busy_changed.emit(self.busy)
