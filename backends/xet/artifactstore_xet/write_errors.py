"""hf-xet's write failures as one clear :class:`OSError` that names what was being written.

hf-xet 1.8.0 reports a failed write in two shapes, neither naming a file: a ``RuntimeError``
("Internal error: Error opening redb database: I/O error: No space left on device (os error
28)") when its CAS database cannot be created, and a bare ``OSError`` ("I/O error: IO error:
File too large (os error 27)") when a xorb or shard cannot be written. Callers should be able
to catch a full disk as ``OSError`` with ``errno.ENOSPC`` / ``errno.EFBIG``, and the message
should say which store and which file, and what to do.

No class of :mod:`artifactstore.errors` means "the disk is full" (``IntegrityError`` is for
damaged bytes), so these are plain ``OSError`` instances carrying the errno.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator

from artifactstore.errors import ArtifactStoreError

from .remote_errors import is_remote_failure
from .remote_errors import write_failure as remote_write_failure

#: errno values that mean "no room": a full file system, a quota, a file-size limit.
DISK_FULL = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})

_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def os_errno(exc: BaseException) -> int | None:
    """The errno behind an hf-xet error: its own, or the ``(os error N)`` in its message."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno
    found = _OS_ERROR.findall(str(exc))
    return int(found[-1]) if found else None


def write_failure(exc: BaseException, *, what: str, where: str) -> Exception:
    """One sentence naming ``what`` was written to which CAS (``where``), why it failed and the fix.

    A remote CAS (``where`` an http(s) URL) that answered or could not be reached gets
    :func:`.remote_errors.write_failure` instead (a rejected token is an ``AccessDenied``).
    """
    if where.startswith(("http://", "https://")) and is_remote_failure(exc):
        return remote_write_failure(exc, what=what, endpoint=where)
    code = os_errno(exc)
    detail = f"hf-xet: {type(exc).__name__}: {exc}"
    if code in DISK_FULL:
        reason = os.strerror(code).lower()
        return OSError(
            code,
            f"writing {what} to the Xet CAS {where} failed: {reason} ({detail}); nothing was committed, "
            "free disk space (or raise the file-size limit) and retry",
        )
    return OSError(
        code or errno.EIO,
        f"writing {what} to the Xet CAS {where} failed ({detail}); nothing was committed, "
        "check that the disk is writable and retry",
    )


@contextlib.contextmanager
def translated(*, what: str, where: str) -> Iterator[None]:
    """Re-raise hf-xet's ``RuntimeError`` / ``OSError`` from the block as :func:`write_failure`.

    Our own errors (``LockTimeout``, ``IntegrityError``...) pass through unchanged.
    """
    try:
        yield
    except ArtifactStoreError:
        raise
    except (RuntimeError, OSError) as exc:
        raise write_failure(exc, what=what, where=where) from exc


__all__ = ["DISK_FULL", "os_errno", "translated", "write_failure"]
