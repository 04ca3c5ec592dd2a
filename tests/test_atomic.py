"""Atomic writes: the old file survives a failed write, and a new file gets normal permissions."""

from __future__ import annotations

import os

import pytest

from xcal.core.atomic import atomic_path, atomic_write_text, atomic_writer


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.poni"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write("new, half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.poni"]  # no temporary file left


def test_written_files_are_readable_by_others_as_the_umask_allows(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    for name in ("a.txt", "b.bin"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644
