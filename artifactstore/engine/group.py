"""Group commit: threads committing to one branch of one store share a ref swap.

A commit's content is stored by its own thread; then it joins the branch's queue. One thread
at a time leads: it takes every request waiting (and, once it holds the branch's writer lock,
every request that arrived while it waited for it), builds them as a chain (each request its own
commit, with its own message, on top of the one before), writes all their objects in one
durable batch and moves the branch once. The others find their commit done when they get
their turn. Under concurrent writers (an MLflow server's worker runs uploads in threads) this
replaces one filesystem barrier pair and one ref swap per commit with one per batch, and no
request waits longer than one batch. A single writer commits alone, exactly as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from dulwich.objects import Blob

from ..values import Commit
from .tree import TreeItem


@dataclass(eq=False)
class CommitRequest:
    """One commit waiting for its turn: what to change, checked against ``base_tree`` at ``head``."""

    items: dict[str, TreeItem | None]
    head: bytes | None
    base_tree: bytes | None
    expects_head: bool  # expect_head was given: the commit must land right on ``head``
    author: bytes
    message: str
    blobs: list[Blob]
    #: What each path held in ``base_tree``, looked up before the writer lock when the
    #: branch has moved since ``head`` (the rebase needs it); ``None`` until then.
    before: dict[str, TreeItem | None] | None = None
    result: Commit | None = None
    error: BaseException | None = None
    done: bool = field(default=False)

    def finish(self, result: Commit | None = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.done = result, error, True


class CommitQueue:
    """The requests waiting to be committed to one ref, and the lock its leader holds."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._leader = threading.Lock()
        self._waiting: list[CommitRequest] = []

    def submit(
        self, request: CommitRequest, commit_batch: Callable[[list[CommitRequest], Callable[[], list[CommitRequest]]], None]
    ) -> Commit:
        """Commit ``request``, possibly in a batch led by another thread; raise its error.

        ``commit_batch(batch, more)`` commits ``batch``; ``more()`` hands it the requests that
        arrived since, which it appends to ``batch`` once it holds the branch's writer lock (a
        leader that waited for another process gathers whatever piled up meanwhile).
        """
        with self._mutex:
            self._waiting.append(request)
        with self._leader:
            if not request.done:
                batch = self._take()
                try:
                    commit_batch(batch, self._take)
                except BaseException as exc:
                    for other in batch:
                        if not other.done:
                            other.finish(error=exc)
                    if not isinstance(exc, Exception):
                        raise  # KeyboardInterrupt, SystemExit: the leader stops too
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _take(self) -> list[CommitRequest]:
        with self._mutex:
            taken, self._waiting = self._waiting, []
        return taken


__all__ = ["CommitQueue", "CommitRequest"]
