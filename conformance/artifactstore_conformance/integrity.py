"""Integrity (corrupted content and objects are detected) and maintenance (gc, fsck, stats)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

import pytest

from artifactstore import ArtifactStore, IntegrityError, Put
from artifactstore.engine import EngineStore, ObjectPort
from artifactstore.errors import WouldWait
from artifactstore.protocols import SupportsQuickCommits

from .fixtures import StoreFixtures
from .helpers import Corrupter, big_size, git_blob_id, hash_stream, require_protocol, seeded_bytes, sha256_hex, tree_of


class IntegrityTests(StoreFixtures):
    """Reads verify what they return; fsck re-hashes everything."""

    def test_corrupt_content_raises_on_read_and_fsck_reports_it(self, store: ArtifactStore, corrupt_content: Corrupter) -> None:
        data = seeded_bytes(big_size(store), seed=21)
        digest = sha256_hex(data)
        store.commit([Put("big.bin", data), Put("small.txt", b"fine")])
        assert store.fsck().ok
        corrupt_content(store, digest)
        with pytest.raises(IntegrityError):
            store.read_bytes("big.bin")
        with pytest.raises(IntegrityError), store.open("big.bin") as f:
            hash_stream(f)
        assert store.read_bytes("small.txt") == b"fine", "other files stay readable"
        report = store.fsck()
        assert not report.ok
        assert any(digest in problem or "big.bin" in problem for problem in report.problems), report.problems

    def test_corrupt_small_blob_raises_on_read_and_fsck_reports_it(self, store: ArtifactStore, corrupt_object: Corrupter) -> None:
        data = b"a small file kept inline in the object store"
        assert len(data) < big_size(store)
        store.commit([Put("small.txt", data), Put("other.txt", b"other")])
        oid = git_blob_id(data)
        corrupt_object(store, oid)
        with pytest.raises(IntegrityError, match=oid[:7]):
            store.read_bytes("small.txt")
        report = store.fsck()
        assert not report.ok
        assert any(oid in problem for problem in report.problems), report.problems

    def test_fsck_of_a_healthy_store(self, store: ArtifactStore) -> None:
        store.commit([Put("a", b"1"), Put("big", seeded_bytes(big_size(store), seed=22))])
        store.create_branch("b")
        store.put_bytes("c", b"3", branch="b")
        report = store.fsck()
        assert report.ok, report.problems
        assert report.problems == ()
        assert report.objects_checked >= 6  # two commits at least, trees, blobs
        assert report.content_checked == 1


class MaintenanceTests(StoreFixtures):
    """gc removes only unreachable data older than the grace period; stats counts reachable files."""

    def test_gc_removes_what_no_ref_reaches(self, store: ArtifactStore) -> None:
        store.commit([Put("keep", b"kept"), Put("keep-big", seeded_bytes(big_size(store), seed=31))])
        store.create_tag("v1")
        store.create_branch("tmp")
        tmp_big = seeded_bytes(big_size(store) + 10, seed=32)
        tmp_tip = store.commit([Put("tmp-only", b"tmp"), Put("tmp-big", tmp_big)], branch="tmp").id
        before = tree_of(store)
        assert store.gc(grace_seconds=0).objects_removed == 0, "everything is reachable"

        store.delete_branch("tmp")
        recent = store.gc(dry_run=False)
        assert (recent.objects_removed, recent.content_removed) == (0, 0), "data inside the grace period is kept"
        dry = store.gc(dry_run=True, grace_seconds=0)
        assert dry.dry_run
        assert dry.objects_removed >= 3  # the commit, its tree, the small blob (and the pointer blob)
        assert dry.content_removed == 1
        assert dry.bytes_freed >= len(tmp_big)
        assert store.read_bytes("tmp-big", rev=tmp_tip) == tmp_big, "a dry run removes nothing"

        real = store.gc(grace_seconds=0)
        assert not real.dry_run
        assert (real.objects_removed, real.content_removed) == (dry.objects_removed, dry.content_removed)
        assert store.gc(dry_run=True, grace_seconds=0).objects_removed == 0
        assert tree_of(store) == before
        assert tree_of(store, "v1") == before
        assert store.fsck().ok
        with pytest.raises(FileNotFoundError):
            store.read_bytes("tmp-only", rev=tmp_tip)

    def test_a_commit_that_lands_while_gc_walks_keeps_what_it_reuses(self, store: ArtifactStore) -> None:
        # The same bytes logged again (an MLmodel, a conda.yaml, a re-uploaded checkpoint) while gc
        # runs: the commit reuses objects and content gc's walk found unreachable.
        small, big = b"conda.yaml of an old run", seeded_bytes(big_size(store), seed=35)
        objects = _engine_objects(store)
        self._dead(store, small, big)
        real_iter_ids = objects.iter_ids

        def walk_then_commit() -> Iterator[tuple[bytes, float]]:
            listed = list(real_iter_ids())
            _in_thread(lambda: store.commit([Put("new/conda.yaml", small), Put("new/model.bin", big)]))
            return iter(listed)

        objects.iter_ids = walk_then_commit  # type: ignore[method-assign]
        try:
            store.gc(grace_seconds=0)
        finally:
            del objects.iter_ids
        assert store.read_bytes("new/conda.yaml") == small
        assert store.read_bytes("new/model.bin") == big
        assert store.fsck().ok, store.fsck().problems

    def test_a_commit_made_while_gc_deletes_waits_then_stores_its_bytes_again(self, store: ArtifactStore) -> None:
        small, big = b"requirements.txt of an old run", seeded_bytes(big_size(store), seed=36)
        self._dead(store, small, big)
        writer = threading.Thread(
            target=store.commit, args=([Put("new/requirements.txt", small), Put("new/w.bin", big)],)
        )
        removed, done_while_deleting = _gc_starting_as_it_deletes(store, writer, wait=0.3)
        assert removed >= 3
        writer.join(60)
        assert not done_while_deleting, "a commit went ahead while gc deleted"
        assert store.read_bytes("new/requirements.txt") == small
        assert store.read_bytes("new/w.bin") == big
        assert store.fsck().ok, store.fsck().problems

    def test_a_commit_that_must_not_wait_for_gc_says_so_at_once_and_writes_nothing(self, store: ArtifactStore) -> None:
        require_protocol(store, SupportsQuickCommits)
        assert isinstance(store, SupportsQuickCommits)
        small, big = b"an old MLmodel", seeded_bytes(big_size(store), seed=37)
        self._dead(store, small, big)
        before = [c.id for c in store.log()]
        outcome: list[str] = []

        def try_to_commit() -> None:
            try:
                store.commit_without_waiting([Put("new/MLmodel", small)])
                outcome.append("committed")
            except WouldWait:
                outcome.append("would wait")

        _, returned = _gc_starting_as_it_deletes(store, threading.Thread(target=try_to_commit), wait=10)
        assert returned, "it waited for the deletes"
        assert outcome == ["would wait"]
        assert [c.id for c in store.log()] == before, "nothing was committed"
        assert not store.exists("new/MLmodel")
        store.put_bytes("new/MLmodel", small)  # and once gc is done, the same write goes through
        assert store.read_bytes("new/MLmodel") == small

    @staticmethod
    def _dead(store: ArtifactStore, small: bytes, big: bytes) -> None:
        """Commit ``small`` and ``big`` on a branch, then delete it: unreachable, for gc to delete."""
        store.put_bytes("keep", b"kept")
        store.create_branch("old-run")
        store.commit([Put("old/conda.yaml", small), Put("old/model.bin", big)], branch="old-run")
        store.delete_branch("old-run")

    def test_stats_count_logical_and_stored_bytes(self, store: ArtifactStore) -> None:
        big = seeded_bytes(big_size(store), seed=41)
        store.commit([Put("a", b"12345"), Put("big", big)])
        store.create_branch("b")
        store.put_bytes("c", b"xyz", branch="b")
        stats = store.stats()
        assert stats.files >= 3
        assert stats.logical_bytes >= 5 + len(big) + 3
        assert stats.stored_bytes > 0
        at_main = store.stats("main")
        assert at_main.files == 2
        assert at_main.logical_bytes == 5 + len(big)


def _engine_objects(store: ArtifactStore) -> ObjectPort:
    """The object port gc lists and deletes through: the seam these tests time a writer against."""
    if not isinstance(store, EngineStore):
        pytest.skip(f"{type(store).__name__} is not built on the commit engine, whose gc these tests time")
    return store.objects


def _gc_starting_as_it_deletes(store: ArtifactStore, writer: threading.Thread, *, wait: float) -> tuple[int, bool]:
    """Run gc; as it is about to delete, start ``writer`` and give it up to ``wait`` seconds first.

    Returns the objects gc removed and whether ``writer`` had finished before the deletes.
    """
    objects = _engine_objects(store)
    real_delete = objects.delete
    finished: list[bool] = []

    def start_writer_then_delete(oids: Iterable[bytes]) -> None:
        writer.start()
        writer.join(wait)
        finished.append(not writer.is_alive())
        real_delete(oids)

    objects.delete = start_writer_then_delete  # type: ignore[method-assign]
    try:
        removed = store.gc(grace_seconds=0).objects_removed
    finally:
        del objects.delete
    assert len(finished) == 1, "gc deleted nothing, so no writer was started"
    return removed, finished[0]


def _in_thread(work: Callable[[], object]) -> None:
    """Run ``work`` to completion on another thread (as another request of a server would)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the commit did not finish"
    if failure:
        raise failure[0]


__all__ = ["IntegrityTests", "MaintenanceTests"]
