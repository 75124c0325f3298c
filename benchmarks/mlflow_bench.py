"""MLflow proxied artifacts (issue 6): artifactstore backends against MLflow's built-in local
``--artifacts-destination`` (a plain directory), measured in one run on one machine.

    python benchmarks/mlflow_bench.py                         # git vs built-in, full sizes
    python benchmarks/mlflow_bench.py --backends git,xet --repeat 3
    python benchmarks/mlflow_bench.py --large-mib 256 --small-files 200   # quicker

Each target gets a real ``mlflow server`` (MLflow's defaults: uvicorn, 4 workers; SQLite
tracking store). The artifactstore targets run it as ``artifactstore server`` does, with
``--app-name artifactstore`` (downloads streamed from the store); ``--app plain`` measures
them under MLflow's own app instead, ``--app both`` side by side. All of them run for the
whole benchmark, and each repeat measures every target in turn, so that drift on a shared
machine hits them alike. Clients are separate processes using MLflow's public client
(``MlflowClient.log_artifact`` / ``download_artifacts``), started and warmed before the
clock starts, and every server is warmed with one untimed upload per client connection.
Before each timed workload the page cache is written back (``sync``), so that no target
pays for another's unwritten data: the git and xet stores make each commit durable with
``syncfs(2)``, which also writes back whatever else is dirty on the filesystem. Workloads,
each with 1 client and with 16 concurrent clients:

* small: 500 files of 10 KiB, split evenly between the clients (files/s), each into a run of
  its own; ``--small-rounds`` (3) rounds per repeat, every target in turn in each round, so
  that a few seconds' disturbance on a shared machine weighs on all targets alike;
* large up / down: 1 GiB in total, one file for 1 client, 16 files of 64 MiB for 16 clients
  (MB/s, 1 MB = 10^6 bytes), with the peak RSS summed over the server's process tree,
  sampled every 50 ms, and its idle RSS for reference.

A second table gives the CPU each upload workload took: the server's processes' (read from
``/proc`` for its process group) and the clients' (``getrusage`` in each client), per small
file and per GiB uploaded. With one client, client and server take turns, so a small file's
wall time is about the sum of the two; these columns say where a target's time goes, and how
much CPU a workload needs against the 2 cores of a CI VM. The server's figure includes what its
idle processes use during the workload's untimed 2 s start margin.

Every repeat uploads random files made for it, so no store can deduplicate them against an
earlier repeat's. Before each repeat it also measures what creating a file costs on the
stores' filesystem (system time), since that moves within minutes on some VMs and weighs on
the git and xet stores (about nine files per commit) more than on the built-in (one). On ext4
without a journal (this project's CI VM) the cost rises for a minute or more wherever many
files were just deleted (see ``fsprobe.py``), so the benchmark deletes nothing next to the
stores while it runs: each repeat's inputs (500 small files per round, and ``--large-mib``) stay
until the end, and only the large downloads (a few files) are removed after each repeat. Every
figure is the median of ``--repeat`` runs. A ratio is artifactstore / built-in in each repeat (the
two measured back to back), and the table gives the median of those; the small-file ratio of
every repeat is listed under the table, and each round's files/s in the log (stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fsprobe import creation_cost

START_MARGIN = 2.0


# ---------------------------------------------------------------------------- server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _group_stats(pgid: int) -> Iterator[tuple[str, list[str]]]:
    """``(pid, fields of /proc/<pid>/stat after the command name)`` of each live process of group ``pgid``."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # field 5 (pgrp) of /proc/pid/stat
                yield entry, fields
        except (OSError, IndexError, ValueError):
            continue


def _tree_rss(pgid: int) -> int:
    total = 0
    for pid, _fields in _group_stats(pgid):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            continue
    return total


def _tree_cpu(pgid: int) -> tuple[float, float]:
    """User and system CPU seconds used so far by the live processes of process group ``pgid``."""
    ticks = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for _pid, fields in _group_stats(pgid):
        user += int(fields[11])  # fields 14 and 15 of /proc/pid/stat: utime, stime
        system += int(fields[12])
    return user / ticks, system / ticks


