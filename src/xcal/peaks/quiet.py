"""Silence pyFAI's chatty peak-search output (prints and per-call WARNING/ERROR logs)."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def quiet(*logger_names: str) -> Iterator[None]:
    """Drop stdout and log records below CRITICAL from the named loggers for the duration."""
    loggers = [logging.getLogger(name) for name in logger_names]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for log, level in zip(loggers, levels):
            log.setLevel(level)
