"""Concurrent writers: threads sharing one store, and processes opening it by URI."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import artifactstore
from artifactstore import ArtifactStore, Conflict

from .fixtures import StoreFixtures
from .helpers import require, tree_of

THREADS = 8
PROCESSES = 4
COMMITS_EACH = 25


def _commit_many(store: ArtifactStore, worker: str, count: int, barrier: threading.Barrier | None = None) -> list[str]:
    if barrier is not None:
        barrier.wait()
    return [
        store.put_bytes(f"{worker}/file-{i:02d}", f"{worker}:{i}".encode(), message=f"{worker} commit {i}").id for i in range(count)
    ]


def _commit_many_in_child(uri: str, worker: str, count: int) -> list[str]:
    """Runs in a spawned process: open the store by its URI and commit ``count`` files."""
    with artifactstore.open(uri) as store:
        return _commit_many(store, worker, count)


class ConcurrencyTests(StoreFixtures):
    """Concurrent writers never lose a commit; a real conflict on one path raises Conflict."""

    def test_8_threads_x_25_commits_to_one_branch_lose_nothing(self, store: ArtifactStore) -> None:
        base = store.put_bytes("base", b"0").id
        barrier = threading.Barrier(THREADS)
        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(_commit_many, store, f"t{w}", COMMITS_EACH, barrier) for w in range(THREADS)]
            made = [c for f in futures for c in f.result()]
        self._check_no_commit_lost(store, base, made, THREADS)

    def test_4_processes_x_25_commits_to_one_branch_lose_nothing(self, store: ArtifactStore) -> None:
        require(store, "cross_process")
        base = store.put_bytes("base", b"0").id
        uri = store.uri
        with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_commit_many_in_child, uri, f"p{w}", COMMITS_EACH) for w in range(PROCESSES)]
            made = [c for f in futures for c in f.result()]
        self._check_no_commit_lost(store, base, made, PROCESSES, prefix="p")

    def _check_no_commit_lost(self, store: ArtifactStore, base: str, made: list[str], workers: int, prefix: str = "t") -> None:
        expected = workers * COMMITS_EACH
        assert len(set(made)) == expected, "every commit has its own id"
        log = [c.id for c in store.log()]
        assert len(log) == expected + 1, f"{len(log) - 1} commits in the log after {expected} concurrent commits"
        assert log[-1] == base
        assert set(log[:-1]) == set(made)
        for commit in store.log(limit=expected):
            assert len(commit.parents) == 1, "concurrent commits are re-applied, not merged"
        tree = tree_of(store)
        assert len(tree) == expected + 1
        for w in range(workers):
            for i in range(COMMITS_EACH):
                assert tree[f"{prefix}{w}/file-{i:02d}"] == f"{prefix}{w}:{i}".encode()

    def test_same_path_written_concurrently_conflicts_or_applies_in_order(self, store: ArtifactStore) -> None:
        base = store.put_bytes("shared", b"base").id
        writers = 6
        barrier = threading.Barrier(writers)

        def write(w: int) -> tuple[int, str | None, tuple[str, ...]]:
            barrier.wait()
            try:
                return w, store.put_bytes("shared", f"writer {w}".encode()).id, ()
            except Conflict as exc:
                return w, None, exc.paths

        with ThreadPoolExecutor(writers) as pool:
            results = list(pool.map(write, range(writers)))
        succeeded = {commit: w for w, commit, _ in results if commit is not None}
        for _, commit, paths in results:
            if commit is None:
                assert paths == ("shared",), f"a Conflict must name the conflicting path, got {paths}"
        assert succeeded, "at least one writer wins"
        log = [c.id for c in store.log()]
        assert len(log) == len(succeeded) + 1, "every successful write is exactly one commit, none lost"
        assert set(log[:-1]) == set(succeeded)
        assert log[-1] == base
        for commit, w in succeeded.items():
            assert store.read_bytes("shared", rev=commit) == f"writer {w}".encode()
        assert store.read_bytes("shared") == f"writer {succeeded[log[0]]}".encode()


__all__ = ["ConcurrencyTests"]
