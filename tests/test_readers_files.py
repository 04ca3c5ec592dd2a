"""Every reader refuses what is not a regular, readable file, with xcal's own error naming the file.

A named pipe given as an input blocked the reader forever; an unreadable file gave the OS
error's traceback. The files here are real: a FIFO, a socket, a device, a folder, and a file
the kernel refuses to open for reading even to root (``/proc/sys/vm/drop_caches``, write-only).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from xcal.core.calibration.picks import PickSet
from xcal.core.errors import XcalError
from xcal.core.io.file_checks import file_problem, os_error_reason
from xcal.core.io.images import frame_count, load_image
from xcal.core.io.poni import read_poni
from xcal.core.masks.model import read_mask

WRITE_ONLY = Path("/proc/sys/vm/drop_caches")

READERS: dict[str, Callable[[Path], object]] = {
    "frame.tif": load_image,
    "scan.D": load_image,
    "stack.h5": frame_count,
    "beamstop.mask": read_mask,
    "beamstop.npy": read_mask,
    "geometry.poni": read_poni,
    "rings.npt": PickSet.load_npt,
}


class Hung(BaseException):
    """Raised by the alarm; a BaseException, so no reader's ``except Exception`` can hide a hang."""


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging: the alarm interrupts a blocked ``open`` of a FIFO or a Python loop.

    A loop in C code that never returns to Python cannot be interrupted: after a minute,
    faulthandler prints every thread's stack (run pytest with ``-s`` to see it) and ends the test
    run, rather than let it hang.
    """
    def expire(signum: int, frame: object) -> None:
        raise Hung(f"the reader still runs after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    faulthandler.dump_traceback_later(max(60, 3 * seconds), exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _refused(reader: Callable[[Path], object], path: Path, words: str) -> None:
    with deadline(5), pytest.raises(XcalError) as error:
        reader(path)
    assert path.name in str(error.value) and words in str(error.value)


@pytest.mark.parametrize("name", sorted(READERS))
def test_fifo_is_refused_without_blocking(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    os.mkfifo(path)
    _refused(READERS[name], path, "named pipe (FIFO), not a regular file")


@pytest.mark.parametrize("name", sorted(READERS))
def test_socket_device_and_folder_are_refused(tmp_path: Path, name: str) -> None:
    sock_path = tmp_path / "sock" / name
    sock_path.parent.mkdir()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock_path))
        _refused(READERS[name], sock_path, "socket, not a regular file")
    device = tmp_path / "dev" / name
    device.parent.mkdir()
    device.symlink_to("/dev/zero")  # endless zeros: read as an image, it never ends
    _refused(READERS[name], device, "character device, not a regular file")
    folder = tmp_path / "dir" / name
    folder.mkdir(parents=True)
    _refused(READERS[name], folder, "folder")


def _permission_denied_path(tmp_path: Path, name: str) -> Path:
    """A regular file whose opening for reading fails with EACCES, also for root."""
    try:
        WRITE_ONLY.open("rb").close()
    except PermissionError:
        path = tmp_path / name
        path.symlink_to(WRITE_ONLY)
        return path
    except OSError:
        pass
    pytest.skip(f"{WRITE_ONLY} is not a file this system refuses to read")


@pytest.mark.parametrize("name", sorted(READERS))
def test_unreadable_file_says_permission_denied(tmp_path: Path, name: str) -> None:
    _refused(READERS[name], _permission_denied_path(tmp_path, name), "permission denied")


def test_os_error_reasons_from_real_errors(tmp_path: Path) -> None:
    with pytest.raises(PermissionError) as denied:
        open(_permission_denied_path(tmp_path, "x.tif"), "rb")  # noqa: SIM115 - the error is the point
    assert os_error_reason(denied.value) == "permission denied"
    with pytest.raises(FileNotFoundError) as missing:
        open(tmp_path / "absent.tif", "rb")  # noqa: SIM115
    assert os_error_reason(missing.value) == "file not found"
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert file_problem(loop) == "a loop of symbolic links"
    assert file_problem(tmp_path / "absent" / "x.tif") == "file not found"
