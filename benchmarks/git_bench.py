"""Benchmarks of the git backend; prints Markdown tables (medians of several runs).

    python benchmarks/git_bench.py                  # everything, 1 GiB file, 100,000 entries
    python benchmarks/git_bench.py --size-mib 256 --max-entries 10000 --runs 3   # quicker

Sections: small-file commits per second (fsync on and off, and with no extended attribute for
the ref lock's owner, as on many network filesystems); a large file in and out
(MB/s and peak RSS of the process) against ``cp`` and against ``git add && git commit`` /
``git cat-file`` in a scratch non-bare repository; commit time by file size inline versus
LFS (how the default inline threshold was chosen); per-commit time with 100 / 10,000 /
100,000 entries in one directory, and the bytes of new objects each commit writes. Every ratio
is against a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

MiB = 1024 * 1024
ENV = {
    **os.environ,
    "ARTIFACTSTORE_PLUGINS": "git",
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def run_child(code: str) -> dict[str, float]:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=ENV, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    figures: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def measured_command(argv: list[str], cwd: Path | None = None, stdout: Path | None = None) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one external command."""
    code = f"""
        import json, resource, subprocess, time
        out = open({str(stdout)!r}, "wb") if {stdout is not None} else None
        t = time.perf_counter()
        subprocess.run({argv!r}, cwd={str(cwd) if cwd else None!r}, check=True, stdout=out or subprocess.DEVNULL)
        dt = time.perf_counter() - t
        print(json.dumps({{"seconds": dt, "rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}}))
    """
    r = run_child(code)
    return r["seconds"], int(r["rss"])


def drop_file_cache(path: Path) -> None:
    # Best effort, so "in" and "out" read from disk-ish state similarly for every contender.
    try:
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    except (OSError, AttributeError):
        pass


# ---------------------------------------------------------------------------- small commits
#: (fsync, whether the ref lock's owner goes in an extended attribute); the first is the baseline.
#: Without the attribute (filesystems without user xattrs) a ref update goes through a side file.
SMALL_VARIANTS = ((True, True), (True, False), (False, True))


def small_commits(work: Path, runs: int, commits: int) -> list[str]:
    rates: dict[tuple[bool, bool], list[float]] = {variant: [] for variant in SMALL_VARIANTS}
    for r in range(runs):
        # Interleaved, in turn first, so the filesystem's drift hits each alike; the stores stay
        # until the end, as removing one makes file creation dearer for the next (see fsprobe.py).
        order = SMALL_VARIANTS[r % len(SMALL_VARIANTS) :] + SMALL_VARIANTS[: r % len(SMALL_VARIANTS)]
        for fsync, xattr in order:
            path = work / f"small-{fsync}-{xattr}-{r}"
            no_xattr = "" if xattr else "import artifactstore_git.locks as L; L._set_owner_xattr = lambda fd, owner: False"
            res = run_child(
                f"""
                import json, time
                from artifactstore_git import GitStore
                {no_xattr}
                s = GitStore({str(path)!r}, create=True, fsync={fsync})
                s.put_bytes("warmup", b"w")
                t = time.perf_counter()
                for i in range({commits}):
                    s.put_bytes(f"runs/{{i % 50}}/metrics.json", f'{{{{"step": {{i}}}}}}'.encode())
                print(json.dumps({{"rate": {commits} / (time.perf_counter() - t)}}))
                """
            )
            rates[(fsync, xattr)].append(res["rate"])
    rows = [f"| fsync | ref lock's owner | commits | commits/s (median of {runs}) | ratio |", "|---|---|---:|---:|---:|"]
    base = statistics.median(rates[SMALL_VARIANTS[0]])
    for (fsync, xattr), values in rates.items():
        owner = "extended attribute" if xattr else "none (side file)"
        rate = statistics.median(values)
        rows.append(f"| {'on' if fsync else 'off'} | {owner} | {commits} | {rate:.0f} | {rate / base:.2f}x |")
    return rows


# ---------------------------------------------------------------------------- large file
def large_file(work: Path, runs: int, size_mib: int) -> list[str]:
    src = work / "big.bin"
    with open(src, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(MiB))
    size = size_mib * MiB
    results: dict[str, list[tuple[float, int]]] = {}

    def add(name: str, seconds: float, rss: int) -> None:
        results.setdefault(name, []).append((seconds, rss))

    for r in range(runs):
        dst = work / f"cp-{r}.bin"
        drop_file_cache(src)
        add("cp (baseline)", *measured_command(["cp", str(src), str(dst)]))
        dst.unlink()

        repo = work / f"store-{r}"
        out = work / f"out-{r}.bin"
        drop_file_cache(src)
        res = run_child(
            f"""
            import json, resource, time
            from artifactstore_git import GitStore
            s = GitStore({str(repo)!r}, create=True)
            t = time.perf_counter()
            s.put_file("model.bin", {str(src)!r})
            print(json.dumps({{"seconds": time.perf_counter() - t, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
            """
        )
        add("artifactstore put_file (in)", res["seconds"], int(res["rss"]))
        res = run_child(
            f"""
            import json, resource, time
            from artifactstore_git import GitStore
            s = GitStore({str(repo)!r})
            t = time.perf_counter()
            s.download("model.bin", {str(out)!r})
            print(json.dumps({{"seconds": time.perf_counter() - t, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
            """
        )
        add("artifactstore download (out, SHA-256 verified)", res["seconds"], int(res["rss"]))
        assert out.stat().st_size == size
        out.unlink()
        shutil.rmtree(repo)

        scratch = work / f"git-{r}"
        subprocess.run(["git", "init", "-q", "-b", "main", str(scratch)], check=True, env=ENV)
        shutil.copy(src, scratch / "model.bin")
        drop_file_cache(scratch / "model.bin")
        t_add, rss_add = measured_command(["git", "add", "model.bin"], cwd=scratch)
        t_commit, rss_commit = measured_command(["git", "commit", "-q", "-m", "model"], cwd=scratch)
        add("git add && git commit (in)", t_add + t_commit, max(rss_add, rss_commit))
        add(
            "git cat-file blob (out)",
            *measured_command(["git", "cat-file", "blob", "HEAD:model.bin"], cwd=scratch, stdout=out),
        )
        out.unlink()
        shutil.rmtree(scratch)
    src.unlink()

    base = statistics.median(s for s, _ in results["cp (baseline)"])
    rows = [
        f"| {size_mib} MiB file | MB/s (median of {runs}) | time vs cp | peak RSS MiB |",
        "|---|---:|---:|---:|",
    ]
    for name, samples in results.items():
        seconds = statistics.median(s for s, _ in samples)
        rss = max(m for _, m in samples) / 1024
        rows.append(f"| {name} | {size / 1e6 / seconds:.0f} | {seconds / base:.2f}x | {rss:.0f} |")
    return rows


