"""Writes that never stop half-way silently.

``os.write`` and unbuffered file writes may write fewer bytes than asked (a file-size limit,
a nearly full disk); the rest must be retried, and the retry then raises the real error
(EFBIG, ENOSPC) instead of leaving a truncated file that looks complete.
"""

from __future__ import annotations

import errno
import os


def write_all(fd: int, data: bytes | bytearray | memoryview, *, offset: int | None = None, what: str = "file") -> None:
    """Write every byte of ``data`` to ``fd`` (at ``offset`` with pwrite), or raise ``OSError``."""
    view = memoryview(data)
    while view:
        try:
            written = os.pwrite(fd, view, offset) if offset is not None else os.write(fd, view)
        except OSError as exc:
            raise OSError(exc.errno, f"{exc.strerror} while writing {what}") from exc
        if written <= 0:
            raise OSError(errno.EIO, f"no progress writing {what}")
        view = view[written:]
        if offset is not None:
            offset += written


def read_all(path: str) -> bytes:
    """The whole file at ``path`` through ``os.open``/``os.read``: no buffered reader to set up,
    for small files read on every commit (refs, loose objects). Raises what ``os.open`` raises."""
    fd = os.open(path, os.O_RDONLY)
    try:
        parts = []
        while chunk := os.read(fd, 1 << 20):
            parts.append(chunk)
    finally:
        os.close(fd)
    return b"".join(parts)
