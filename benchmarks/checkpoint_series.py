"""The "checkpoint series" workload (issue 4): what chunk-level dedup saves, and what it costs.

Three parts, each written as one commit per file version, to a fresh store per backend:

* weights - ten versions of a ``--size-mib`` float32 weight file (default 512 MiB); between
  versions 10% of the 1 MiB blocks change;
* artifact - a ``--artifact-mib`` file (default 10 MiB) logged unchanged in ``--runs`` runs
  (default 100), at ``runs/<i>/artifacts/model.bin``;
* metrics - a CSV of metrics, ``--size-mib / 32`` MiB at first, that grows by 1% per version
  (ten versions).

For each backend (xet, git, memory, and with ``--backends`` ``xet-remote``: the xet backend
whose CAS is the test CAS server of ``artifactstore_xet.testing`` over loopback HTTP, stored
bytes measured on the server's disk) it reports logical bytes, stored bytes (from
``ArtifactStore.stats()``, the increase over the part) and seconds, plus ingest and read-back
speeds of the weights, and the same workload through hf-xet alone (its Python API on a fresh
``local://`` CAS, one upload commit per file, as the backend makes) as the speed baseline,
measured in the same run. Seconds are medians of ``--repeat`` runs; the runs of all
backends are interleaved. On a shared machine whole runs still see different load, so the
speed target is judged by ``--paired`` runs, in which hf-xet alone and the xet backend make
every upload and read back to back, in alternating order.

    python benchmarks/checkpoint_series.py --size-mib 32 --runs 10 --repeat 1   # quick
    python benchmarks/checkpoint_series.py --repeat 3                           # the report

Targets (issue 4): xet stores at most 1.15x the unique content of the series and keeps at
least 0.9x of hf-xet's own speeds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

import artifactstore
from artifactstore.values import Commit

MIB = 1024 * 1024
BLOCK = MIB
VERSIONS = 10
CHANGED_FRACTION = 0.10
CSV_GROWTH = 0.01


# ---------------------------------------------------------------------------- workload files
@dataclass
class Workload:
    weights: list[Path]
    artifact: Path
    csvs: list[Path]
    runs: int
    changed_blocks: int

    def unique_bytes(self) -> dict[str, int]:
        size = self.weights[0].stat().st_size
        return {
            "weights": size + (len(self.weights) - 1) * self.changed_blocks * BLOCK,
            "artifact": self.artifact.stat().st_size,
            # each version is a prefix of the next, so the last one holds everything
            "metrics": self.csvs[-1].stat().st_size,
        }

    def logical_bytes(self) -> dict[str, int]:
        return {
            "weights": sum(p.stat().st_size for p in self.weights),
            "artifact": self.runs * self.artifact.stat().st_size,
            "metrics": sum(p.stat().st_size for p in self.csvs),
        }


def make_workload(work: Path, size_mib: int, artifact_mib: int, runs: int, seed: int = 4) -> Workload:
    rng = np.random.default_rng(seed)
    n_blocks = size_mib
    floats_per_block = BLOCK // 4
    changed = max(1, round(n_blocks * CHANGED_FRACTION))
    weights = []
    current = work / "weights-0.bin"
    with open(current, "wb") as out:
        for _ in range(n_blocks):
            out.write(rng.standard_normal(floats_per_block, dtype=np.float32).tobytes())
    weights.append(current)
    for version in range(1, VERSIONS):
        nxt = work / f"weights-{version}.bin"
        shutil.copyfile(current, nxt)
        with open(nxt, "r+b") as out:
            for block in sorted(rng.choice(n_blocks, size=changed, replace=False)):
                out.seek(int(block) * BLOCK)
                out.write(rng.standard_normal(floats_per_block, dtype=np.float32).tobytes())
        weights.append(nxt)
        current = nxt
    artifact = work / "artifact.bin"
    artifact.write_bytes(rng.standard_normal(artifact_mib * MIB // 4, dtype=np.float32).tobytes())
    csvs = _make_csvs(work, max(MIB + 1, size_mib * MIB // 32), rng)
    return Workload(weights, artifact, csvs, runs, changed)


def _make_csvs(work: Path, base_size: int, rng: np.random.Generator) -> list[Path]:
    header = b"step,loss,accuracy,learning_rate\n"
    lines: list[bytes] = [header]
    size = len(header)
    step = 0

    def grow(target: int) -> None:
        nonlocal size, step
        while size < target:
            loss, acc = rng.random(2)
            line = f"{step},{loss:.6f},{acc:.6f},{3e-4 * 0.999 ** (step // 100):.8f}\n".encode()
            lines.append(line)
            size += len(line)
            step += 1

    csvs = []
    target = float(base_size)
    for version in range(VERSIONS):
        grow(int(target))
        path = work / f"metrics-{version}.csv"
        path.write_bytes(b"".join(lines))
        csvs.append(path)
        target *= 1 + CSV_GROWTH
    return csvs


# ---------------------------------------------------------------------------- measurements
@dataclass
class Result:
    seconds: dict[str, float] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)
    logical_reported: dict[str, int] = field(default_factory=dict)
    new_bytes: dict[str, int] = field(default_factory=dict)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_store(backend: str, w: Workload, tmp: Path) -> Result:
    """The workload through ``artifactstore`` on one backend, in a fresh store."""
    server = None
    options: dict[str, object] = {}
    if backend == "memory":
        uri = f"artifactstore+memory://checkpoint-series-{time.time_ns()}"
    elif backend == "xet-remote":
        server = _start_cas_server(tmp)
        options = server.store_options(refresh=False)
        uri = f"artifactstore+xet://{tmp}/store-{backend}"
    else:
        uri = f"artifactstore+{backend}://{tmp}/store-{backend}"
    store = artifactstore.open(uri, create=True, **options)
    r = Result()
    stored_before = 0

    def part_done(name: str) -> None:
        nonlocal stored_before
        stats = store.stats()
        if server is not None:  # what the server keeps (xorbs and shards), not the index's estimate
            stats = type(stats)(stats.files, stats.logical_bytes, _disk(server.root))
        r.stored[name] = stats.stored_bytes - stored_before
        r.logical_reported[name] = stats.logical_bytes - sum(r.logical_reported.values())
        stored_before = stats.stored_bytes

    try:
        commits: list[Commit] = []

        def put_weights(paths: list[Path]) -> None:
            commits.extend(store.put_file("model/weights.bin", str(p)) for p in paths)

        r.seconds["weights v0"] = timed(lambda: put_weights(w.weights[:1]))
        r.seconds["weights v1-9"] = timed(lambda: put_weights(w.weights[1:]))
        r.new_bytes["weights v0"] = commits[0].new_bytes or 0
        r.new_bytes["weights v1-9"] = sum(c.new_bytes or 0 for c in commits[1:])
        r.seconds["weights read"] = timed(lambda: _drain(store.open("model/weights.bin")))
        part_done("weights")
        r.seconds["artifact"] = timed(
            lambda: [store.put_file(f"runs/{i}/artifacts/model.bin", str(w.artifact)) for i in range(w.runs)]
        )
        part_done("artifact")
        r.seconds["metrics"] = timed(lambda: [store.put_file("metrics/history.csv", str(p)) for p in w.csvs])
        part_done("metrics")
    finally:
        store.close()
        if server is not None:
            server.kill()
        if backend == "memory":
            from artifactstore.backends.memory import forget

            forget(uri.split("//", 1)[1])
    return r


def _start_cas_server(tmp: Path) -> Any:
    """The test Xet CAS server (artifactstore_xet.testing) on loopback, with its own hf-xet cache."""
    from artifactstore_xet.session import forget_sessions
    from artifactstore_xet.testing import CasServer

    os.environ["HF_XET_CACHE"] = str(tmp / "hf-xet-cache")
    forget_sessions()
    server = CasServer(tmp / "cas-server")
    server.start()
    return server


def _baseline_session(cas: Path) -> Any:
    """The hf-xet session the xet backend uses on a local CAS (the same compression policy)."""
    from artifactstore_xet.content import default_compression
    from artifactstore_xet.endpoint import XetEndpoint
    from artifactstore_xet.session import get_session

    return get_session(default_compression(XetEndpoint.local(cas)))


def run_hf_xet(w: Workload, tmp: Path) -> Result:
    """The same uploads and read through hf-xet's own API on a fresh local CAS."""
    import hf_xet

    cas = tmp / "hf-xet-cas"
    session = _baseline_session(cas)
    endpoint = f"local://{cas}"
    r = Result()

    def upload(path: Path) -> tuple[str, int]:
        with session.new_upload_commit(endpoint=endpoint) as commit:
            handle = commit.start_upload_file(str(path))
        meta = handle.result()
        return meta.xet_info.hash, int(meta.dedup_metrics.new_bytes)

    results: list[tuple[str, int]] = []
    def upload_all(paths: list[Path]) -> None:
        results.extend(upload(p) for p in paths)

    r.seconds["weights v0"] = timed(lambda: upload_all(w.weights[:1]))
    r.seconds["weights v1-9"] = timed(lambda: upload_all(w.weights[1:]))
    r.new_bytes["weights v0"] = results[0][1]
    r.new_bytes["weights v1-9"] = sum(n for _, n in results[1:])
    last_hash, size = results[-1][0], w.weights[-1].stat().st_size

    def read() -> None:
        info = hf_xet.XetFileInfo(last_hash, size)
        digest = hashlib.sha256()
        with session.new_download_stream_group(endpoint=endpoint) as group:
            for piece in group.download_stream(info):
                digest.update(piece)

    r.seconds["weights read"] = timed(read)
    r.stored["weights"] = _disk(cas)
    r.seconds["artifact"] = timed(lambda: [upload(w.artifact) for _ in range(w.runs)])
    r.stored["artifact"] = _disk(cas) - r.stored["weights"]
    r.seconds["metrics"] = timed(lambda: [upload(p) for p in w.csvs])
    r.stored["metrics"] = _disk(cas) - r.stored["weights"] - r.stored["artifact"]
    return r


