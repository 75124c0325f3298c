"""One hf-xet session per process, its upload slots, and translation of hf-xet's errors into ours.

A ``XetSession`` owns a tokio runtime; a runtime does not survive ``fork()``, so the session
is keyed by process id (MLflow's server forks its workers).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from artifactstore.errors import InvalidInput, LockTimeout

if TYPE_CHECKING:
    import hf_xet

log = logging.getLogger(__name__)

T = TypeVar("T")

#: hf-xet's message when another process has the local CAS open.
DB_LOCKED = "Database already open"
#: How long to retry opening a CAS whose previous process is still closing it.
REOPEN_SECONDS = 10.0

#: Uploads one process runs through hf-xet at once, unless $ARTIFACTSTORE_XET_MAX_UPLOADS says
#: otherwise; more wait their turn. Each holds well over 100 MiB of hf-xet's buffers while it
#: runs, and the allocator keeps what a worker's busiest moment took, so without a limit a
#: server worker's memory grows with its thread pool (benchmarks/RESULTS.md, "xet upload slots").
DEFAULT_MAX_UPLOADS = 4
ENV_MAX_UPLOADS = "ARTIFACTSTORE_XET_MAX_UPLOADS"

#: Sessions of this process by xorb compression policy (``None``: hf-xet's own default).
_sessions: dict[str | None, hf_xet.XetSession] = {}
_slots: threading.BoundedSemaphore | None = None
#: The process the two above belong to; a forked child starts them afresh.
_pid = -1
_guard = threading.Lock()


def _forget_after_fork() -> None:
    """Drop the parent's sessions and slots in a forked child (call with ``_guard`` held)."""
    global _pid, _slots
    if _pid != os.getpid():
        _sessions.clear()  # the parent's tokio runtimes are not ours
        _slots = None
        _pid = os.getpid()


def get_session(compression: str | None = None) -> hf_xet.XetSession:
    """This process's hf-xet session for ``compression`` (telemetry off: stores are often offline).

    ``compression`` is hf-xet's ``xorb.compression_policy`` ("none", "auto", "lz4",
    "bg4-lz4"); ``None`` leaves hf-xet's default, which ``$HF_XET_XORB_COMPRESSION_POLICY``
    sets. The policy is fixed when a session is made, so each one has its own session.
    """
    with _guard:
        _forget_after_fork()
        session = _sessions.get(compression)
        if session is None:
            import hf_xet

            settings: dict[str, object] = {"telemetry.enabled": False}
            if compression is not None:
                settings["xorb.compression_policy"] = compression
            session = _sessions[compression] = hf_xet.XetSession(config=hf_xet.XetConfig().with_config(settings))
        return session


def forget_sessions() -> None:
    """Drop this process's sessions: the next transfer opens a new one, which reloads hf-xet's caches from disk."""
    with _guard:
        _sessions.clear()


@contextlib.contextmanager
def upload_slot() -> Iterator[None]:
    """Wait for one of this process's upload slots (see :data:`DEFAULT_MAX_UPLOADS`)."""
    global _slots
    with _guard:
        _forget_after_fork()
        if _slots is None:
            _slots = threading.BoundedSemaphore(max_uploads())
        slots = _slots
    with slots:
        yield


def max_uploads() -> int:
    """The upload limit of this process: $ARTIFACTSTORE_XET_MAX_UPLOADS, else :data:`DEFAULT_MAX_UPLOADS`."""
    raw = os.environ.get(ENV_MAX_UPLOADS)
    if raw is None:
        return DEFAULT_MAX_UPLOADS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidInput(f"${ENV_MAX_UPLOADS}={raw!r} is not a positive whole number of concurrent uploads; fix or unset it")
    return value


def is_db_locked(exc: BaseException) -> bool:
    return DB_LOCKED in str(exc)


def open_retrying(opener: Callable[[], T], *, what: str) -> T:
    """Call ``opener`` until the CAS database is free.

    Our lock file keeps our own processes apart, but hf-xet closes the database when its
    last Rust handle is dropped, which may lag the Python object by a moment, and a process
    that uses hf-xet directly does not take our lock at all.
    """
    deadline = time.monotonic() + REOPEN_SECONDS
    pause = 0.005
    while True:
        try:
            return opener()
        except RuntimeError as exc:
            if not is_db_locked(exc):
                raise
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"{what}: the Xet CAS database stayed open in another process for {REOPEN_SECONDS:.0f} s "
                    "(a process using hf-xet on this CAS directly, without artifactstore's lock file?); retry later"
                ) from exc
            log.debug("%s: CAS database still open elsewhere, retrying", what)
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


__all__ = [
    "DB_LOCKED",
    "DEFAULT_MAX_UPLOADS",
    "ENV_MAX_UPLOADS",
    "forget_sessions",
    "get_session",
    "is_db_locked",
    "max_uploads",
    "open_retrying",
    "upload_slot",
]
