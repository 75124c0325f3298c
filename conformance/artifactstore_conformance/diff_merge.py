"""Diff (added / modified / deleted, prefix filter) and merge (fast-forward, three-way, conflict)."""

from __future__ import annotations

import pytest

from artifactstore import ArtifactStore, Conflict, Delete, NotFound, Put

from .fixtures import StoreFixtures
from .helpers import sha256_hex, tree_of


class DiffTests(StoreFixtures):
    """diff(a, b, prefix=): every changed file, sorted by path, with old and new entries."""

    def test_diff_reports_added_modified_and_deleted_files(self, store: ArtifactStore) -> None:
        a = store.commit([Put("keep", b"k"), Put("mod", b"old"), Put("gone", b"g"), Put("dir/x", b"x")]).id
        b = store.commit([Put("mod", b"new!"), Delete("gone"), Put("added", b"a"), Delete("dir")]).id
        changes = store.diff(a, b)
        assert [(c.kind, c.path) for c in changes] == [
            ("added", "added"),
            ("deleted", "dir/x"),
            ("deleted", "gone"),
            ("modified", "mod"),
        ]
        by_path = {c.path: c for c in changes}
        assert by_path["added"].old is None
        assert by_path["added"].new is not None
        assert by_path["added"].new.sha256 == sha256_hex(b"a")
        assert by_path["gone"].new is None
        assert by_path["gone"].old is not None
        assert by_path["gone"].old.size == 1
        modified = by_path["mod"]
        assert modified.old is not None
        assert modified.new is not None
        assert (modified.old.sha256, modified.new.sha256) == (sha256_hex(b"old"), sha256_hex(b"new!"))
        assert (modified.old.size, modified.new.size) == (3, 4)
        assert modified.old.kind == modified.new.kind == "file"

    def test_diff_is_directional(self, store: ArtifactStore) -> None:
        a = store.put_bytes("x", b"1").id
        b = store.put_bytes("y", b"2").id
        assert [(c.kind, c.path) for c in store.diff(a, b)] == [("added", "y")]
        assert [(c.kind, c.path) for c in store.diff(b, a)] == [("deleted", "y")]

    def test_diff_with_a_prefix_filters_to_that_directory(self, store: ArtifactStore) -> None:
        a = store.commit([Put("runs/1/m", b"1"), Put("runs/2/m", b"2"), Put("runs2/m", b"3"), Put("top", b"t")]).id
        b = store.commit([Put("runs/1/m", b"1b"), Put("runs/3/m", b"3"), Put("runs2/m", b"3b"), Put("top", b"t2")]).id
        assert [(c.kind, c.path) for c in store.diff(a, b, prefix="runs")] == [
            ("modified", "runs/1/m"),
            ("added", "runs/3/m"),
        ]
        assert [c.path for c in store.diff(a, b, prefix="runs/1")] == ["runs/1/m"]
        assert [c.path for c in store.diff(a, b, prefix="runs/1/m")] == ["runs/1/m"]
        assert store.diff(a, b, prefix="nowhere") == []
        assert [c.path for c in store.diff(a, b, prefix="")] == ["runs/1/m", "runs/3/m", "runs2/m", "top"]

    def test_diff_of_equal_revisions_is_empty(self, store: ArtifactStore) -> None:
        a = store.put_bytes("x", b"1").id
        store.create_branch("same")
        assert store.diff(a, a) == []
        assert store.diff("main", "same") == []

    def test_diff_between_branches_and_tags_and_to_the_default_head(self, store: ArtifactStore) -> None:
        store.put_bytes("x", b"1")
        store.create_tag("t")
        store.create_branch("exp")
        store.put_bytes("y", b"2", branch="exp")
        store.put_bytes("x", b"changed")
        assert [(c.kind, c.path) for c in store.diff("t", "exp")] == [("added", "y")]
        assert [(c.kind, c.path) for c in store.diff("exp", "main")] == [("modified", "x"), ("deleted", "y")]
        assert store.diff("exp") == store.diff("exp", "main")

    def test_a_file_replaced_by_a_directory_is_a_delete_and_adds(self, store: ArtifactStore) -> None:
        a = store.put_bytes("thing", b"file").id
        b = store.commit([Delete("thing"), Put("thing/inside", b"now a dir")]).id
        assert [(c.kind, c.path) for c in store.diff(a, b)] == [("deleted", "thing"), ("added", "thing/inside")]

    def test_diff_of_an_unknown_revision_raises(self, store: ArtifactStore) -> None:
        store.put_bytes("x", b"1")
        with pytest.raises(NotFound, match="nosuch"):
            store.diff("nosuch", "main")


