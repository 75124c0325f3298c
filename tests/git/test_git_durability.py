"""The order of writes and barriers that makes a git commit durable.

A commit's loose objects are renamed into place without a barrier of their own; the
``syncfs(2)`` that makes the ref's lock file durable makes them durable too, before the ref
moves. Power loss is not simulated here: these tests check the order of the steps (through
our own ``sync_filesystem_of`` seam) and that an object name left with bad bytes, as a power
loss before that barrier could leave it, is never reused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from artifactstore_git import GitStore, locks
from artifactstore_git import objects as git_objects
from artifactstore_git import refs as git_refs
from dulwich.objects import Blob

pytestmark = pytest.mark.skipif(not locks.SYNCFS_AVAILABLE, reason="syncfs(2) exists only on Linux")


def _loose_ids(gitdir: Path) -> set[str]:
    root = gitdir / "objects"
    return {d.name + f.name for d in root.iterdir() if len(d.name) == 2 for f in d.iterdir() if len(f.name) == 38}


def test_one_filesystem_barrier_per_commit_after_the_objects_and_before_the_ref_moves(tmp_path, monkeypatch) -> None:
    store = GitStore(tmp_path / "repo", create=True)
    first = store.put_bytes("a.txt", b"one")
    gitdir = store.layout.commondir
    ref_file = gitdir / "refs" / "heads" / "main"
    seen: list[tuple[str, set[str]]] = []
    real_sync = locks.sync_filesystem_of

    def spy(fd: int, *, what: str) -> None:
        seen.append((ref_file.read_text().strip(), _loose_ids(gitdir)))
        real_sync(fd, what=what)

    barriers: list[Path] = []
    monkeypatch.setattr(locks, "sync_filesystem_of", spy)
    monkeypatch.setattr(git_objects, "filesystem_barrier", lambda path: barriers.append(path) or True)

    second = store.put_bytes("dir/b.txt", b"two")

    assert barriers == []  # the object batch took no barrier of its own
    assert len(seen) == 1  # one syncfs for the whole commit
    ref_at_sync, objects_at_sync = seen[0]
    assert ref_at_sync == first.id  # taken before the ref moved
    dir_tree = store.tree_ops().lookup_path(second.tree.encode(), "dir")
    assert dir_tree is not None
    # ... and after every object of the new commit was in place under its name.
    assert {second.id, second.tree, dir_tree.sha.decode()} <= objects_at_sync
    assert ref_file.read_text().strip() == second.id


def test_the_ref_rename_becomes_durable_after_the_writer_lock_is_let_go_and_before_the_commit_returns(
    tmp_path, monkeypatch
) -> None:
    store = GitStore(tmp_path / "repo", create=True)
    store.put_bytes("a.txt", b"one")
    heads = store.layout.commondir / "refs" / "heads"
    events: list[str] = []
    real_lock, real_fsync_dir = git_refs.writer_lock, locks.fsync_path

    @contextlib.contextmanager
    def watched_lock(gitdir: Path, name: str, *, timeout: float) -> Iterator[None]:
        with real_lock(gitdir, name, timeout=timeout):
            events.append(f"locked {name}")
            yield
        events.append(f"released {name}")

    def watched_fsync_dir(path: Path) -> None:
        events.append(f"fsync {path.relative_to(store.layout.commondir)}")
        real_fsync_dir(path)

    monkeypatch.setattr(git_refs, "writer_lock", watched_lock)
    monkeypatch.setattr(git_refs, "fsync_path", watched_fsync_dir)
    monkeypatch.setattr(locks, "fsync_path", watched_fsync_dir)

    second = store.put_bytes("b.txt", b"two")
    events.append("returned")

    assert events == ["locked refs/heads/main", "released refs/heads/main", "fsync refs/heads", "returned"]
    assert (heads / "main").read_text().strip() == second.id
    # A swap outside the writer lock (a new branch) is durable before compare_and_swap returns.
    events.clear()
    store.create_branch("exp", rev=second.id)
    assert events == ["fsync refs/heads"]


def test_an_object_name_holding_bad_bytes_is_rewritten_not_reused(tmp_path, caplog) -> None:
    store = GitStore(tmp_path / "repo", create=True, inline_threshold=1024)
    store.put_bytes("a.txt", b"hello")
    blob_id = Blob.from_string(b"hello").id.decode()
    path = store.layout.commondir / "objects" / blob_id[:2] / blob_id[2:]
    os.chmod(path, 0o644)
    path.write_bytes(b"\0" * 20)  # what a power loss may leave under a name not yet synced

    with caplog.at_level(logging.WARNING, logger="artifactstore_git.objects"):
        store.put_bytes("b.txt", b"hello")  # the same blob again: found present, but damaged

    assert zlib.decompress(path.read_bytes()) == b"blob 5\0hello"
    assert f"object {blob_id}" in caplog.text and "rewriting it" in caplog.text
    assert store.read_bytes("a.txt") == b"hello" and store.read_bytes("b.txt") == b"hello"


def test_an_intact_object_is_freshened_not_rewritten(tmp_path) -> None:
    store = GitStore(tmp_path / "repo", create=True, inline_threshold=1024)
    store.put_bytes("a.txt", b"hello")
    blob_id = Blob.from_string(b"hello").id.decode()
    path = store.layout.commondir / "objects" / blob_id[:2] / blob_id[2:]
    inode = path.stat().st_ino
    os.utime(path, (1_000_000_000, 1_000_000_000))

    store.put_bytes("b.txt", b"hello")

    assert path.stat().st_ino == inode  # the same file: never replaced under a durable ref
    assert path.stat().st_mtime > 1_000_000_000  # but its gc grace period starts again
