"""Atomic writes leave no temporaries behind for long, and bounded reads never hang or blow up."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from helpers import error_reading_in_a_child

from latentlab import fileio
from latentlab.fileio import (
    STALE_AFTER_S,
    ReadError,
    atomic_write_bytes,
    read_bounded,
    remove_stale_temporaries,
    temporary_pattern,
)

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX locks and pipes")

TOKEN = "0123456789ab"  # the 12 hex digits of a temporary's name


def temporary(folder, target, token=TOKEN, age_s=3600.0, payload=b"half a file"):
    """A temporary as an interrupted write to ``target`` leaves it, ``age_s`` seconds old."""
    path = folder / f".{target}.{token}.latentlab-tmp"
    path.write_bytes(payload)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_temporary_names_its_target():
    pattern = temporary_pattern("a+b (1).png")  # regex characters in the name are literal
    assert pattern.fullmatch(f".a+b (1).png.{TOKEN}.latentlab-tmp")
    assert not pattern.fullmatch(f".aab (1).png.{TOKEN}.latentlab-tmp")
    assert not pattern.fullmatch(f".a+b (1).png.{TOKEN[:-1]}.latentlab-tmp")


def test_a_killed_write_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    """A real interrupted write: a process dies between writing and renaming."""
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"previous")
    killed = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from latentlab import fileio\n"
        "os.replace = lambda *args: os._exit(9)\n"
        "fileio.atomic_write_bytes(Path(sys.argv[1]), b'new' * 1000)\n"
    )
    result = subprocess.run([sys.executable, "-c", killed, str(target)], timeout=60)
    assert result.returncode == 9
    (leftover,) = [p for p in tmp_path.iterdir() if p != target]
    assert temporary_pattern(target.name).fullmatch(leftover.name)
    assert target.read_bytes() == b"previous"
    then = time.time() - 60
    os.utime(leftover, (then, then))  # the next write comes a minute later

    atomic_write_bytes(target, b"next")
    assert names(tmp_path) == ["model.safetensors"]
    assert target.read_bytes() == b"next"


def test_only_the_targets_own_temporaries_are_removed(tmp_path):
    target = tmp_path / "x.png"
    own = [temporary(tmp_path, "x.png"), temporary(tmp_path, "x.png", token="ffffffffffff")]
    kept = [
        temporary(tmp_path, "y.png"),  # another target's
        temporary(tmp_path, "x.pn"),  # a name that is a prefix of the target's
        temporary(tmp_path, "x.png", token="0123"),  # not the right number of digits
        temporary(tmp_path, "x.png", token="0123456789AB"),  # not lower-case hex
    ]
    for name in (
        "x.png.bak",
        f"x.png.{TOKEN}.latentlab-tmp",  # no leading dot
        f".x.png.{TOKEN}.latentlab-tmp.old",  # something after the suffix
        f".x.png.{TOKEN}.tmp",  # another program's temporary
        "notes.txt",
    ):
        (tmp_path / name).write_text("the user's")
        kept.append(tmp_path / name)
    folder = tmp_path / f".x.png.{'a' * 12}.latentlab-tmp"  # a folder of that name
    folder.mkdir()
    (folder / "inside").write_text("the user's")
    kept.append(folder)
    if sys.platform != "win32":  # a link of that name is left alone, and what it points to
        link = tmp_path / f".x.png.{'b' * 12}.latentlab-tmp"
        link.symlink_to(tmp_path / "notes.txt")
        kept.append(link)

    atomic_write_bytes(target, b"png")
    assert not any(p.exists() for p in own)
    assert all(p.exists() or p.is_symlink() for p in kept)
    assert (tmp_path / "notes.txt").read_text() == "the user's"
    assert (folder / "inside").read_text() == "the user's"


def test_a_just_made_temporary_is_kept(tmp_path):
    """Its writer may not have locked it yet."""
    young = temporary(tmp_path, "x.png", age_s=0)
    atomic_write_bytes(tmp_path / "x.png", b"png")
    assert young.exists()


@posix_only
def test_a_temporary_that_a_live_write_holds_is_kept(tmp_path):
    live = temporary(tmp_path, "x.png")
    fd = os.open(live, os.O_RDONLY)
    try:
        assert fileio._try_lock(fd) is True  # as the writer holds it
        atomic_write_bytes(tmp_path / "x.png", b"png")
        assert remove_stale_temporaries(tmp_path) == 0
        assert live.exists()
    finally:
        os.close(fd)
    assert remove_stale_temporaries(tmp_path) == 1  # its writer died
    assert not live.exists()


def test_a_failed_write_removes_its_own_temporary(tmp_path, monkeypatch):
    target = tmp_path / "x.png"
    target.write_bytes(b"previous")

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, b"new")
    assert names(tmp_path) == ["x.png"] and target.read_bytes() == b"previous"


def test_remove_stale_temporaries_of_a_folder(tmp_path):
    old = [temporary(tmp_path, "a.png"), temporary(tmp_path, "s.latentlab-session.json")]
    young = temporary(tmp_path, "b.png", age_s=STALE_AFTER_S / 2)
    (tmp_path / "a.png").write_text("the user's")
    sub = tmp_path / "sub"
    sub.mkdir()
    below = temporary(sub, "c.png")  # only the folder itself is cleared
    assert remove_stale_temporaries(tmp_path) == 2
    assert not any(p.exists() for p in old)
    assert young.exists() and below.exists() and (tmp_path / "a.png").exists()
    assert remove_stale_temporaries(tmp_path, older_than_s=60) == 1
    assert not young.exists()
    assert remove_stale_temporaries(tmp_path / "missing") == 0


# ---------------------------------------------------------------------------- bounded reads


def test_read_bounded(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    assert read_bounded(path, 100) == b"x" * 100
    with pytest.raises(ReadError, match=r"^the file is larger than 99 bytes$"):
        read_bounded(path, 99)
    with pytest.raises(ReadError, match=r"^no such file$"):
        read_bounded(tmp_path / "missing", 100)
    with pytest.raises(ReadError, match=r"^this is a folder, not a model file$"):
        read_bounded(tmp_path, 100, "a model file")
    with pytest.raises(ReadError, match="NUL"):
        read_bounded(tmp_path / "a\0b", 100)
    with pytest.raises(ReadError, match=r"^cannot read the file"):
        read_bounded(path / "below-a-file", 100)


@posix_only
def test_read_bounded_never_waits_on_a_pipe(tmp_path):
    """A regression would block for ever; the child is killed after 20 s."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    said = error_reading_in_a_child(
        "latentlab.fileio", "read_bounded", "ReadError", "sys.argv[1], 100", pipe
    )
    assert said == "not a regular file"


def test_read_bounded_reserves_no_more_than_the_file(tmp_path):
    """One ``read(limit + 1)`` would reserve the whole limit at once (a MemoryError here)."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"y" * 10)
    assert read_bounded(path, 2**40) == b"y" * 10
