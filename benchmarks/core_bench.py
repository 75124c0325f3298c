"""Core workloads (issue 2): commit cost against directory size, small-file commit rate,
large-file throughput and peak memory. Prints a Markdown table.

    python benchmarks/core_bench.py                       # memory and git, full sizes
    python benchmarks/core_bench.py --backends memory --sizes 100,10000 --repeat 3

Every figure is the median of ``--repeat`` runs. Bytes are the raw git-object bytes the
engine hands the object port for one commit (before zlib), so backends compare fairly.
The "flat tree" column is the baseline a plain git tree would pay: re-serialising and
hashing the whole directory's tree object, measured in the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dulwich.objects import Blob, Tree

import artifactstore
from artifactstore.engine import EngineStore
from artifactstore.values import Put


@contextmanager
def new_store(backend: str, tag: str) -> Iterator[EngineStore]:
    tmp = tempfile.mkdtemp(prefix=f"as-bench-{backend}-")
    try:
        uri = f"artifactstore+memory://bench-{tag}-{time.time_ns()}" if backend == "memory" else (
            f"artifactstore+{backend}://{tmp}/store"
        )
        store = artifactstore.open(uri, create=True)
        assert isinstance(store, EngineStore)
        yield store
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if backend == "memory":
            from artifactstore.backends.memory import forget

            forget(uri.split("//", 1)[1])


def count_written(store: EngineStore) -> Callable[[], int]:
    total = [0]
    real = store.objects.write

    def write(objects):  # type: ignore[no-untyped-def]
        items = list(objects)
        total[0] += sum(len(o.data) for o in items)
        return real(items)

    store.objects.write = write  # type: ignore[method-assign]

    def take() -> int:
        value, total[0] = total[0], 0
        return value

    return take


def flat_tree_cost(n: int, repeat: int) -> tuple[float, int]:
    """What one commit costs a plain git tree: rebuild and hash the whole directory object."""
    blob = Blob.from_string(b"x").id
    names = [f"run-{i:06d}".encode() for i in range(n)]
    times = []
    size = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        tree = Tree()
        for name in names:
            tree.add(name, 0o40000, blob)
        raw = tree.as_raw_string()
        hashlib.sha1(raw).digest()
        times.append(time.perf_counter() - t0)
        size = len(raw)
    return statistics.median(times), size


def directory_size(backend: str, sizes: list[int], repeat: int) -> list[list[str]]:
    rows = []
    for n in sizes:
        with new_store(backend, f"dir{n}") as store:
            for start in range(0, n, 20_000):
                chunk = range(start, min(n, start + 20_000))
                store.commit([Put(f"mlruns/0/run-{i:06d}/meta.yaml", b"id: %d\n" % i) for i in chunk], message="setup")
            take = count_written(store)
            times, written = [], []
            for r in range(max(repeat, 5)):
                t0 = time.perf_counter()
                store.put_bytes(f"mlruns/0/run-new-{r}/meta.yaml", b"id: new\n")
                times.append(time.perf_counter() - t0)
                written.append(take())
        flat_t, flat_b = flat_tree_cost(n, repeat)
        rows.append([backend, f"{n:,}", f"{statistics.median(times) * 1000:.2f}", f"{statistics.median(written):,.0f}",
                     f"{flat_t * 1000:.2f}", f"{flat_b:,}"])
    return rows


def small_files(backend: str, repeat: int, count: int = 200) -> float:
    rates = []
    for r in range(repeat):
        with new_store(backend, f"small{r}") as store:
            t0 = time.perf_counter()
            for i in range(count):
                store.put_bytes(f"runs/{i}/metrics.json", b'{"loss": %d}' % i)
            rates.append(count / (time.perf_counter() - t0))
    return statistics.median(rates)


def large_file(backend: str, size_mib: int, repeat: int, tmp: Path) -> list[str]:
    src = tmp / "large.bin"
    with open(src, "wb") as f:
        block = os.urandom(1 << 20)
        for i in range(size_mib):
            f.write(hashlib.sha256(block + i.to_bytes(4, "big")).digest() * 32768)
    ins, outs, peaks, base_copy = [], [], [], []
    for r in range(repeat):
        t0 = time.perf_counter()
        shutil.copyfile(src, tmp / "copy.bin")
        base_copy.append(time.perf_counter() - t0)
        os.unlink(tmp / "copy.bin")
        with new_store(backend, f"large{r}") as store:
            tracemalloc.start()
            t0 = time.perf_counter()
            store.put_file("model.bin", str(src))
            ins.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            store.download("model.bin", tmp / "out.bin")
            outs.append(time.perf_counter() - t0)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            os.unlink(tmp / "out.bin")
    mb = size_mib * (1 << 20) / 1e6
    return [backend, f"{size_mib} MiB", f"{mb / statistics.median(ins):.0f}", f"{mb / statistics.median(outs):.0f}",
            f"{mb / statistics.median(base_copy):.0f}", f"{statistics.median(peaks) / (1 << 20):.1f}"]


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="memory,git")
    parser.add_argument("--sizes", default="100,10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--large-mib", type=int, default=256)
    args = parser.parse_args(argv)
    installed = artifactstore.get_registry().backends()
    backends = [b for b in args.backends.split(",") if b in installed]
    sizes = [int(s) for s in args.sizes.split(",")]

    rows = [row for b in backends for row in directory_size(b, sizes, args.repeat)]
    print("### Commit cost against directory size (one new file in a directory of N entries)\n")
    print(table(["backend", "entries", "ms/commit", "bytes written", "flat-tree ms (baseline)", "flat-tree bytes"], rows))
    print("\n### Small-file commits\n")
    print(table(["backend", "commits/s"], [[b, f"{small_files(b, args.repeat):.0f}"] for b in backends]))
    with tempfile.TemporaryDirectory() as tmp:
        large = [large_file(b, args.large_mib, max(1, args.repeat // 2), Path(tmp)) for b in backends]
    print("\n### Large file (put_file in, download out; copy = shutil.copyfile of the same file)\n")
    print(table(["backend", "size", "in MB/s", "out MB/s", "copy MB/s (baseline)", "peak Python MiB"], large))
    return 0


if __name__ == "__main__":
    sys.exit(main())
