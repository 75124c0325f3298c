"""Probe (issue 6): would one process that makes the commits of all MLflow workers carry small files?

    python benchmarks/committer_probe.py --rounds 5 --files 480 --single-files 300

MLflow's 4 uvicorn workers commit to one branch from 4 processes, and commits from 4 processes
cost more CPU than the same commits from one (``concurrent_commits.py``: smaller group-commit
batches, trees the others wrote read back). This probe measures what a separate committing
process would give before anyone builds one. Three ``mlflow server`` targets, as in
``mlflow_bench.py`` (4 workers, ``--app-name artifactstore``, every target in turn in each
round): the built-in store, a git store, and a second git store whose workers hand every
*overlapping* small upload to one committing process over a Unix socket (a lone upload still
commits in its worker, on its event loop). The committing process commits each request in a
thread of its own, so the engine's group commit batches requests from all four workers, and a
worker answers its client once the commit id is back.

The hand-over is patched into the workers through a ``sitecustomize`` module on their
``PYTHONPATH`` (the adapter's ``asyncio.to_thread`` of a one-block upload becomes a request
on the socket, awaited on the event loop): a measurement harness, not a design. What a real
one needs (who starts it, that it dies with the server, what a worker does when it dies
mid-request) is in the issue note. At the end the probe checks that every upload to the
committer's store is a commit on its branch.

The library now has a committing process of its own (:mod:`artifactstore.committer`); both
git targets here turn it off (``ARTIFACTSTORE_MLFLOW_COMMITTER=0``), so the probe still
compares its prototype with committing in the workers. ``mlflow_bench.py
--without-committer`` measures the real one.
"""

from __future__ import annotations

import argparse
import io
import logging
import multiprocessing as mp
import os
import pickle
import shutil
import socketserver
import statistics
import struct
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mlflow_bench import ServerArgs, Target, _make_files, _warm

log = logging.getLogger("committer_probe")

#: Loaded by every Python process of the probed server (``PYTHONPATH``); active where
#: ``COMMITTER_PROBE_SOCKET`` is set. An overlapping one-block upload, which the adapter would
#: hand to a worker thread, is sent to the socket from the event loop instead.
HOOK = """
import os
if os.environ.get("COMMITTER_PROBE_SOCKET"):
    import asyncio, io, pickle, struct, types
    from artifactstore.mlflow import repository as _repo

    _idle = []  # connections to the committing process not in use (event loop thread only)

    async def _hand_over(path, data):
        if _idle:
            reader, writer = _idle.pop()
        else:
            reader, writer = await asyncio.open_unix_connection(os.environ["COMMITTER_PROBE_SOCKET"])
        body = pickle.dumps((path, data, _repo.commit_message("log", path)))
        writer.write(struct.pack("!I", len(body)) + body)
        (n,) = struct.unpack("!I", await reader.readexactly(4))
        status, detail = pickle.loads(await reader.readexactly(n))
        _idle.append((reader, writer))
        if status != "ok":
            raise RuntimeError(detail)

    def _to_thread(func, /, *args, **kwargs):
        # The adapter sends an overlapping one-block upload to a worker thread as
        # to_thread(self._commit_file, path, BytesIO): hand it over from the loop instead.
        if getattr(func, "__name__", "") == "_commit_file" and len(args) == 2 and isinstance(args[1], io.BytesIO):
            return _hand_over(args[0], args[1].getvalue())
        return asyncio.to_thread(func, *args, **kwargs)

    _proxy = types.ModuleType("asyncio")
    _proxy.__dict__.update(asyncio.__dict__)
    _proxy.to_thread = _to_thread
    _repo.asyncio = _proxy
"""


