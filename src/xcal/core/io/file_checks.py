"""Checks the readers share: the input is a regular, readable file; a number in a text file is a
plain decimal; a NumPy header describes its file. And an OS error in the user's words.

Opening a named pipe blocks until some other program writes to it, and a device or a socket
is a stream without end: a reader handed one hangs. Only regular files are opened, and why a
file cannot be opened (not found, permission denied) is said in a few words, never as a traceback.
"""

from __future__ import annotations

import errno
import math
import os
import re
import stat
from typing import BinaryIO

import numpy as np

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NOT_REGULAR = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read as an input file (words to put after its name), or None.

    Only the file's metadata is looked at before it is opened, so a pipe or a device is refused
    without being opened; a regular file is then opened and closed once, so that a permission
    problem is named here rather than as some reader's exception. Symbolic links are followed.
    """
    try:
        mode_size = os.stat(path)
    except OSError as error:
        return os_error_reason(error)
    for is_kind, kind in _NOT_REGULAR:
        if is_kind(mode_size.st_mode):
            return f"is {kind}, not a regular file"
    if not stat.S_ISREG(mode_size.st_mode):
        return "is not a regular file"
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        return os_error_reason(error)
    if mode_size.st_size == 0:
        return "the file is empty (0 bytes)"
    return None


def os_error_reason(error: OSError) -> str:
    """A few words on why the OS refused a file, for a message that already names the file."""
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, (FileNotFoundError, NotADirectoryError)):
        return "file not found"
    if isinstance(error, IsADirectoryError):
        return "is a folder, not a regular file"
    if error.errno == errno.ELOOP:
        return "a loop of symbolic links"
    return (error.strerror or str(error) or type(error).__name__).lower()


def decimal_number(text: str) -> float | None:
    """``text`` as a finite number if it is written as the programs that write these files write
    numbers (plain decimal, as C and Python print them), else None.

    Python's ``float`` also takes ``1_000``, ``inf``, ``nan``, non-ASCII digits and spaces around
    the number; in a geometry or control-point file those are damage or hand edits, not numbers.
    """
    if not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None  # "1e999" overflows to inf


def npy_problem(handle: BinaryIO) -> str | None:
    """Why the NumPy file open in ``handle`` has a header that does not describe it, or None.

    numpy reads a header that lost its closing newline (the pixels then start inside it) and,
    without a memory map, allocates whatever size the header states before finding the file
    short. Versions other than 1.0 and 2.0 are left to numpy.
    """
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        version = np.lib.format.read_magic(handle)
        if version not in readers:
            return None
        shape, _, dtype = readers[version](handle)
    except Exception as error:  # numpy's header parser raises ValueError, SyntaxError, TokenError...
        return f"not a valid NumPy header ({error})"
    start = handle.tell()
    handle.seek(start - 1)
    if handle.read(1) != b"\n":
        return "the NumPy header does not end with its newline (a damaged header length)"
    present = handle.seek(0, os.SEEK_END) - start
    needed = math.prod(shape) * dtype.itemsize
    if present < needed:
        return f"the header promises {needed} bytes of data, the file holds {present}"
    return None
