"""A committing process: one process on this machine commits small files for several others.

MLflow's server runs 4 worker processes, and their commits to one branch of a git or xet store
cost more from 4 processes than from one: each group-commit batch is smaller, and each process
reads back the trees the others wrote. When a worker has several small uploads in flight it
therefore hands each one (path, message and bytes, over a Unix socket) to one process that
holds the store and commits every request in a thread of its own, so that the engine's group
commit (:mod:`artifactstore.engine.group`) batches the uploads of all workers. Measured through
a real ``mlflow server`` with 16 clients (``benchmarks/mlflow_bench.py --without-committer``):
1.04-1.09x the small-file rate of committing in the workers. A lone upload stays in its worker
(the extra hop cost one client 15-35% in the prototype).

How it stays safe:

* The socket is in Linux's abstract namespace, named after the store's identity (backend,
  location, branch, options) and the user id, so nothing is left on disk and a long store path
  cannot exceed ``sun_path``. Binding the name is the election: a second committing process
  for the same store finds it taken and exits. Both ends check the other's user id
  (``SO_PEERCRED``): an abstract socket has no file permissions.
* A reply is sent only after :meth:`~artifactstore.ArtifactStore.put_file` returned, that is
  once the commit is as durable as the store makes any commit; the worker answers its client
  only after the reply.
* A worker that gets no reply (the committing process died or exited) cannot tell whether the
  commit landed, and commits the bytes itself unless the branch already holds exactly those
  bytes at that path (:func:`commit_unless_present`): a lost reply never makes a second commit.
* The process exits when the worker that started it is gone (checked twice a second), when it
  has served nothing for :data:`IDLE_EXIT` seconds, or on SIGTERM or SIGINT; it stops accepting first
  and answers the requests it has already read.

Run as ``python -m artifactstore.committer --parent PID URI`` (the MLflow adapter starts it;
see :mod:`artifactstore.mlflow.handover`). Linux only: elsewhere :func:`supported` is false
and every commit stays in its worker.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from typing import Any

from .errors import ArtifactStoreError
from .store import ArtifactStore
from .uri import StoreURI, open_with_path, parse_uri

log = logging.getLogger(__name__)

#: A frame: the JSON header's length, the body's length, then both.
FRAME = struct.Struct("!II")
MAX_HEADER = 64 * 1024
#: Largest body a committing process accepts (the MLflow adapter sends uploads of one block).
MAX_BODY = 4 * 1024 * 1024
#: Seconds without a request after which the committing process exits (and frees its memory, about
#: 100 MB). Starting one again costs the next burst about a second of CPU and of commits in the workers:
#: with 120 s, the first 16-client round after the benchmark's other workloads ran at 0.83-0.86x of the
#: same store without a committing process, the later rounds at 1.04-1.09x.
IDLE_EXIT = 600.0
#: Seconds between checks that the starting process is still there.
PARENT_CHECK = 0.5
#: Longest wait, when stopping, for the requests already read to be answered.
DRAIN_TIMEOUT = 60.0
_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def supported() -> bool:
    """Whether committing processes can run here (Linux: abstract Unix sockets and ``SO_PEERCRED``)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_PEERCRED")


def socket_name(parsed: StoreURI) -> str:
    """The abstract socket name of the committing process for the store ``parsed`` names."""
    identity = json.dumps([os.getuid(), *parsed.store_identity])
    return "\0artifactstore-committer-" + hashlib.sha256(identity.encode()).hexdigest()[:40]


def peer_uid(sock: Any) -> int:
    """The user id of the process at the other end of a connected Unix socket."""
    _pid, uid, _gid = _CRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size))
    return int(uid)


def frame(header: dict[str, Any], body: bytes = b"") -> bytes:
    """Encode one request or reply."""
    encoded = json.dumps(header).encode()
    return FRAME.pack(len(encoded), len(body)) + encoded + body


def check_lengths(header_length: int, body_length: int) -> None:
    """Refuse a frame whose lengths no well-behaved peer sends."""
    if header_length > MAX_HEADER or body_length > MAX_BODY:
        raise ValueError(f"frame of {header_length} + {body_length} bytes exceeds the committing process's limits")


def commit_unless_present(store: ArtifactStore, path: str, data: bytes, message: str) -> str:
    """Commit ``data`` at ``path`` unless the branch already holds exactly these bytes there; return the commit id.

    For a writer that sent a commit to a committing process and got no reply: if it landed,
    the branch's head (or a later commit) holds the bytes and nothing more is written.
    """
    try:
        entry = store.stat(path)
    except ArtifactStoreError:  # missing, a file where a directory should be, ...: the commit decides
        entry = None
    if entry is not None and entry.kind == "file" and entry.size == len(data) and entry.sha256 == hashlib.sha256(data).hexdigest():
        log.debug("%s already holds the %d bytes whose commit got no reply; not committing them again", path, len(data))
        return store.resolve()
    return store.put_file(path, io.BytesIO(data), message=message).id