class MergeTests(StoreFixtures):
    """merge(source, into=): fast-forward, three-way at tree level, Conflict naming the paths, already merged."""

    def test_fast_forward(self, store: ArtifactStore) -> None:
        store.put_bytes("a", b"1")
        store.create_branch("exp")
        tip = store.put_bytes("b", b"2", branch="exp").id
        merged = store.merge("exp", into="main")
        assert merged.id == tip
        assert store.resolve("main") == tip
        assert tree_of(store) == {"a": b"1", "b": b"2"}

    def test_three_way_merge_combines_both_sides(self, store: ArtifactStore) -> None:
        base = store.commit([Put("a", b"1"), Put("b", b"1"), Put("c", b"1"), Put("dir/x", b"1")]).id
        store.create_branch("exp")
        exp = store.commit([Put("a", b"exp"), Delete("c"), Put("dir/y", b"exp")], branch="exp").id
        main = store.commit([Put("b", b"main"), Put("dir/z", b"main")]).id
        merged = store.merge("exp", into="main", message="merge exp")
        assert set(merged.parents) == {main, exp}
        assert merged.parents[0] == main, "the first parent is the branch merged into"
        assert merged.message == "merge exp"
        assert store.resolve("main") == merged.id
        assert store.resolve("exp") == exp, "the source branch does not move"
        assert tree_of(store) == {"a": b"exp", "b": b"main", "dir/x": b"1", "dir/y": b"exp", "dir/z": b"main"}
        assert base in [c.id for c in store.log()]

    def test_the_same_change_on_both_sides_is_no_conflict(self, store: ArtifactStore) -> None:
        store.put_bytes("a", b"1")
        store.create_branch("exp")
        store.commit([Put("a", b"same"), Put("e", b"e")], branch="exp")
        store.commit([Put("a", b"same"), Put("m", b"m")])
        store.merge("exp")
        assert tree_of(store) == {"a": b"same", "e": b"e", "m": b"m"}

    def test_conflict_names_every_conflicting_path_and_writes_nothing(self, store: ArtifactStore) -> None:
        store.commit([Put("a", b"1"), Put("b", b"1"), Put("d", b"1"), Put("ok", b"1")])
        store.create_branch("exp")
        store.commit([Put("a", b"exp"), Put("b", b"exp"), Delete("d")], branch="exp")
        head = store.commit([Put("a", b"main"), Put("b", b"main"), Put("d", b"main"), Put("ok", b"2")]).id
        before = store.branches()
        with pytest.raises(Conflict) as info:
            store.merge("exp", into="main")
        assert sorted(info.value.paths) == ["a", "b", "d"]
        for path in ("a", "b", "d"):
            assert path in str(info.value)
        assert store.branches() == before
        assert store.resolve() == head
        report = store.gc(dry_run=True, grace_seconds=0)
        assert (report.objects_removed, report.content_removed) == (0, 0), "a failed merge wrote objects"

    def test_already_merged_returns_the_current_head(self, store: ArtifactStore) -> None:
        store.put_bytes("a", b"1")
        store.create_branch("exp")
        head = store.put_bytes("b", b"2").id
        assert store.merge("exp", into="main").id == head
        assert store.resolve() == head
        store.merge("exp")
        assert next(c.id for c in store.log()) == head
        assert store.merge("main", into="main").id == head

    def test_merge_a_tag_or_commit_id_and_into_another_branch(self, store: ArtifactStore) -> None:
        store.put_bytes("a", b"1")
        store.create_branch("target")
        c2 = store.put_bytes("b", b"2").id
        store.create_tag("rel")
        store.put_bytes("c", b"3")
        assert store.merge("rel", into="target").id == c2
        store.put_bytes("t", b"t", branch="target")
        merged = store.merge(c2, into="target")
        assert store.resolve("target") == merged.id
        assert tree_of(store, "target") == {"a": b"1", "b": b"2", "t": b"t"}

    def test_merge_of_an_unknown_source_raises(self, store: ArtifactStore) -> None:
        head = store.put_bytes("a", b"1").id
        with pytest.raises(NotFound, match="nosuch"):
            store.merge("nosuch")
        assert store.resolve() == head


__all__ = ["DiffTests", "MergeTests"]
