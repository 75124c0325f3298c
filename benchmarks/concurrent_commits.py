"""Many writers on one branch: commits per second as processes and threads are added.

    python benchmarks/concurrent_commits.py                       # git, 1x1 4x1 1x16 4x4
    python benchmarks/concurrent_commits.py --backends git,xet --repeat 5

Each writer commits one 10 KiB file per commit (``put_bytes``, a path of its own, as MLflow's
``log_artifact`` does) into one directory of one branch. ``PxT`` means P processes with T
threads each, all started before the clock starts. The baseline is 1x1 in the same run:
concurrent writers should keep, or beat, one writer's rate, never collapse. Every run checks
that the branch holds exactly one commit per write. Figures are medians of ``--repeat`` runs.

"writer CPU" is the user + system CPU time of the writer processes (every thread) per
commit, from ``getrusage``; the kernel's own writeback and journal threads are not in it.
Comparing 4x4 with 1x16 shows what it costs that commits to one branch come from several
processes (MLflow's 4 workers) instead of threads of one.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fsprobe import creation_cost


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _writer(uri: str, proc: int, threads: int, commits: int, start: Any, ready: Any, cpu: Any) -> None:
    import artifactstore

    store = artifactstore.open(uri)
    payload = os.urandom(10 * 1024)

    def run(t: int) -> None:
        for i in range(commits):
            store.put_bytes(f"runs/artifacts/p{proc}-t{t}-{i:05d}.bin", payload, message=f"p{proc} t{t} {i}")

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    ready.put(proc)
    start.wait()
    began = _cpu_seconds()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    cpu.put(_cpu_seconds() - began)


def measure(backend: str, procs: int, threads: int, total: int, root: Path) -> tuple[float, float]:
    """Commits per second, and the writers' CPU milliseconds per commit."""
    import artifactstore

    location = Path(tempfile.mkdtemp(prefix=f"{backend}-{procs}x{threads}-", dir=root))
    uri = f"artifactstore+{backend}://{location / 'store'}"
    artifactstore.open(uri, create=True).put_bytes("seed", b"seed")
    ctx = mp.get_context("spawn")
    start, ready, cpu = ctx.Event(), ctx.Queue(), ctx.Queue()
    per_writer = max(total // (procs * threads), 1)
    children = [ctx.Process(target=_writer, args=(uri, p, threads, per_writer, start, ready, cpu)) for p in range(procs)]
    for c in children:
        c.start()
    for _ in children:
        ready.get(timeout=120)
    began = time.perf_counter()
    start.set()
    for c in children:
        c.join()
    wall = time.perf_counter() - began
    cpu_seconds = sum(cpu.get(timeout=10) for c in children if c.exitcode == 0)
    if any(c.exitcode != 0 for c in children):
        raise RuntimeError(f"{backend} {procs}x{threads}: a writer failed")
    written = procs * threads * per_writer
    commits = sum(1 for _ in artifactstore.open(uri).log())
    if commits != written + 1:
        raise RuntimeError(f"{backend} {procs}x{threads}: {commits - 1} commits for {written} writes")
    # The store stays until the end: deleting its files would make file creation dearer for
    # the runs that follow on ext4 without a journal (see fsprobe.py).
    return written / wall, cpu_seconds / written * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="git")
    parser.add_argument("--shapes", default="1x1,4x1,1x16,4x4", help="PxT: processes x threads per process")
    parser.add_argument("--commits", type=int, default=480, help="commits per run, split between the writers")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    shapes = [tuple(int(n) for n in s.split("x")) for s in args.shapes.split(",")]
    if (1, 1) not in shapes:
        shapes.insert(0, (1, 1))
    root = Path(tempfile.mkdtemp(prefix="concurrent-commits-"))
    try:
        print("| backend | writers (processes x threads) | commits/s | vs 1x1 | writer CPU ms/commit |")
        print("|---|---|---|---|---|")
        for backend in args.backends.split(","):
            rates: dict[tuple[int, ...], list[float]] = {s: [] for s in shapes}
            cpus: dict[tuple[int, ...], list[float]] = {s: [] for s in shapes}
            creation = []
            for r in range(args.repeat):
                creation.append(creation_cost(root))
                print(f"  file creation before run {r + 1}: {creation[-1]:.0f} us of system time", file=sys.stderr)
                for shape in shapes:  # interleaved, so load changes hit every shape alike
                    rate, cpu_ms = measure(backend, shape[0], shape[1], args.commits, root)
                    rates[shape].append(rate)
                    cpus[shape].append(cpu_ms)
                    print(f"  {backend} {shape[0]}x{shape[1]} run {r + 1}: {rate:.0f}/s, {cpu_ms:.2f} ms CPU", file=sys.stderr)
            base = statistics.median(rates[(1, 1)])
            for shape in shapes:
                rate = statistics.median(rates[shape])
                print(
                    f"| {backend} | {shape[0]}x{shape[1]} | {rate:.0f} | {rate / base:.2f}x "
                    f"| {statistics.median(cpus[shape]):.2f} |"
                )
            print(f"\n{backend}: system time to create one file before each run (us): " + " / ".join(f"{c:.0f}" for c in creation))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
