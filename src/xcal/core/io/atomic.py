"""Atomic file writing: a failed or interrupted write never damages an existing file.

A write goes to a hidden temporary file beside the target, named after the writing process
(``.NAME.xcal-PID-HOST.RANDOM.tmp``), so that the one a killed process left behind can be
recognised and removed later (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import stat
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

# A temporary file untouched this long belongs to no write in progress (a write takes seconds).
STALE_AFTER_S = 600.0
_OWN = re.compile(r"\..+\.xcal-(\d+)-([0-9a-f]{8})\.[a-z0-9_]{8}\.tmp")
_UNTAGGED = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")  # xcal before the writer was named


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host_id() -> str:
    """This machine, short: writers of other machines on a shared file system are not ours to judge."""
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def _temporary(target: Path) -> tuple[int, str]:
    """A new hidden temporary file beside ``target``, named after this process (see the module's note)."""
    return tempfile.mkstemp(prefix=f".{target.name}.xcal-{os.getpid()}-{_host_id()}.", suffix=".tmp",
                            dir=target.parent or ".")


def process_running(pid: int) -> bool:
    """Whether process ``pid`` of this machine is running (a killed one not yet reaped is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):  # no /proc (not Linux), or gone meanwhile
        return True
    return state not in ("Z", "X")


def remove_stale_temporaries(folder: str | os.PathLike, max_age_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove the temporary files that killed writes (kill -9, a power cut) left in ``folder``.

    Only files of this module's naming: those whose writing process, on this machine, has
    ended, and those untouched for ``max_age_s`` (written from another machine sharing the
    folder, or by an xcal that did not name the writer). Returns the files removed.
    """
    removed = []
    now = time.time()
    with os.scandir(folder) as entries:
        for entry in entries:
            own = _OWN.fullmatch(entry.name)
            if own is None and _UNTAGGED.fullmatch(entry.name) is None:
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:  # removed meanwhile (its write finished)
                continue
            ended = own is not None and own[2] == _host_id() and not process_running(int(own[1]))
            if stat.S_ISREG(info.st_mode) and (ended or now - info.st_mtime > max_age_s):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def check_writable(folder: str | os.PathLike) -> None:
    """Raise the system's OSError if no file can be created in ``folder`` (read-only, no permission)."""
    fd, tmp = _temporary(Path(folder) / "write-test")
    os.close(fd)
    os.unlink(tmp)


def _publish(tmp: str, target: Path) -> None:
    """Give the temporary file the permissions a plain ``open`` would have (mkstemp makes it 0600), then swap it in."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success replace ``path`` with it in one step.

    If the body raises, the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    binary = "b" in mode
    fd, tmp = _temporary(target)
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _publish(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_writer(path, "w") as handle:
        handle.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_writer(path, "wb") as handle:
        handle.write(data)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` for writers that want a file name (pyFAI, fabio).

    On success the temporary file replaces ``path`` in one step; on failure it is removed.
    """
    target = Path(path)
    fd, tmp = _temporary(target)
    os.close(fd)
    try:
        yield Path(tmp)
        _publish(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
