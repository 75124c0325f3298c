"""Integrity (corrupted content and objects are detected) and maintenance (gc, fsck, stats)."""

from __future__ import annotations

import pytest

from artifactstore import ArtifactStore, IntegrityError, Put

from .fixtures import StoreFixtures
from .helpers import Corrupter, big_size, git_blob_id, hash_stream, seeded_bytes, sha256_hex, tree_of


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


__all__ = ["IntegrityTests", "MaintenanceTests"]
