"""The guard between writers and gc: writers share it for a whole commit, gc takes it alone to delete.

gc decides what is dead from a walk of every ref, then deletes. A commit may meanwhile reuse an
object or a file that the walk found dead (the same bytes logged again): if gc deleted it after
the commit landed, the commit would name something gone. So writers hold the guard shared from
their first stored byte to their ref swap, and gc, once it holds the guard exclusively, walks
again from the refs as they are then (only what is new) and spares whatever that reaches. A
writer that comes while gc deletes waits, then stores anew what it finds gone.

There is no preference for gc: writers are never held up by a gc that waits for them, only by
one that deletes. A caller that must not block for that long (the MLflow server committing on
its event loop's thread) writes inside :func:`without_waiting`: a write that would wait for gc
raises :class:`~artifactstore.errors.WouldWait` instead, before it has stored anything, and can be made again where
waiting is fine.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar

from ..errors import WouldWait

_may_wait: ContextVar[bool] = ContextVar("artifactstore_may_wait_for_gc", default=True)


@contextlib.contextmanager
def without_waiting() -> Iterator[None]:
    """Writes in this context raise :class:`WouldWait` where they would wait for gc's deletes."""
    token = _may_wait.set(False)
    try:
        yield
    finally:
        _may_wait.reset(token)


def may_wait() -> bool:
    """False inside :func:`without_waiting`: a guard that gc holds must raise :class:`WouldWait`."""
    return _may_wait.get()


class SharedExclusiveLock:
    """Held shared by any number of threads at once, or by one thread alone; for threads of one process."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            if self._exclusive and not may_wait():
                raise WouldWait("gc is deleting")
            self._cond.wait_for(lambda: not self._exclusive)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                if not self._shared:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive and not self._shared)
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


__all__ = ["SharedExclusiveLock", "may_wait", "without_waiting"]