def serve(uri: str, path: str) -> None:
    """The committing process: one thread per connection, each request one ``put_file``."""
    import artifactstore

    store = artifactstore.open(uri)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while header := self.rfile.read(4):
                (n,) = struct.unpack("!I", header)
                name, data, message = pickle.loads(self.rfile.read(n))
                try:
                    reply = ("ok", store.put_file(name, io.BytesIO(data), message=message).id)
                except Exception as exc:  # the worker raises it to its client
                    log.exception("commit of %s failed", name)
                    reply = ("error", repr(exc))
                body = pickle.dumps(reply)
                self.wfile.write(struct.pack("!I", len(body)) + body)
                self.wfile.flush()

    class Server(socketserver.ThreadingUnixStreamServer):
        daemon_threads = True

    with Server(path, Handler) as server:
        server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--files", type=int, default=480, help="small files per round with 16 clients (default 480)")
    parser.add_argument("--single-files", type=int, default=300, help="small files per round with 1 client (default 300)")
    parser.add_argument("--serve", nargs=2, metavar=("URI", "SOCKET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    args.workers = 4

    import artifactstore
    from artifactstore.cli.server import STREAMING_APP

    root = Path(tempfile.mkdtemp(prefix="committer-probe-"))
    hook_dir = root / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(HOOK)
    socket_path = str(root / "committer.sock")
    plain, handed = f"artifactstore+git://{root / 'git-store'}", f"artifactstore+git://{root / 'committer-store'}"
    for uri in (plain, handed):
        artifactstore.open(uri, create=True).close()
    committer = subprocess.Popen([sys.executable, __file__, "--serve", handed, socket_path])
    ctx = mp.get_context("spawn")
    pools = {n: ProcessPoolExecutor(max_workers=n, mp_context=ctx) for n in (1, 16)}
    running: list[Target] = []
    try:
        for n, pool in pools.items():
            list(pool.map(_warm, range(n)))
        [sample] = _make_files(root / "warm", 1, 10 * 1024)
        # Both git targets without the library's own committing process (which grew out of
        # this probe): the probe measures its prototype against committing in the workers.
        alone = (("ARTIFACTSTORE_MLFLOW_COMMITTER", "0"),)
        hooked = (
            *alone,
            ("PYTHONPATH", os.pathsep.join([str(hook_dir), os.environ.get("PYTHONPATH", "")])),
            ("COMMITTER_PROBE_SOCKET", socket_path),
        )
        targets = {
            "built-in": ServerArgs(str(root / "builtin-artifacts")),
            "git": ServerArgs(plain, ("--app-name", STREAMING_APP), alone),
            "git, committing process": ServerArgs(handed, ("--app-name", STREAMING_APP), hooked),
        }
        for name, server in targets.items():
            workdir = root / name.replace(" ", "-").replace(",", "")
            workdir.mkdir()
            running.append(Target(name, server, workdir, args))
        for target in running:
            target.warm(pools, sample)
        rates: dict[tuple[str, int], list[float]] = {}
        uploads = 0
        for r in range(args.rounds):
            for clients, count in ((16, args.files), (1, args.single_files)):
                files = _make_files(root / f"inputs-{clients}-{r}", count, 10 * 1024)
                for target in running:
                    wall, _ = target.small(clients, pools[clients], files, f"round-{r}")
                    rates.setdefault((target.name, clients), []).append(len(files) / wall)
                uploads += len(files)
        counted = subprocess.run(
            ["git", "-C", str(root / "committer-store"), "rev-list", "--count", "main"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        expected = uploads + sum(pools.keys())  # and one warm-up upload per client process
        if int(counted) != expected:
            raise RuntimeError(f"the committer store's branch has {counted} commits, not the {expected} uploads made")
        print("| target | clients | files/s per round | median | vs built-in (median of rounds) |")
        print("|---|---|---|---|---|")
        for clients in (16, 1):
            base = rates[("built-in", clients)]
            for target in running:
                mine = rates[(target.name, clients)]
                ratio = statistics.median(m / b for m, b in zip(mine, base, strict=True))
                print(
                    f"| {target.name} | {clients} | {' / '.join(f'{x:.0f}' for x in mine)} | "
                    f"{statistics.median(mine):.0f} | {ratio:.2f}x |"
                )
        print(f"\nEvery upload to the committer's store is a commit on its branch: {counted} ({uploads} timed).")
    finally:
        for target in running:
            target.stop()
        committer.terminate()
        committer.wait(timeout=30)
        for pool in pools.values():
            pool.shutdown()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
