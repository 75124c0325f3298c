"""The MLflow worker's side of the committing process (:mod:`artifactstore.committer`).

An MLflow server worker that has several small uploads in flight sends each one, from its
event loop, to the store's committing process and answers the client once the commit id is
back; if there is no committing process yet it commits the upload itself, as before, and
starts one (at most once per :data:`SPAWN_INTERVAL`; when several workers start one at the
same time, all but one exit at once). The committing process is the starting worker's child
and exits when that worker does; the other workers then fall back to committing themselves
and one of them starts the next.

``ARTIFACTSTORE_MLFLOW_COMMITTER=0`` turns the hand-over off: every upload is committed by
the worker that received it. Only stores whose commits are local work under a file lock
(git, xet: :attr:`~artifactstore.ArtifactStore.commits_locally`) use it, and only on Linux.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import json
import logging
import os
import subprocess
import sys
import time
from typing import Any

from .. import committer
from ..store import ArtifactStore
from ..uri import parse_uri

log = logging.getLogger(__name__)

ENV = "ARTIFACTSTORE_MLFLOW_COMMITTER"
#: Least time between two starts of a committing process by one worker.
SPAWN_INTERVAL = 10.0
#: After a failed connection, uploads are committed in the worker for this long before the next try.
RETRY_INTERVAL = 0.5
#: Longest wait for the committing process's reply (a commit may wait up to the git store's
#: ``lock_timeout`` for the branch, 30 s by default); then the worker commits it itself, unless present.
REPLY_TIMEOUT = 120.0


class Outcome(enum.Enum):
    """What became of an upload offered to the committing process."""

    COMMITTED = "committed"  #: the committing process committed it and said so
    NOT_SENT = "not sent"  #: no committing process took it: commit it here
    UNKNOWN = "unknown"  #: sent, but no reply: it may have landed (commit it unless present)


def enabled() -> bool:
    """Whether workers hand overlapping uploads to a committing process (``ARTIFACTSTORE_MLFLOW_COMMITTER``)."""
    return committer.supported() and os.environ.get(ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


class CommitterLink:
    """One worker process's connections to the committing process of one store (use on one event loop)."""

    def __init__(self, uri: str, name: str) -> None:
        self._uri = uri
        self._name = name
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retry_at = 0.0
        self._spawned_at = -SPAWN_INTERVAL
        self._child: subprocess.Popen[bytes] | None = None
        #: How many uploads met each :class:`Outcome` (for logs and tests).
        self.outcomes: collections.Counter[Outcome] = collections.Counter()

    @property
    def child(self) -> subprocess.Popen[bytes] | None:
        """The committing process this worker started last, if any (it may have lost the election and exited)."""
        return self._child

    async def commit(self, path: str, data: bytes, message: str) -> Outcome:
        """Have the committing process commit ``data`` at ``path``; see :class:`Outcome`."""
        outcome = await self._commit(path, data, message)
        self.outcomes[outcome] += 1
        return outcome

    async def _commit(self, path: str, data: bytes, message: str) -> Outcome:
        connection = await self._connection()
        if connection is None:
            return Outcome.NOT_SENT
        reader, writer = connection
        try:
            writer.write(committer.frame({"path": path, "message": message}, data))
            reply = await asyncio.wait_for(_read_reply(reader), REPLY_TIMEOUT)
        except (OSError, EOFError, asyncio.IncompleteReadError, ValueError, asyncio.TimeoutError) as exc:
            log.info("the committing process did not answer for %s (%s); committing it here", path, exc)
            writer.close()
            return Outcome.UNKNOWN
        except asyncio.CancelledError:  # the client went away: its reply must not reach a later request
            writer.close()
            raise
        self._idle.append(connection)
        if "commit" not in reply:
            log.warning("the committing process could not commit %s (%s); committing it here", path, reply.get("error"))
            return Outcome.UNKNOWN
        log.debug("%s -> %s (committing process)", message, reply["commit"])
        return Outcome.COMMITTED

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that opened them
            self._idle.clear()
            self._loop = loop
        while self._idle:
            reader, writer = self._idle.pop()
            if not (reader.at_eof() or writer.is_closing()):
                return reader, writer
            writer.close()
        if time.monotonic() < self._retry_at:
            return None
        try:
            reader, writer = await asyncio.open_unix_connection(self._name)
        except OSError as exc:
            self._retry_at = time.monotonic() + RETRY_INTERVAL
            log.debug("no committing process for %s (%s)", self._uri, exc)
            self._start_one()
            return None
        uid = committer.peer_uid(writer.get_extra_info("socket"))
        if uid < 0:  # not connected after all (a full backlog)
            writer.close()
            self._retry_at = time.monotonic() + RETRY_INTERVAL
            return None
        if uid != os.getuid():
            writer.close()
            self._retry_at = time.monotonic() + SPAWN_INTERVAL
            log.warning("the committing process's socket for %s belongs to user id %d; committing here", self._uri, uid)
            return None
        return reader, writer

    def _start_one(self) -> None:
        if self._child is not None and self._child.poll() is None:
            return  # ours is starting (or lost the election and is exiting)
        now = time.monotonic()
        if now - self._spawned_at < SPAWN_INTERVAL:
            return
        self._spawned_at = now
        command = [sys.executable, "-m", "artifactstore.committer", "--parent", str(os.getpid()), self._uri]
        try:
            self._child = subprocess.Popen(command, stdin=subprocess.DEVNULL, close_fds=True)
        except OSError as exc:
            log.warning("cannot start a committing process for %s: %s", self._uri, exc)
            return
        log.info("started committing process %d for %s", self._child.pid, self._uri)


async def _read_reply(reader: asyncio.StreamReader) -> dict[str, Any]:
    header_length, body_length = committer.FRAME.unpack(await reader.readexactly(committer.FRAME.size))
    committer.check_lengths(header_length, body_length)
    reply = json.loads(await reader.readexactly(header_length + body_length))
    if not isinstance(reply, dict):
        raise ValueError(f"a reply must be a JSON object, not {reply!r}")
    return reply


_links: dict[str, CommitterLink] = {}


def link_for(store: ArtifactStore, uri: str) -> CommitterLink | None:
    """The worker's link to the committing process of ``store`` (opened from ``uri``), or ``None`` if it has none."""
    if not type(store).commits_locally or not enabled():
        return None
    name = committer.socket_name(parse_uri(uri))
    # setdefault is atomic: threads that race here share the link that went in first.
    return _links.get(name) or _links.setdefault(name, CommitterLink(uri, name))


if hasattr(os, "register_at_fork"):
    # A forked child starts its own committing process and opens its own connections.
    os.register_at_fork(after_in_child=_links.clear)


__all__ = ["ENV", "CommitterLink", "Outcome", "enabled", "link_for"]