def _drain(stream: object) -> None:
    with stream:  # type: ignore[attr-defined]
        while stream.read(8 * MIB):  # type: ignore[attr-defined]
            pass


def _disk(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------- paired speed
PAIRED_PARTS = ("weights v0", "weights v1-9", "weights read", "artifact", "metrics")


def run_paired(w: Workload, tmp: Path) -> dict[str, float]:
    """The workload through hf-xet alone and through the xet backend in lock step.

    Every upload (and the read-back) is made by both, back to back, in alternating order, so
    that load from other processes on a shared machine hits both alike. Returns, per part,
    hf-xet's seconds divided by the backend's (above 1: the backend was faster).
    """
    import hf_xet

    session = _baseline_session(tmp / "paired-hf-xet-cas")
    endpoint = f"local://{tmp}/paired-hf-xet-cas"
    store = artifactstore.open(f"artifactstore+xet://{tmp}/paired-store", create=True)
    base = dict.fromkeys(PAIRED_PARTS, 0.0)
    ours = dict.fromkeys(PAIRED_PARTS, 0.0)
    step = 0
    hashes: dict[str, str] = {}

    def both(part: str, direct: Callable[[], object], backend: Callable[[], object]) -> None:
        nonlocal step
        order = [(base, direct), (ours, backend)]
        if step % 2:
            order.reverse()
        for totals, fn in order:
            totals[part] += timed(fn)
        step += 1

    def upload(path: Path) -> None:
        with session.new_upload_commit(endpoint=endpoint) as commit:
            handle = commit.start_upload_file(str(path))
        hashes[str(path)] = handle.result().xet_info.hash

    def read_direct() -> None:
        path = w.weights[-1]
        info = hf_xet.XetFileInfo(hashes[str(path)], path.stat().st_size)
        digest = hashlib.sha256()  # the backend verifies SHA-256 on every read, so hash here too
        with session.new_download_stream_group(endpoint=endpoint) as group:
            for piece in group.download_stream(info):
                digest.update(piece)

    try:
        for version, path in enumerate(w.weights):
            part = "weights v0" if version == 0 else "weights v1-9"
            both(part, partial(upload, path), partial(store.put_file, "model/weights.bin", str(path)))
        for _ in range(3):
            both("weights read", read_direct, lambda: _drain(store.open("model/weights.bin")))
        for run in range(w.runs):
            both("artifact", partial(upload, w.artifact), partial(store.put_file, f"runs/{run}/model.bin", str(w.artifact)))
        for path in w.csvs:
            both("metrics", partial(upload, path), partial(store.put_file, "metrics/history.csv", str(path)))
    finally:
        store.close()
    return {part: base[part] / ours[part] for part in PAIRED_PARTS}


# ---------------------------------------------------------------------------- report
def report(w: Workload, samples: dict[str, list[Result]]) -> tuple[str, dict[str, object]]:
    unique = w.unique_bytes()
    logical = w.logical_bytes()
    size = w.weights[0].stat().st_size
    rows = []
    summary: dict[str, object] = {"unique_bytes": unique, "logical_bytes": logical, "backends": {}}
    lines = [
        f"checkpoint series: weights {size // MIB} MiB x {len(w.weights)} versions "
        f"({w.changed_blocks} of {size // BLOCK} 1-MiB blocks change per version), "
        f"artifact {w.artifact.stat().st_size // MIB} MiB x {w.runs} runs, metrics CSV "
        f"{w.csvs[0].stat().st_size / MIB:.1f} MiB growing 1%/version; median of {len(next(iter(samples.values())))} runs",
        "",
        "| backend | part | logical MiB | unique MiB | stored MiB | stored / unique | seconds |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for backend, results in samples.items():
        med = {k: statistics.median(r.seconds[k] for r in results) for k in results[0].seconds}
        stored = results[0].stored
        part_seconds = {
            "weights": med["weights v0"] + med["weights v1-9"],
            "artifact": med["artifact"],
            "metrics": med["metrics"],
        }
        for part in ("weights", "artifact", "metrics"):
            rows.append((backend, part, logical[part], unique[part], stored[part], part_seconds[part]))
            lines.append(
                f"| {backend} | {part} | {logical[part] / MIB:.0f} | {unique[part] / MIB:.1f} | "
                f"{stored[part] / MIB:.1f} | {stored[part] / unique[part]:.3f} | {part_seconds[part]:.2f} |"
            )
        total_stored = sum(stored.values())
        lines.append(
            f"| {backend} | **total** | {sum(logical.values()) / MIB:.0f} | {sum(unique.values()) / MIB:.1f} | "
            f"{total_stored / MIB:.1f} | {total_stored / sum(unique.values()):.3f} | {sum(part_seconds.values()):.2f} |"
        )
        summary["backends"][backend] = {  # type: ignore[index]
            "seconds_median": med,
            "stored_bytes": stored,
            "stored_over_unique": total_stored / sum(unique.values()),
            "logical_bytes_reported_by_stats": results[0].logical_reported,
            "new_bytes": results[0].new_bytes,
            "seconds_all_runs": [r.seconds for r in results],
        }
    lines += [
        "",
        "| backend | ingest v0 MB/s (new data) | ingest v1-9 MB/s (mostly duplicate) | read MB/s | v1-9 new bytes / logical |",
        "|---|---:|---:|---:|---:|",
    ]
    speeds: dict[str, dict[str, float]] = {}
    for backend, results in samples.items():
        med = {k: statistics.median(r.seconds[k] for r in results) for k in results[0].seconds}
        s = {
            "ingest_new": size / med["weights v0"] / 1e6,
            "ingest_dup": size * (len(w.weights) - 1) / med["weights v1-9"] / 1e6,
            "read": size / med["weights read"] / 1e6,
        }
        speeds[backend] = s
        new = results[0].new_bytes.get("weights v1-9")
        frac = f"{new / (size * (len(w.weights) - 1)):.3f}" if new is not None else "-"
        lines.append(
            f"| {backend} | {s['ingest_new']:.0f} | {s['ingest_dup']:.0f} | {s['read']:.0f} | {frac} |"
        )
    if "hf-xet" in speeds and "xet" in speeds:
        ratios = {k: speeds["xet"][k] / speeds["hf-xet"][k] for k in speeds["xet"]}
        summary["xet_over_hf_xet_speed"] = ratios
        lines += [
            "",
            "xet backend speed / hf-xet alone: "
            + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items())
            + " (target >= 0.9x)",
        ]
    if "xet" in samples:
        ratio = summary["backends"]["xet"]["stored_over_unique"]  # type: ignore[index]
        lines.append(f"xet stored / unique content: {ratio:.3f} (target <= 1.15)")
    summary["speeds_mb_per_s"] = speeds
    return "\n".join(lines), summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=512, help="weight file size (default 512)")
    parser.add_argument("--artifact-mib", type=int, default=10, help="size of the file logged in every run (default 10)")
    parser.add_argument("--runs", type=int, default=100, help="runs that log the unchanged file (default 100)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per backend; seconds are medians (default 3)")
    parser.add_argument(
        "--backends",
        default="hf-xet,xet,git,memory",
        help="comma-separated (default all but xet-remote: the xet backend on the test CAS server over loopback HTTP)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where workload files and stores go")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    parser.add_argument(
        "--paired", type=int, default=3, help="lock-step runs of hf-xet alone vs the xet backend (default 3; 0: none)"
    )
    args = parser.parse_args()
    os.environ.setdefault("ARTIFACTSTORE_PLUGINS", "git,xet")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    work = Path(tempfile.mkdtemp(prefix="checkpoint-series-", dir=args.workdir))
    try:
        print(f"generating workload in {work} ...", file=sys.stderr)
        w = make_workload(work, args.size_mib, args.artifact_mib, args.runs)
        samples: dict[str, list[Result]] = {b: [] for b in backends}
        for repeat in range(args.repeat):
            order = list(backends)
            random.Random(repeat).shuffle(order)
            for backend in order:
                tmp = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=work))
                try:
                    print(f"run {repeat + 1}/{args.repeat}: {backend}", file=sys.stderr)
                    result = run_hf_xet(w, tmp) if backend == "hf-xet" else run_store(backend, w, tmp)
                    samples[backend].append(result)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
        text, summary = report(w, samples) if samples else ("", {})
        paired: list[dict[str, float]] = []
        for repeat in range(args.paired):
            tmp = Path(tempfile.mkdtemp(prefix="paired-", dir=work))
            try:
                print(f"paired run {repeat + 1}/{args.paired}: hf-xet alone vs xet backend", file=sys.stderr)
                paired.append(run_paired(w, tmp))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        if paired:
            ratios = {part: statistics.median(r[part] for r in paired) for part in PAIRED_PARTS}
            summary["paired_speed_xet_over_hf_xet"] = ratios
            summary["paired_all_runs"] = paired
            text += (
                "\n\nxet backend speed / hf-xet alone, paired (each operation by both, back to back; median of "
                f"{len(paired)} runs): "
                + ", ".join(f"{part} {ratio:.2f}x" for part, ratio in ratios.items())
                + " (target >= 0.9x)"
            )
        print(text)
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2, default=str))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
