"""What a small-file commit would cost with libgit2 doing the git work (issue 6's next step).

Issue 6's small-file gap is CPU: with one MLflow client a request's wall time is about the
client's CPU plus the server's (``mlflow_bench.py``'s CPU table), and a git store's commit
spends most of its CPU in Python (building the trees of the path, serializing and writing the
objects, the ref swap). This probe measures, in one process and in the same run, one commit of
a 10 KiB file at ``0/<run>/artifacts/small<k>/f<i>.bin`` three ways:

* ``artifactstore``: ``put_file`` on a git store (durable: one ``syncfs`` and one directory
  fsync per commit);
* ``artifactstore, fsync off``: the same with ``fsync=false``, to show what the barriers cost;
* ``libgit2``: pygit2 writing the blob, the trees of the path (``TreeBuilder``), the commit
  and the ref, which is what a C commit path could do. libgit2 makes nothing durable, uses
  zlib and SHA-1 with collision detection, and has none of artifactstore's checks (paths,
  case collisions, locks), so it is a floor for a rewrite, not a like-for-like figure.

Directories hold at most ``--per-dir`` files so that the trees stay of one size in all three
(artifactstore fans out directories above 128 entries; libgit2 would rewrite the whole tree).
Each variant writes into a directory of its own made at the start; nothing is deleted until
the end (see ``fsprobe.py`` for why that matters on ext4 without a journal). Rounds alternate
the variants; the figures are medians over ``--rounds``.

pygit2 is not a dependency of artifactstore: ``pip install pygit2`` first.

    python benchmarks/libgit2_probe.py --commits 400 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIZE = 10 * 1024


def _libgit2_committer(directory: Path) -> Callable[[str, bytes], None]:
    import pygit2

    repo = pygit2.init_repository(str(directory), bare=True)
    sig = pygit2.Signature("bench", "bench@example.invalid")
    head: list[Any] = [None]

    def write_path(tree: Any, parts: list[str], blob: Any) -> Any:
        builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
        if len(parts) == 1:
            builder.insert(parts[0], blob, pygit2.GIT_FILEMODE_BLOB)
        else:
            sub = tree[parts[0]] if tree is not None and parts[0] in tree else None
            builder.insert(parts[0], write_path(sub, parts[1:], blob), pygit2.GIT_FILEMODE_TREE)
        return builder.write()

    def commit(path: str, data: bytes) -> None:
        parent = head[0]
        blob = repo.create_blob(data)
        root = write_path(repo[parent].tree if parent is not None else None, path.split("/"), blob)
        head[0] = repo.create_commit(None, sig, sig, f"log {path}", root, [parent] if parent is not None else [])
        repo.references.create("refs/heads/main", head[0], force=True)

    return commit


def _artifactstore_committer(directory: Path, *, fsync: bool) -> Callable[[str, bytes], None]:
    import artifactstore

    store = artifactstore.open(f"artifactstore+git://{directory}", create=True, fsync=fsync)

    def commit(path: str, data: bytes) -> None:
        store.put_file(path, data, message=f"log {path}")

    return commit


def _measure(commit: Callable[[str, bytes], None], payloads: list[bytes], run: str, per_dir: int) -> tuple[float, float, float]:
    """Wall, user and system milliseconds per commit."""
    before, started = os.times(), time.perf_counter()
    for i, data in enumerate(payloads):
        commit(f"0/{run}/artifacts/small{i // per_dir}/f{i:05d}.bin", data)
    wall, after = time.perf_counter() - started, os.times()
    n = len(payloads)
    return wall / n * 1e3, (after.user - before.user) / n * 1e3, (after.system - before.system) / n * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=400, help="commits per variant per round (default 400)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-dir", type=int, default=100, help="files per directory (default 100)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="libgit2-probe-"))
    variants = {
        "artifactstore": _artifactstore_committer(root / "durable", fsync=True),
        "artifactstore, fsync off": _artifactstore_committer(root / "nofsync", fsync=False),
        "libgit2": _libgit2_committer(root / "libgit2"),
    }
    for commit in variants.values():  # warm: imports, first objects, page cache
        _measure(commit, [os.urandom(SIZE) for _ in range(20)], "warm", args.per_dir)
    figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    for r in range(args.rounds):
        payloads = [os.urandom(SIZE) for _ in range(args.commits)]
        order = list(variants.items())
        for name, commit in order if r % 2 == 0 else reversed(order):
            figures[name].append(_measure(commit, payloads, f"run{r}", args.per_dir))
    shutil.rmtree(root, ignore_errors=True)  # after measuring: see the module docstring
    print(f"{args.commits} commits of {SIZE // 1024} KiB per round, median of {args.rounds} rounds\n")
    print("| variant | wall ms / commit | user ms | system ms |")
    print("|---|---|---|---|")
    for name, values in figures.items():
        wall, user, system = (statistics.median(v[k] for v in values) for k in range(3))
        print(f"| {name} | {wall:.2f} | {user:.2f} | {system:.2f} |")


if __name__ == "__main__":
    main()