class _Service:
    """The state shared by the handler threads and the main thread of a committing process."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.stopping = threading.Event()
        self._busy = threading.Condition()
        self._in_flight = 0
        self.last_request = time.monotonic()
        self.committed = 0

    def begin(self) -> None:
        with self._busy:
            self._in_flight += 1
            self.last_request = time.monotonic()

    def end(self, *, committed: bool) -> None:
        with self._busy:
            self._in_flight -= 1
            self.committed += committed
            self.last_request = time.monotonic()
            self._busy.notify_all()

    def idle_for(self) -> float:
        with self._busy:
            return 0.0 if self._in_flight else time.monotonic() - self.last_request

    def drain(self, timeout: float) -> bool:
        with self._busy:
            return self._busy.wait_for(lambda: self._in_flight == 0, timeout)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        service = self.server.service
        while not service.stopping.is_set():
            head = self.rfile.read(FRAME.size)
            if len(head) < FRAME.size:
                return  # the worker closed the connection
            service.begin()
            committed = False
            try:
                header_length, body_length = FRAME.unpack(head)
                check_lengths(header_length, body_length)
                encoded = self.rfile.read(header_length)
                body = self.rfile.read(body_length)
                if len(encoded) != header_length or len(body) != body_length:
                    return  # the worker went away mid-request: nothing to commit, no one to answer
                header = json.loads(encoded)
                try:
                    commit = service.store.put_file(header["path"], io.BytesIO(body), message=header["message"])
                    reply, committed = {"commit": commit.id}, True
                except Exception as exc:  # the worker commits itself and raises what it gets
                    log.warning("committing %s for another process failed: %s", header.get("path"), exc)
                    reply = {"error": f"{type(exc).__name__}: {exc}"}
                self.wfile.write(frame(reply))
                self.wfile.flush()
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("closing a connection that sent a malformed request: %s", exc)
                return
            except OSError as exc:  # the worker is gone; if it lived, it would find the commit there
                log.info("could not answer a worker (%s)", exc)
                return
            finally:
                service.end(committed=committed)


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False
    #: Every worker may open a connection per upload in flight at once. With socketserver's
    #: default of 5, a non-blocking connect beyond the backlog "succeeds" unconnected.
    request_queue_size = 256

    def __init__(self, name: str, service: _Service) -> None:
        self.service = service
        super().__init__(name, _Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        uid = peer_uid(request)
        if uid != os.getuid():
            log.warning("refusing a connection from user id %d", uid)
            return False
        return True


def serve(uri: str, parent: int, *, idle_exit: float = IDLE_EXIT) -> int:
    """Open the store ``uri`` names and commit for other processes until told to stop; return the exit status.

    Exits at once (status 0) if another committing process serves the store already.
    """
    parsed = parse_uri(uri)
    name = socket_name(parsed)
    store, _ = open_with_path(uri)
    service = _Service(store)
    try:
        try:
            server = _Server(name, service)
        except OSError as exc:
            log.debug("another process commits for %s already (%s)", store.uri, exc)
            return 0
        # SIGTERM from a supervisor, SIGINT from Ctrl-C at the server's terminal (the whole
        # foreground process group gets it): stop accepting and answer what was read.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda signum, frame: service.stopping.set())
        acceptor = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        acceptor.start()
        log.info("committing for the writers of %s (pid %d, started by %d)", store.uri, os.getpid(), parent)
        reason = "a signal to stop"
        while not service.stopping.wait(PARENT_CHECK):
            if os.getppid() != parent:
                reason = f"its starting process {parent} is gone"
                break
            if service.idle_for() > idle_exit:
                reason = f"idle for {idle_exit:.0f} s"
                break
        service.stopping.set()
        server.shutdown()
        server.server_close()
        if not service.drain(DRAIN_TIMEOUT):
            log.warning("stopping with requests still unanswered after %.0f s", DRAIN_TIMEOUT)
        log.info("stopped committing for %s after %d commits: %s", store.uri, service.committed, reason)
        return 0
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m artifactstore.committer", description=__doc__.split("\n")[0])
    parser.add_argument("--parent", type=int, required=True, help="exit when this process (the starter) is gone")
    parser.add_argument("--idle-exit", type=float, default=IDLE_EXIT, help="exit after this many idle seconds")
    parser.add_argument("uri", help="the store URI (a path inside the store is ignored)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    try:
        return serve(args.uri, args.parent, idle_exit=args.idle_exit)
    except ArtifactStoreError as exc:
        log.error("cannot commit for the writers of %s: %s", args.uri, exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["IDLE_EXIT", "commit_unless_present", "frame", "peer_uid", "serve", "socket_name", "supported"]
