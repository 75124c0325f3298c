"""Benchmarks of the s3 backend against the local S3 server; prints a Markdown table.

    python benchmarks/s3_bench.py                         # 1 GiB file, 100 small commits, 3 runs
    python benchmarks/s3_bench.py --size-mib 128 --runs 3 # quicker

Measured in one run against one local server process (artifactstore_s3.testing.MotoServer, moto on
loopback): MB/s for a large file in and out, and small-file commits per second, for
``S3Store`` and for MLflow's built-in ``S3ArtifactRepository`` (the baseline: one plain
PutObject / multipart upload per file, no history). Medians of ``--runs`` runs; every
ratio is against the baseline measured in the same run. "in (path)" uploads a local file
(hashed first, then uploaded to its final key); "in (stream)" uploads a stream whose hash
is unknown until its end (staged, then copied server-side). Each run writes different
bytes, so no run is a deduplication hit.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

MiB = 1024 * 1024
BUCKET = "artifactstore-bench"


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as f:
        block = os.urandom(8 * MiB)
        for offset in range(0, size, len(block)):
            f.write(block[: min(len(block), size - offset)])


def stamp(path: Path, run: int) -> None:
    """Make the file's bytes differ from every earlier run (no dedup hits)."""
    with path.open("r+b") as f:
        f.write(f"run-{run:08d}-{time.time_ns()}".encode())


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def read_all(stream: BinaryIO | io.BufferedIOBase | io.RawIOBase) -> int:
    total = 0
    with stream:
        while chunk := stream.read(8 * MiB):
            total += len(chunk)
    return total


def clear_bucket(client: object) -> None:
    paginator = client.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
    for page in paginator.paginate(Bucket=BUCKET):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})  # type: ignore[attr-defined]


def bench_store(run: int, big: Path, size: int, small: int, add: Callable[[str, float], None]) -> None:
    from artifactstore_s3 import S3Store

    store = S3Store(BUCKET, f"store-{run}", create=True)
    stamp(big, run * 3)
    add("store in (path)", size / MiB / timed(lambda: store.put_file("big.bin", str(big))))
    stamp(big, run * 3 + 1)
    with big.open("rb") as f:
        add("store in (stream)", size / MiB / timed(lambda: store.put_file("big2.bin", f)))
    add("store out", size / MiB / timed(lambda: read_all(store.open("big.bin"))))

    def commits() -> None:
        for i in range(small):
            store.put_bytes(f"small/{i}.json", f'{{"i": {i}, "run": {run}}}'.encode())

    add("store small commits", small / timed(commits))
    store.close()


def bench_mlflow(run: int, big: Path, size: int, small: int, tmp: Path, add: Callable[[str, float], None]) -> None:
    from mlflow.store.artifact.s3_artifact_repo import S3ArtifactRepository

    repo = S3ArtifactRepository(f"s3://{BUCKET}/mlflow-{run}/artifacts")
    stamp(big, run * 3 + 2)
    add("mlflow in (path)", size / MiB / timed(lambda: repo.log_artifact(str(big))))  # type: ignore[no-untyped-call]
    out = tmp / f"out-{run}"
    out.mkdir()
    add("mlflow out", size / MiB / timed(lambda: repo.download_artifacts("big.bin", str(out))))  # type: ignore[no-untyped-call]
    (out / "big.bin").unlink()
    small_dir = tmp / f"small-{run}"
    small_dir.mkdir()
    files = []
    for i in range(small):
        path = small_dir / f"{i}.json"
        path.write_text(f'{{"i": {i}, "run": {run}}}')
        files.append(path)

    def uploads() -> None:
        for path in files:
            repo.log_artifact(str(path), "small")  # type: ignore[no-untyped-call]

    add("mlflow small files", small / timed(uploads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=100, help="small-file commits per run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ["ARTIFACTSTORE_PLUGINS"] = "s3"
    from artifactstore_s3.testing import MotoServer, environment

    size = args.size_mib * MiB
    results: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    with tempfile.TemporaryDirectory() as tmp, MotoServer() as server, environment(server):
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        server.create_bucket(BUCKET)
        client = server.client()
        big = Path(tmp) / "big.bin"
        make_file(big, size)
        for run in range(args.runs):
            bench_store(run, big, size, args.small, add)
            clear_bucket(client)
            bench_mlflow(run, big, size, args.small, Path(tmp), add)
            clear_bucket(client)
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)

    med = {name: statistics.median(values) for name, values in results.items()}
    print(f"\n### S3 backend vs MLflow S3ArtifactRepository ({args.size_mib} MiB file, {args.small} small files, "
          f"median of {args.runs} runs, local moto server)\n")
    print("| figure | artifactstore S3Store | MLflow S3ArtifactRepository | ratio |")
    print("|---|---|---|---|")
    rows = [
        ("large file in, MB/s (local path)", "store in (path)", "mlflow in (path)"),
        ("large file in, MB/s (stream)", "store in (stream)", "mlflow in (path)"),
        ("large file out, MB/s", "store out", "mlflow out"),
        ("small-file commits (MLflow: uploads) per s", "store small commits", "mlflow small files"),
    ]
    for label, ours, theirs in rows:
        print(f"| {label} | {med[ours]:.1f} | {med[theirs]:.1f} | {med[ours] / med[theirs]:.2f} |")
    print("\nMiB/s; ratio = artifactstore / MLflow, both measured in this run against the same server.")


if __name__ == "__main__":
    main()
