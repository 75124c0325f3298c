"""One hf-xet session per process, and translation of hf-xet's errors into ours.

A ``XetSession`` owns a tokio runtime; a runtime does not survive ``fork()``, so the session
is keyed by process id (MLflow's server forks its workers).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from artifactstore.errors import LockTimeout

if TYPE_CHECKING:
    import hf_xet

log = logging.getLogger(__name__)

T = TypeVar("T")

#: hf-xet's message when another process has the local CAS open.
DB_LOCKED = "Database already open"
#: How long to retry opening a CAS whose previous process is still closing it.
REOPEN_SECONDS = 10.0

_session: hf_xet.XetSession | None = None
_session_pid = -1
_guard = threading.Lock()


def get_session() -> hf_xet.XetSession:
    """This process's hf-xet session (telemetry off: stores are often offline)."""
    global _session, _session_pid
    with _guard:
        if _session is None or _session_pid != os.getpid():
            import hf_xet

            config = hf_xet.XetConfig().with_config({"telemetry.enabled": False})
            _session = hf_xet.XetSession(config=config)
            _session_pid = os.getpid()
        return _session


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


__all__ = ["DB_LOCKED", "get_session", "is_db_locked", "open_retrying"]
