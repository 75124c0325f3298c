"""Cross-process serialization of a local Xet CAS.

hf-xet's ``local://`` CAS keeps a redb database that admits one process at a time: while
any ``XetUploadCommit`` or ``XetDownloadStreamGroup`` of one process is alive, a second
process that opens the CAS fails with "Database already open. Cannot acquire lock" - even a
reader while a writer is open. Inside one process any number of them may be open at once
(hf-xet shares the handle), and the handle is closed when the last of them is dropped.

So the lock is an ``fcntl.flock`` on ``<cas>.lock`` that a *process* holds while at least one
of its threads is transferring: the first thread takes the flock, later threads of the same
process join without waiting, and the last one to leave releases it - after dropping its
hf-xet objects, so the next process finds the database closed. The kernel releases a flock
when its process dies, so a killed worker never leaves a stale lock behind.

An *exclusive* hold (the gc rebuild, which swaps the CAS directory) additionally waits until
no other thread of this process is inside, and keeps new ones out until it leaves.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from artifactstore.errors import LockTimeout

log = logging.getLogger(__name__)

#: Longest pause between two attempts to take a busy flock.
MAX_POLL_SECONDS = 0.02


class CasLock:
    """A process-shared, cross-process exclusive lock on one CAS directory.

    Use :func:`cas_lock` to get the instance for a path: all stores of one process that
    open the same CAS must share one instance, because two flocks of one process on two
    descriptors of the same file exclude each other.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cond = threading.Condition()
        self._users = 0
        self._exclusive = False
        self._acquiring = False
        self._fd: int | None = None

    @contextlib.contextmanager
    def hold(self, *, timeout: float, exclusive: bool = False) -> Iterator[None]:
        """Hold the CAS for one transfer; raise :class:`LockTimeout` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        self._enter(deadline, exclusive)
        try:
            yield
        finally:
            self._leave(exclusive)

    @contextlib.contextmanager
    def hold_if_free(self) -> Iterator[bool]:
        """Hold the CAS for one transfer if that needs no wait; yields whether it is held.

        It is free when no other process holds it, or when this process already does (its
        threads share the hold) and no exclusive hold is waiting or inside.
        """
        try:
            self._enter(time.monotonic(), False)
        except LockTimeout:
            yield False
            return
        try:
            yield True
        finally:
            self._leave(False)

    def _enter(self, deadline: float, exclusive: bool) -> None:
        with self._cond:
            while self._acquiring or self._exclusive or (exclusive and self._users > 0):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timeout()
                self._cond.wait(remaining)
            if self._users > 0:
                self._users += 1
                return
            self._acquiring = True
        try:
            fd = self._take_flock(deadline)
        except BaseException:
            with self._cond:
                self._acquiring = False
                self._cond.notify_all()
            raise
        with self._cond:
            self._fd = fd
            self._users = 1
            self._exclusive = exclusive
            self._acquiring = False
            self._cond.notify_all()

    def _leave(self, exclusive: bool) -> None:
        with self._cond:
            self._users -= 1
            if exclusive:
                self._exclusive = False
            if self._users == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                try:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                finally:
                    os.close(fd)
            self._cond.notify_all()

    def _take_flock(self, deadline: float) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        pause = 0.001
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    pass
                if time.monotonic() >= deadline:
                    raise self._timeout()
                time.sleep(pause)
                pause = min(pause * 2, MAX_POLL_SECONDS)
        except BaseException:
            os.close(fd)
            raise

    def _timeout(self) -> LockTimeout:
        return LockTimeout(
            f"the Xet CAS lock {str(self.path)!r} is held by another process for too long; "
            "retry, or raise the store option lock_timeout"
        )


_locks: dict[str, CasLock] = {}
_locks_pid = os.getpid()
_locks_guard = threading.Lock()


def cas_lock(path: Path) -> CasLock:
    """The one :class:`CasLock` of this process for lock file ``path``."""
    global _locks_pid
    key = os.path.realpath(path)
    with _locks_guard:
        if _locks_pid != os.getpid():
            # A forked child inherits no flock ownership it may rely on: start afresh.
            _locks.clear()
            _locks_pid = os.getpid()
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = CasLock(Path(key))
        return lock


__all__ = ["CasLock", "cas_lock"]