@dataclass(frozen=True)
class ServerArgs:
    """Where a target's server keeps artifacts, its other ``mlflow server`` arguments, variables added to
    its environment, and the Python that runs it (another installation's, to compare two versions)."""

    destination: str
    extra: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    python: str = sys.executable


class Server:
    def __init__(
        self,
        destination: str,
        workdir: Path,
        workers: int = 4,
        extra: Sequence[str] = (),
        env_extra: Sequence[tuple[str, str]] = (),
        python: str = sys.executable,
    ) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", PYTHONUNBUFFERED="1")
        env.update(env_extra)
        self._log = open(workdir / "server.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [python, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--backend-store-uri", f"sqlite:///{workdir}/mlflow.db", "--artifacts-destination", destination,
             "--workers", str(workers), *extra],
            cwd=workdir, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 300
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited; see {workdir / 'server.log'}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/health", timeout=2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.3)
        self._peak = 0
        self._sampling = threading.Event()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            if self._sampling.is_set():
                self._peak = max(self._peak, _tree_rss(self.process.pid))

    @contextlib.contextmanager
    def peak_rss(self) -> Iterator[list[int]]:
        out: list[int] = []
        self._peak = _tree_rss(self.process.pid)
        self._sampling.set()
        try:
            yield out
        finally:
            self._sampling.clear()
            out.append(max(self._peak, _tree_rss(self.process.pid)))

    def idle_rss(self) -> int:
        return _tree_rss(self.process.pid)

    def cpu(self) -> tuple[float, float]:
        """User and system CPU seconds the server's processes have used so far."""
        return _tree_cpu(self.process.pid)

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()


# ---------------------------------------------------------------------------- client processes
_client = None
_client_url = ""


def _init_client(url: str) -> None:
    # Called in every task: a pool does not promise to give each worker one of N map() items.
    global _client, _client_url
    if _client is not None and _client_url == url:
        return
    os.environ["MLFLOW_TRACKING_URI"] = url
    from mlflow import MlflowClient

    _client, _client_url = MlflowClient(url), url


def _wait_until(start_at: float) -> None:
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)


def _log_files(url: str, run_id: str, files: list[str], artifact_dir: str, start_at: float) -> tuple[float, float, float]:
    """Log ``files``; return the end time and the user and system CPU seconds the client spent."""
    _init_client(url)
    _wait_until(start_at)
    assert _client is not None
    before = resource.getrusage(resource.RUSAGE_SELF)
    for path in files:
        _client.log_artifact(run_id, path, artifact_dir)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return time.time(), after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def _download(url: str, run_id: str, artifact_path: str, dest: str, start_at: float) -> tuple[float, int]:
    _init_client(url)
    _wait_until(start_at)
    assert _client is not None
    local = _client.download_artifacts(run_id, artifact_path, dest)
    return time.time(), os.path.getsize(local)


def _warm(_: int) -> int:
    return os.getpid()


def _parallel(pool: ProcessPoolExecutor, fn, args_list):  # type: ignore[no-untyped-def]
    # Write back every dirty page first, untimed: a store that syncs (git's and xet's
    # syncfs) would otherwise pay for the writes another target left in the page cache.
    os.sync()
    start_at = time.time() + START_MARGIN
    futures: list[Future[Any]] = [pool.submit(fn, *args, start_at) for args in args_list]  # type: ignore[call-arg]
    ends = [f.result() for f in futures]
    return max(e if isinstance(e, float) else e[0] for e in ends) - start_at, ends


# ---------------------------------------------------------------------------- workloads
@dataclass
class Figures:
    small: dict[int, list[float]] = field(default_factory=dict)
    up: dict[int, list[float]] = field(default_factory=dict)
    down: dict[int, list[float]] = field(default_factory=dict)
    peak: dict[int, list[int]] = field(default_factory=dict)
    idle: int = 0
    #: Per repeat, CPU seconds per small file and per GiB uploaded (see :class:`Cpu`).
    small_cpu: dict[int, list[Cpu]] = field(default_factory=dict)
    up_cpu: dict[int, list[Cpu]] = field(default_factory=dict)


