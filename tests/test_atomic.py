"""Atomic writes: the old file survives a failed write, a new file gets normal permissions, and the
temporary files of killed writes are removed later (only those, and only once their writer is gone)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from xcal.core.io.atomic import atomic_path, atomic_write_text, atomic_writer, remove_stale_temporaries


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


def test_a_killed_writers_temporary_file_is_removed_later(tmp_path):
    """kill -9 in the middle of a write leaves the hidden temporary file; the next clean-up removes it."""
    script = ("import sys, time\nfrom xcal.core.io.atomic import atomic_writer\n"
              "with atomic_writer(sys.argv[1]) as handle:\n"
              "    handle.write('half'); handle.flush(); print('writing', flush=True); time.sleep(60)\n")
    writer = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "a.xy")], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "writing\n"
    finally:
        writer.kill()
        writer.wait()
    left = [p for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].name.startswith(".a.xy.") and left[0].name.endswith(".tmp")
    assert remove_stale_temporaries(tmp_path) == left
    assert not list(tmp_path.iterdir())


def test_running_writes_and_other_files_are_kept(tmp_path):
    hour_ago = time.time() - 3600
    others = [".notes.tmp", "a.xy", ".a.xy.abc.tmp", "b.xy.k2j3h4g5.tmp"]
    for name in others:
        (tmp_path / name).write_text("mine")
        os.utime(tmp_path / name, (hour_ago, hour_ago))
    with atomic_writer(tmp_path / "c.xy") as handle:
        handle.write("being written")
        handle.flush()
        assert remove_stale_temporaries(tmp_path) == []
        assert len(list(tmp_path.glob(".c.xy.*.tmp"))) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, "c.xy"])


def test_old_temporaries_are_removed_whoever_wrote_them(tmp_path):
    """Another machine's writer (a shared folder) or an older xcal's unnamed one: judged by age only."""
    names = [".a.xy.xcal-123-00000000.k2j3h4g5.tmp", ".b.xy.k2j3h4g5.tmp"]
    for name in names:
        (tmp_path / name).write_text("half")
    assert remove_stale_temporaries(tmp_path) == []
    hour_ago = time.time() - 3600
    for name in names:
        os.utime(tmp_path / name, (hour_ago, hour_ago))
    assert sorted(p.name for p in remove_stale_temporaries(tmp_path)) == sorted(names)
    assert not list(tmp_path.iterdir())
