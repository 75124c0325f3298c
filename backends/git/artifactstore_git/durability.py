"""Making written bytes and names durable.

A file's bytes are durable once it is fsynced; a rename or unlink in a directory once that
directory is (:func:`fsync_path`). Where Linux has ``syncfs(2)`` (:data:`SYNCFS_AVAILABLE`),
one call makes every write, rename and unlink on a filesystem durable, so a batch of files
needs one barrier instead of one fsync per file and per directory (:func:`filesystem_barrier`,
:func:`sync_filesystem_of`; git's ``core.fsyncMethod=batch`` follows the same idea).
:func:`start_writeback` starts writing a large file out while it streams in.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file's bytes, or a directory's entries (a rename or unlink in it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_libc(name: str, argtypes: list[type]) -> Callable[..., int] | None:
    """libc's ``name`` returning an int, or None where it does not exist (only Linux is asked)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = getattr(libc, name)
    except (OSError, AttributeError):
        return None
    fn.argtypes = argtypes
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_SYNCFS = _load_libc("syncfs", [ctypes.c_int])
#: Whether ``syncfs(2)`` exists here: :func:`sync_filesystem_of` may only be called where it does.
SYNCFS_AVAILABLE = _SYNCFS is not None
_SYNC_FILE_RANGE = _load_libc("sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint])
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing ``length`` bytes at ``offset`` of ``fd`` to disk, without waiting.

    A large file whose writeback starts as it streams in leaves little for its final
    ``fsync``, the way git's ``core.fsyncMethod=batch`` starts writeback early. A hint only:
    it makes nothing durable, and where ``sync_file_range(2)`` does not exist it does nothing.
    """
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def filesystem_barrier(path: Path) -> bool:
    """Make every write, rename and unlink on ``path``'s filesystem durable with one ``syncfs(2)``.

    Returns False where ``syncfs`` is not available, and the caller fsyncs file by file.
    """
    if _SYNCFS is None:
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        sync_filesystem_of(fd, what=str(path))
    finally:
        os.close(fd)
    return True


def sync_filesystem_of(fd: int, *, what: str) -> None:
    """``syncfs(2)`` on the filesystem holding ``fd``; only call where :data:`SYNCFS_AVAILABLE`."""
    assert _SYNCFS is not None
    if _SYNCFS(fd) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"syncfs failed on {what}: {os.strerror(err)}")


__all__ = ["SYNCFS_AVAILABLE", "filesystem_barrier", "fsync_path", "start_writeback", "sync_filesystem_of"]