@dataclass
class Cpu:
    """CPU seconds spent on a workload: the server's processes' and all the clients' together."""

    server_user: float = 0.0
    server_system: float = 0.0
    client_user: float = 0.0
    client_system: float = 0.0

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(*(a + b for a, b in zip(self.fields(), other.fields(), strict=True)))

    def __truediv__(self, amount: float) -> Cpu:
        return Cpu(*(a / amount for a in self.fields()))

    def fields(self) -> tuple[float, float, float, float]:
        return self.server_user, self.server_system, self.client_user, self.client_system

    @classmethod
    def around(cls, server: Server, workload: Callable[[], tuple[float, list[Any]]]) -> tuple[float, Cpu]:
        """Run ``workload()`` (a :func:`_parallel` of :func:`_log_files`); return its result and its CPU."""
        before = server.cpu()
        wall, ends = workload()
        after = server.cpu()
        cpu = cls(after[0] - before[0], after[1] - before[1], sum(e[1] for e in ends), sum(e[2] for e in ends))
        return wall, cpu


def _make_files(directory: Path, count: int, size: int) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        p = directory / f"f{i:05d}.bin"
        with open(p, "wb") as f:
            remaining = size
            while remaining:
                n = min(remaining, 8 * 1024 * 1024)
                f.write(os.urandom(n))
                remaining -= n
        paths.append(str(p))
    return paths


class Target:
    """One ``mlflow server`` under test, kept running for the whole benchmark."""

    def __init__(self, name: str, server: ServerArgs, workdir: Path, args: argparse.Namespace) -> None:
        from mlflow import MlflowClient

        self.name, self.workdir = name, workdir
        self.server = Server(server.destination, workdir, args.workers, server.extra, server.env, server.python)
        self.figures = Figures(idle=self.server.idle_rss())
        self.client = MlflowClient(self.server.url)
        self.experiment = self.client.create_experiment(f"bench-{name}")

    def warm(self, pools: dict[int, ProcessPoolExecutor], sample: str) -> None:
        """One small upload per client connection, untimed: every server worker has loaded
        its artifact repository (and opened its store) before the clock starts."""
        run_id = self.client.create_run(self.experiment).info.run_id
        for clients, pool in pools.items():
            _parallel(pool, _log_files, [(self.server.url, run_id, [sample], f"warm/{clients}-{i}") for i in range(clients)])

    def small(self, clients: int, pool: ProcessPoolExecutor, files: list[str], label: str) -> tuple[float, Cpu]:
        """Log ``files`` (split between ``clients``) into a new run; return the wall seconds and the CPU."""
        run_id = self.client.create_run(self.experiment).info.run_id
        shares = [files[i::clients] for i in range(clients)]
        args = [(self.server.url, run_id, share, f"{label}/c{i}") for i, share in enumerate(shares)]
        wall, cpu = Cpu.around(self.server, lambda: _parallel(pool, _log_files, args))
        print(f"  {self.name} clients={clients} {label}: {len(files) / wall:.0f} files/s", file=sys.stderr)
        return float(wall), cpu

    def large(self, clients: int, pool: ProcessPoolExecutor, inputs: Path, r: int) -> None:
        """One repeat of the large-file workloads (up, then down) with ``clients`` concurrent clients."""
        figures, url = self.figures, self.server.url
        large_files = sorted(str(p) for p in (inputs / "large").iterdir())
        run_id = self.client.create_run(self.experiment).info.run_id
        total = sum(os.path.getsize(p) for p in large_files)
        with self.server.peak_rss() as peak_up:
            args = [(url, run_id, [p], "large") for p in large_files]
            wall, cpu = Cpu.around(self.server, lambda: _parallel(pool, _log_files, args))
        figures.up.setdefault(clients, []).append(total / wall / 1e6)
        figures.up_cpu.setdefault(clients, []).append(cpu / (total / 2**30))
        dests = []
        for i in range(clients):
            d = self.workdir / f"down-{clients}-{r}-{i}"
            d.mkdir()
            dests.append(d)
        with self.server.peak_rss() as peak_down:
            pairs = zip(large_files, dests, strict=True)
            wall, done = _parallel(pool, _download, [(url, run_id, f"large/{Path(p).name}", str(d)) for p, d in pairs])
        figures.down.setdefault(clients, []).append(total / wall / 1e6)
        figures.peak.setdefault(clients, []).append(max(peak_up[0], peak_down[0]))
        if [size for _, size in done] != [os.path.getsize(p) for p in large_files]:
            raise RuntimeError(f"{self.name}: a downloaded file has the wrong size")
        for d in dests:
            shutil.rmtree(d)
        print(
            f"  {self.name} clients={clients} repeat={r + 1}: small {figures.small[clients][-1]:.0f} files/s, "
            f"up {figures.up[clients][-1]:.0f} MB/s, down {figures.down[clients][-1]:.0f} MB/s, "
            f"peak {figures.peak[clients][-1] / 2**20:.0f} MiB",
            file=sys.stderr,
        )

    def stop(self) -> None:
        self.server.stop()


