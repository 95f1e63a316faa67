"""Writing files so that a crash never leaves half of one, and reading files with a size limit.

A write goes to a temporary file beside the target, named ``.<target name>.<12 hex
digits>.latentlab-tmp``, which is renamed over the target once it is complete. A write that is
killed leaves its temporary behind; the next write to the same target removes it (once it is
a few seconds old), and :func:`remove_stale_temporaries` clears a whole folder. Only files of
exactly that pattern are ever removed, and never one that a live write still holds: a writer
keeps an exclusive lock on its temporary (POSIX), and where locks are not available only
temporaries untouched for :data:`STALE_AFTER_S` seconds count as left over.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import sys
import time
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "STALE_AFTER_S",
    "TEMP_SUFFIX",
    "ReadError",
    "atomic_write_bytes",
    "read_bounded",
    "remove_stale_temporaries",
    "temporary_pattern",
]

TEMP_SUFFIX = ".latentlab-tmp"
# A temporary this old belongs to no live write: the largest file LatentLab writes (a 256 MiB
# model) takes seconds, not minutes, even on a slow disk.
STALE_AFTER_S = 300.0
# A temporary younger than this may be one that its writer has made but not yet locked.
_JUST_MADE_S = 5.0
_TOKEN_HEX = 12


class ReadError(Exception):
    """A file cannot be read; the message is a short reason without the file's name."""


def temporary_pattern(name: str) -> re.Pattern[str]:
    """The names of the temporaries of writes to a file called ``name``."""
    return re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{{_TOKEN_HEX}}}{re.escape(TEMP_SUFFIX)}")


_ANY_TEMPORARY = re.compile(rf"\..+\.[0-9a-f]{{{_TOKEN_HEX}}}{re.escape(TEMP_SUFFIX)}", re.DOTALL)


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename over ``path``.

    Temporaries left over by earlier, interrupted writes to ``path`` are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # a new file is private (0600); keep the old file's mode, else rw-r--r--
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = 0o644
    _remove_leftovers(path.parent, temporary_pattern(path.name), _JUST_MADE_S)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, mode)
            if sys.platform != "win32":  # rename while still locked, so no cleaner takes it
                os.replace(tmp, path)
        if sys.platform == "win32":  # Windows cannot rename an open file
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def remove_stale_temporaries(folder: Path, older_than_s: float = STALE_AFTER_S) -> int:
    """Remove the temporaries of interrupted LatentLab writes in ``folder`` (not below it)
    that no live write holds and that are older than ``older_than_s``; returns how many.
    Other files are never touched, and a folder that cannot be listed is left alone."""
    return _remove_leftovers(Path(folder), _ANY_TEMPORARY, older_than_s)


def read_bounded(path: str | os.PathLike[str], limit: int, what: str = "a file") -> bytes:
    """The bytes of the regular file ``path``, refused if longer than ``limit`` bytes.

    Never blocks on a pipe or a device, and raises only :class:`ReadError`, whatever the path
    (missing, a folder, a NUL character in it, unreadable); ``what`` names the file expected.
    """
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            raise ReadError(f"this is a folder, not {what}")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ReadError("no such file") from None
    except ValueError:  # a NUL character, which no file name can hold
        raise ReadError("not a valid file name (it holds a NUL character)") from None
    except OSError as exc:
        raise ReadError(f"cannot read the file ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "rb", buffering=0) as f:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):  # a pipe or a device might never end
                raise ReadError("not a regular file")
            if info.st_size > limit:
                raise ReadError(f"the file is larger than {_size(limit)}")
            data = _read_up_to(f, limit + 1)  # the file may have grown since
    except OSError as exc:
        raise ReadError(f"cannot read the file ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise ReadError(f"the file is larger than {_size(limit)}")
    return data


def _size(limit: int) -> str:
    return f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit:,} bytes"


def _read_up_to(f: BinaryIO, count: int) -> bytes:
    """Read at most ``count`` bytes in blocks, so that nothing larger than the file is
    allocated (one ``read(count)`` reserves ``count`` bytes at once)."""
    parts: list[bytes] = []
    left = count
    while left > 0:
        block = f.read(min(left, 2**20))
        if not block:
            break
        parts.append(block)
        left -= len(block)
    return b"".join(parts)


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new temporary file for ``path``, opened and (where possible) locked by us."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(_TOKEN_HEX // 2)}{TEMP_SUFFIX}")
        try:
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600
            )
        except FileExistsError:
            continue
        _try_lock(fd)  # where the file system has no locks, the file's age protects it instead
        return fd, tmp


def _remove_leftovers(folder: Path, pattern: re.Pattern[str], older_than_s: float) -> int:
    """Remove the regular files in ``folder`` whose names match ``pattern`` in full, that are
    older than ``older_than_s`` and that no live write holds; returns how many."""
    try:
        names = [n for n in os.listdir(folder) if pattern.fullmatch(n)]
    except OSError:
        return 0
    removed = 0
    for name in names:
        if _remove_if_left_over(folder / name, older_than_s):
            removed += 1
    return removed


def _remove_if_left_over(tmp: Path, older_than_s: float) -> bool:
    try:
        fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:  # gone already, a link, or not ours to open
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or time.time() - info.st_mtime < older_than_s:
            return False
        locked = _try_lock(fd)
        if locked is False:
            return False  # a live write holds it
        if locked is None and time.time() - info.st_mtime < STALE_AFTER_S:
            return False  # no locks here: only old temporaries count as left over
        tmp.unlink()
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


if sys.platform == "win32":

    def _try_lock(fd: int) -> bool | None:
        """None: Windows has no advisory locks, only the age of a temporary tells."""
        return None

else:
    import fcntl

    def _try_lock(fd: int) -> bool | None:
        """Lock ``fd`` exclusively without waiting: True if we now hold the lock, False if
        another open file holds it, None where the file system has no locks. A lock lasts
        until the file is closed, or its process dies."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:
            return None
        return True


def _fsync_directory(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
