"""Progress reporting and cancellation for long engine tasks.

Engine functions that may take longer than ~100 ms accept an optional :class:`Task`. The GUI
runs them in a worker thread and wires the callback to a progress bar and Cancel button; the CLI
wires it to a text progress bar. Cancellation is cooperative: the task raises
:class:`~xcal.core.errors.Cancelled` at its next checkpoint.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .errors import Cancelled

ProgressCallback = Callable[[float, str], None]


class Task:
    """Progress sink plus cancel flag, shared by the caller and the running engine code."""

    def __init__(self, callback: ProgressCallback | None = None) -> None:
        self._callback = callback
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the user asked to stop."""
        if self._cancel.is_set():
            raise Cancelled("Cancelled by the user.")

    def report(self, fraction: float, message: str = "") -> None:
        """Report progress in [0, 1] with a short message, then honour a pending cancel."""
        if self._callback is not None:
            self._callback(min(max(float(fraction), 0.0), 1.0), message)
        self.check()

    def sub(self, start: float, stop: float) -> "Task":
        """A view of this task that maps its own [0, 1] progress onto [start, stop]."""
        parent = self

        def forward(fraction: float, message: str) -> None:
            if parent._callback is not None:
                parent._callback(start + (stop - start) * fraction, message)

        child = Task(forward)
        child._cancel = self._cancel
        return child


def ensure_task(task: Task | None) -> Task:
    """Let engine functions accept ``task=None``."""
    return task if task is not None else Task()