def _make_inputs(directory: Path, args: argparse.Namespace, clients: int) -> list[list[str]]:
    """Fresh random files for one repeat: ``small-<n>/`` for each small round, and ``large/``
    (``clients`` files of the large total); returns each small round's files."""
    _make_files(directory / "large", clients, args.large_mib * 1024 * 1024 // clients)
    return [_make_files(directory / f"small-{n}", args.small_files, args.small_kib * 1024) for n in range(args.small_rounds)]


def measure_all(
    targets: dict[str, ServerArgs], root: Path, pools: dict[int, ProcessPoolExecutor], args: argparse.Namespace, sample: str
) -> tuple[dict[str, Figures], list[float]]:
    """Start every target's server, then run each repeat on every target in turn.

    Returns each target's figures and the file-creation cost (:func:`creation_cost`) measured
    before each repeat.

    Interleaving the targets within each repeat (rather than measuring one target after
    another) keeps a shared machine's drift over minutes out of the ratios: every target
    sees the same stretch of time in each repeat. The small-file workload, a few seconds
    long, is interleaved more finely still: ``--small-rounds`` rounds of it per repeat, every
    target in turn in each round, and a target's small-file figure for the repeat is all its
    rounds' files over all their time. Each repeat uploads files it has just made: uploading
    the same bytes again would measure the stores' deduplication (an exact repeat costs git
    and xet a hash and no write), not an upload.
    """
    running: list[Target] = []
    creation: list[float] = []
    try:
        for name, server in targets.items():
            workdir = root / name.replace(" ", "-").replace(",", "")
            workdir.mkdir()
            print(f"starting {name} ({server.destination} {' '.join(server.extra)})", file=sys.stderr)
            running.append(Target(name, server, workdir, args))
        for target in running:
            target.warm(pools, sample)
        for clients, pool in pools.items():
            for r in range(args.repeat):
                fresh = root / f"inputs-{clients}-{r}"
                small_rounds = _make_inputs(fresh, args, clients)
                creation.append(creation_cost(root))
                print(f"  file creation before repeat {r + 1}: {creation[-1]:.0f} us of system time", file=sys.stderr)
                seconds = dict.fromkeys((t.name for t in running), 0.0)
                cpu = {t.name: Cpu() for t in running}
                for n, files in enumerate(small_rounds):
                    for target in running:
                        wall, used = target.small(clients, pool, files, f"small-{r}-{n}")
                        seconds[target.name] += wall
                        cpu[target.name] += used
                logged = sum(len(files) for files in small_rounds)
                for target in running:
                    target.figures.small.setdefault(clients, []).append(logged / seconds[target.name])
                    target.figures.small_cpu.setdefault(clients, []).append(cpu[target.name] / logged)
                    target.large(clients, pool, fresh, r)
                # The inputs stay until the end: see the module docstring.
    finally:
        for target in running:
            target.stop()
    return {t.name: t.figures for t in running}, creation


def _med(values: list[float]) -> float:
    return statistics.median(values)


def _paired(values: list[float], base: list[float]) -> list[float]:
    """Each repeat's value over the baseline's in the same repeat (measured back to back)."""
    return [v / b for v, b in zip(values, base, strict=True)]


def table(results: dict[str, Figures], large: str = "1 GiB", baseline: str = "built-in") -> str:
    base = results[baseline]
    lines = [
        f"| target | clients | small files/s | ratio | {large} up MB/s | ratio | {large} down MB/s | ratio "
        "| server peak RSS MiB (idle) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, fig in results.items():
        for clients in sorted(fig.small):
            s, u, d = _med(fig.small[clients]), _med(fig.up[clients]), _med(fig.down[clients])
            rs = _med(_paired(fig.small[clients], base.small[clients]))
            ru = _med(_paired(fig.up[clients], base.up[clients]))
            rd = _med(_paired(fig.down[clients], base.down[clients]))
            peak = max(fig.peak[clients]) / 2**20
            lines.append(
                f"| {name} | {clients} | {s:.0f} | {rs:.2f}x | {u:.0f} | {ru:.2f}x | {d:.0f} | {rd:.2f}x "
                f"| {peak:.0f} ({fig.idle / 2**20:.0f}) |"
            )
    lines.append("")
    lines.append("Small-file ratio in each repeat:")
    for name, fig in results.items():
        if name == baseline:
            continue
        for clients in sorted(fig.small):
            ratios = " / ".join(f"{r:.2f}" for r in _paired(fig.small[clients], base.small[clients]))
            lines.append(f"- {name}, {clients} client(s): {ratios}")
    return "\n".join(lines)


def cpu_table(results: dict[str, Figures], large: str = "1 GiB") -> str:
    """Where the time goes: median CPU per small file and per GiB uploaded, server and clients.

    With one client a request's wall time is close to the client's plus the server's CPU for it
    (the two take turns), so these columns say what a target's small-file rate is made of.
    """
    lines = [
        "| target | clients | small file: server user / system ms | clients user / system ms "
        f"| {large} up: server user / system s per GiB | clients user / system s per GiB |",
        "|---|---|---|---|---|---|",
    ]
    for name, fig in results.items():
        for clients in sorted(fig.small_cpu):
            s = [_med([c.fields()[i] for c in fig.small_cpu[clients]]) * 1e3 for i in range(4)]
            u = [_med([c.fields()[i] for c in fig.up_cpu[clients]]) for i in range(4)]
            lines.append(
                f"| {name} | {clients} | {s[0]:.2f} / {s[1]:.2f} | {s[2]:.2f} / {s[3]:.2f} "
                f"| {u[0]:.2f} / {u[1]:.2f} | {u[2]:.2f} / {u[3]:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="git", help="comma-separated artifactstore backends (default: git)")
    parser.add_argument("--clients", default="1,16")
    parser.add_argument("--small-files", type=int, default=500)
    parser.add_argument("--small-kib", type=int, default=10)
    parser.add_argument(
        "--small-rounds", type=int, default=3,
        help="rounds of the small-file workload per repeat, every target in turn in each (default 3)",
    )
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    parser.add_argument(
        "--workers", type=int, default=4,
        help="uvicorn workers per server (MLflow's default 4; use 1 with the memory backend, whose store is per process)",
    )
    parser.add_argument(
        "--app", choices=("artifactstore", "plain", "both"), default="artifactstore",
        help="MLflow app of the artifactstore servers: ours (--app-name artifactstore, what `artifactstore server` "
        "runs; downloads streamed), MLflow's plain one, or both as separate targets (default: artifactstore)",
    )
    parser.add_argument(
        "--git-nofsync", action="store_true",
        help="also measure a git store with fsync=false (a named store), to show what durability costs",
    )
    parser.add_argument(
        "--baseline-python", metavar="PYTHON",
        help="also serve each backend's store with this Python (a virtual environment with another version of "
        "artifactstore installed, e.g. an earlier commit's), as the target 'artifactstore <backend>, baseline'",
    )
    parser.add_argument(
        "--xet-spool", action="store_true",
        help="also measure a xet store with spool_streams=true (uploads spooled before the CAS lock is taken)",
    )
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]

    root = Path(tempfile.mkdtemp(prefix="mlflow-bench-"))
    ctx = mp.get_context("spawn")
    pools = {n: ProcessPoolExecutor(max_workers=n, mp_context=ctx) for n in clients}
    try:
        [sample] = _make_files(root / "warm", 1, args.small_kib * 1024)  # what the warm-up uploads
        for n, pool in pools.items():
            list(pool.map(_warm, range(n)))

        import artifactstore
        from artifactstore.cli.server import STREAMING_APP  # what `artifactstore server` runs

        targets: dict[str, ServerArgs] = {"built-in": ServerArgs(str(root / "builtin-artifacts"))}
        for backend in args.backends.split(","):
            uri = f"artifactstore+{backend}://{root / (backend + '-store')}"
            artifactstore.open(uri, create=True).close()
            if args.app in ("artifactstore", "both"):
                targets[f"artifactstore {backend}"] = ServerArgs(uri, ("--app-name", STREAMING_APP))
            if args.app in ("plain", "both"):
                plain = f"{root / (backend + '-plain-store')}"
                artifactstore.open(f"artifactstore+{backend}://{plain}", create=True).close()
                targets[f"artifactstore {backend}, plain app"] = ServerArgs(f"artifactstore+{backend}://{plain}")
            if args.baseline_python:
                other = f"artifactstore+{backend}://{root / (backend + '-baseline-store')}"
                artifactstore.open(other, create=True).close()
                targets[f"artifactstore {backend}, baseline"] = ServerArgs(
                    other, ("--app-name", STREAMING_APP), python=args.baseline_python
                )
        named: dict[str, tuple[str, str, str]] = {}  # store name -> (backend, options, label)
        if args.git_nofsync:
            named["bench-nofsync"] = ("git", "fsync = false", "artifactstore git, fsync off")
        if args.xet_spool:
            named["bench-spool"] = ("xet", "spool_streams = true", "artifactstore xet, spooled streams")
        if named:
            config = root / "config.toml"
            lines = []
            for store, (backend, options, label) in named.items():
                location = root / f"{store}-store"
                lines.append(f'[stores.{store}]\nuri = "artifactstore+{backend}://{location}"\noptions = {{ {options} }}\n')
                artifactstore.open(f"artifactstore+{backend}://{location}", create=True).close()
                targets[label] = ServerArgs(f"artifactstore://{store}", ("--app-name", STREAMING_APP))
            config.write_text("\n".join(lines))
            os.environ["ARTIFACTSTORE_CONFIG"] = str(config)  # inherited by the servers
        results, creation = measure_all(targets, root, pools, args, sample)
        large = f"{args.large_mib // 1024} GiB" if args.large_mib % 1024 == 0 else f"{args.large_mib} MiB"
        output = (
            f"MLflow proxied artifacts, {args.small_files} x {args.small_kib} KiB and {args.large_mib} MiB, "
            f"median of {args.repeat}, {args.workers} server workers, {os.cpu_count()} CPUs\n\n"
            + table(results, large)
            + "\n\nCPU, medians over the repeats (server: all its processes; clients: all of them together):\n\n"
            + cpu_table(results, large)
            + "\n\nSystem time to create one file on the stores' filesystem, before each repeat (us): "
            + " / ".join(f"{c:.0f}" for c in creation)
        )
        print(output)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(output + "\n")
    finally:
        for pool in pools.values():
            pool.shutdown(cancel_futures=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