# ---------------------------------------------------------------------------- inline threshold
def threshold(work: Path, runs: int) -> list[str]:
    rows = ["| file size | inline blob ms | LFS file ms | inline / LFS |", "|---:|---:|---:|---:|"]
    for size in (64 * 1024, 128 * 1024, 256 * 1024, 512 * 1024, MiB, 4 * MiB, 16 * MiB):
        times = {}
        for mode, limit in (("inline", size), ("lfs", size - 1)):
            path = work / f"thr-{mode}-{size}"
            res = run_child(
                f"""
                import json, os, time, statistics
                from artifactstore_git import GitStore
                s = GitStore({str(path)!r}, create=True, inline_threshold={limit})
                samples = []
                for i in range({max(runs, 5)}):
                    data = os.urandom({size})
                    t = time.perf_counter()
                    s.put_bytes(f"f{{i}}.bin", data)
                    samples.append(time.perf_counter() - t)
                print(json.dumps({{"ms": statistics.median(samples) * 1000}}))
                """
            )
            times[mode] = res["ms"]
            shutil.rmtree(path)
        label = f"{size // 1024} KiB" if size < MiB else f"{size // MiB} MiB"
        rows.append(f"| {label} | {times['inline']:.1f} | {times['lfs']:.1f} | {times['inline'] / times['lfs']:.2f} |")
    return rows


# ---------------------------------------------------------------------------- large directories
def wide_directory(work: Path, entries_list: list[int], commits: int) -> list[str]:
    rows = [
        f"| entries in one directory | build (one commit) s | per-commit ms (median of {commits}) | vs 100 entries "
        "| new objects per commit KB |",
        "|---:|---:|---:|---:|---:|",
    ]
    base = None
    for entries in entries_list:
        path = work / f"wide-{entries}"
        res = run_child(
            f"""
            import json, os, time, statistics
            from artifactstore import Put
            from artifactstore_git import GitStore
            def objects_bytes():
                objects = {str(path / "objects")!r}
                return sum(e.stat().st_size for d in os.scandir(objects) if len(d.name) == 2 for e in os.scandir(d.path))
            build = GitStore({str(path)!r}, create=True, fsync=False)
            t = time.perf_counter()
            build.commit([Put(f"traces/{{i:07d}}.json", f"trace {{i}}".encode()) for i in range({entries})])
            built = time.perf_counter() - t
            s = GitStore({str(path)!r})
            before = objects_bytes()
            samples = []
            for i in range({commits}):
                t = time.perf_counter()
                s.put_bytes(f"traces/new-{{i}}.json", f"new {{i}}".encode())
                samples.append(time.perf_counter() - t)
            assert len(s.list("traces")) == {entries} + {commits}
            added = (objects_bytes() - before) / {commits}
            print(json.dumps({{"build": built, "ms": statistics.median(samples) * 1000, "added": added}}))
            """
        )
        shutil.rmtree(path)
        base = base or res["ms"]
        rows.append(f"| {entries:,} | {res['build']:.1f} | {res['ms']:.1f} | {res['ms'] / base:.2f}x | {res['added'] / 1024:.1f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--commits", type=int, default=200, help="small-file commits per run")
    parser.add_argument("--max-entries", type=int, default=100_000)
    parser.add_argument("--dir", default=None, help="scratch directory (default: a temporary one)")
    parser.add_argument("--only", choices=["small", "large", "threshold", "wide"], action="append", help="run only these sections")
    args = parser.parse_args()
    sections = args.only or ["small", "threshold", "wide", "large"]
    work = Path(tempfile.mkdtemp(prefix="git-bench-", dir=args.dir))
    try:
        print(f"# git backend benchmarks ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)\n")
        if "small" in sections:
            print("## Small-file commits\n", *small_commits(work, args.runs, args.commits), "", sep="\n", flush=True)
        if "threshold" in sections:
            print("## Commit time by file size: inline blob vs LFS\n", *threshold(work, args.runs), "", sep="\n", flush=True)
        if "wide" in sections:
            sizes = [n for n in (100, 10_000, 100_000) if n <= args.max_entries]
            print("## One directory with many entries\n", *wide_directory(work, sizes, 20), "", sep="\n", flush=True)
        if "large" in sections:
            print("## One large file in and out\n", *large_file(work, args.runs, args.size_mib), "", sep="\n", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
