"""Writes: commit with puts and deletes, expect_head, put_file / put_bytes / upload_dir / delete."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from artifactstore import ArtifactStore, Delete, HeadMoved, NotFound, Put

from .fixtures import StoreFixtures
from .helpers import ChunkStream, hash_stream, tree_of


class CommitTests(StoreFixtures):
    """Every write is exactly one commit on one branch."""

    def test_first_commit_creates_the_default_branch(self, store: ArtifactStore) -> None:
        commit = store.put_bytes("a.txt", b"hello", message="first")
        assert store.branches() == {store.default_branch: commit.id}
        assert commit.parents == ()
        assert commit.message == "first"
        assert store.resolve() == commit.id

    def test_commit_applies_puts_from_bytes_paths_and_streams_as_one_commit(self, store: ArtifactStore, tmp_path: Path) -> None:
        base = store.put_bytes("keep", b"k").id
        local = tmp_path / "local.bin"
        local.write_bytes(b"from a path")
        commit = store.commit(
            [
                Put("bytes.bin", b"from bytes"),
                Put("bytearray.bin", bytearray(b"from bytearray")),
                Put("path.bin", str(local)),
                Put("pathlike.bin", local),
                Put("stream.bin", io.BytesIO(b"from a stream")),
            ],
            message="five puts",
        )
        assert commit.parents == (base,)
        assert [c.id for c in store.log()] == [commit.id, base]
        assert tree_of(store) == {
            "keep": b"k",
            "bytes.bin": b"from bytes",
            "bytearray.bin": b"from bytearray",
            "path.bin": b"from a path",
            "pathlike.bin": b"from a path",
            "stream.bin": b"from a stream",
        }

    def test_put_from_a_non_seekable_stream(self, store: ArtifactStore) -> None:
        stream = ChunkStream(100_000, seed=3, chunk=4096)
        store.put_file("streamed.bin", stream.as_binary())
        expected = stream.sha256.hexdigest()
        with store.open("streamed.bin") as f:
            assert hash_stream(f) == (expected, 100_000)
        assert store.stat("streamed.bin").sha256 == expected

    def test_put_replaces_a_file(self, store: ArtifactStore) -> None:
        old = store.put_bytes("a", b"old").id
        store.put_bytes("a", b"new")
        assert store.read_bytes("a") == b"new"
        assert store.read_bytes("a", rev=old) == b"old"

    def test_put_file_put_bytes_upload_dir_and_delete_each_make_one_commit(self, store: ArtifactStore, tmp_path: Path) -> None:
        src = tmp_path / "src"
        (src / "sub" / "deeper").mkdir(parents=True)
        (src / "a.txt").write_bytes(b"a")
        (src / "sub" / "b.txt").write_bytes(b"b")
        (src / "sub" / "deeper" / "c.txt").write_bytes(b"c")
        local = tmp_path / "single.bin"
        local.write_bytes(b"single")
        c1 = store.put_file("single.bin", local)
        c2 = store.put_file("from-stream.bin", io.BytesIO(b"s"))
        c3 = store.put_bytes("bytes.bin", b"raw")
        c4 = store.upload_dir(src, "uploaded", message="upload three")
        c5 = store.upload_dir(src)
        c6 = store.delete("uploaded/sub")
        assert [c.id for c in store.log()] == [c.id for c in (c6, c5, c4, c3, c2, c1)]
        assert c4.message == "upload three"
        assert [e.path for e in store.list("uploaded", rev=c4.id, recursive=True)] == [
            "uploaded/a.txt",
            "uploaded/sub/b.txt",
            "uploaded/sub/deeper/c.txt",
        ]
        assert store.read_bytes("sub/deeper/c.txt") == b"c"
        assert [e.path for e in store.list("uploaded", recursive=True)] == ["uploaded/a.txt"]
        assert store.read_bytes("single.bin") == b"single"
        assert store.read_bytes("from-stream.bin") == b"s"

    def test_delete_a_file_keeps_it_in_history(self, store: ArtifactStore) -> None:
        c1 = store.commit([Put("a", b"1"), Put("b", b"2")]).id
        c2 = store.delete("a", message="drop a")
        assert c2.parents == (c1,)
        assert c2.message == "drop a"
        assert not store.exists("a")
        assert store.read_bytes("a", rev=c1) == b"1"
        assert tree_of(store) == {"b": b"2"}

    def test_delete_a_directory_removes_everything_below_it(self, store: ArtifactStore) -> None:
        c1 = store.commit([Put("d/x", b"1"), Put("d/e/y", b"2"), Put("dd", b"3"), Put("d2/z", b"4")]).id
        store.delete("d")
        assert tree_of(store) == {"dd": b"3", "d2/z": b"4"}
        assert not store.exists("d")
        assert tree_of(store, c1)["d/e/y"] == b"2"

    def test_deleting_the_last_file_removes_empty_parents(self, store: ArtifactStore) -> None:
        store.commit([Put("a/b/c/only", b"1"), Put("top", b"2")])
        store.delete("a/b/c/only")
        assert not store.exists("a")
        assert [e.path for e in store.list("")] == ["top"]

    def test_commit_with_puts_and_deletes(self, store: ArtifactStore) -> None:
        store.commit([Put("a", b"1"), Put("dir/b", b"2"), Put("dir/c", b"3")])
        commit = store.commit([Delete("dir/b"), Put("dir/d", b"4"), Put("a", b"5"), Delete("dir/c")])
        assert tree_of(store) == {"a": b"5", "dir/d": b"4"}
        assert len(commit.parents) == 1

    def test_delete_and_put_of_the_same_directory_in_one_commit(self, store: ArtifactStore) -> None:
        store.commit([Put("out/old1", b"1"), Put("out/old2", b"2")])
        store.commit([Delete("out"), Put("out/new", b"3")])
        assert tree_of(store) == {"out/new": b"3"}

    def test_expect_head_guards_a_commit(self, store: ArtifactStore) -> None:
        first = store.commit([Put("a", b"1")], expect_head="")
        second = store.commit([Put("a", b"2")], expect_head=first.id)
        assert second.parents == (first.id,)
        with pytest.raises(HeadMoved):
            store.commit([Put("a", b"3")], expect_head=first.id)
        with pytest.raises(HeadMoved):
            store.commit([Put("a", b"3")], expect_head="")
        assert store.resolve() == second.id
        assert store.read_bytes("a") == b"2"

    def test_expect_head_empty_creates_a_new_branch(self, store: ArtifactStore) -> None:
        store.put_bytes("a", b"1")
        new = store.commit([Put("b", b"2")], branch="fresh", expect_head="")
        assert store.branches()["fresh"] == new.id
        assert store.read_bytes("b", rev="fresh") == b"2"

    def test_commit_to_a_missing_branch_creates_it(self, store: ArtifactStore) -> None:
        main = store.put_bytes("a", b"1").id
        created = store.put_bytes("b", b"2", branch="new-branch")
        assert store.branches() == {"main": main, "new-branch": created.id}
        assert store.read_bytes("b", rev="new-branch") == b"2"
        assert not store.exists("b")

    def test_author_and_message_are_recorded(self, store: ArtifactStore) -> None:
        commit = store.put_bytes("a", b"1", message="line one\n\nbody", author="Grace <grace@example.com>")
        got = store.get_commit(commit.id)
        assert got.message.rstrip("\n") == "line one\n\nbody"
        assert "Grace" in got.author
        assert "grace@example.com" in got.author

    def test_default_messages_name_the_path(self, store: ArtifactStore) -> None:
        assert "a.txt" in store.put_bytes("a.txt", b"1").message
        assert "a.txt" in store.delete("a.txt").message

    def test_missing_delete_target_raises_and_writes_nothing(self, store: ArtifactStore) -> None:
        head = store.put_bytes("a", b"1").id
        with pytest.raises(NotFound, match="missing"):
            store.commit([Put("b", b"2"), Delete("missing")])
        assert store.resolve() == head
        assert not store.exists("b")


__all__ = ["CommitTests"]
