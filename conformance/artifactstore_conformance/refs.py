"""Branches and tags: create, list, delete; isolation between branches; tags never move."""

from __future__ import annotations

import pytest

from artifactstore import AlreadyExists, ArtifactStore, NotFound

from .fixtures import StoreFixtures
from .helpers import tree_of


class BranchTests(StoreFixtures):
    """branches / create_branch / delete_branch, and writes on one branch never touching another."""

    def test_create_branch_at_the_default_head_and_at_a_revision(self, store: ArtifactStore) -> None:
        c1 = store.put_bytes("a", b"1").id
        c2 = store.put_bytes("a", b"2").id
        assert store.create_branch("exp") == c2
        assert store.create_branch("old", rev=c1) == c1
        assert store.create_branch("nested/name-1.0", rev="main~1") == c1
        assert store.branches() == {"main": c2, "exp": c2, "old": c1, "nested/name-1.0": c1}
        assert store.read_bytes("a", rev="old") == b"1"

    def test_branches_are_isolated(self, store: ArtifactStore) -> None:
        base = store.put_bytes("shared", b"base").id
        store.create_branch("exp")
        exp_head = store.put_bytes("exp-only", b"e", branch="exp").id
        store.put_bytes("shared", b"exp change", branch="exp")
        main_head = store.put_bytes("main-only", b"m").id
        assert tree_of(store, "main") == {"shared": b"base", "main-only": b"m"}
        assert tree_of(store, "exp") == {"shared": b"exp change", "exp-only": b"e"}
        assert store.get_commit(exp_head).parents == (base,)
        assert store.get_commit(main_head).parents == (base,)
        assert [c.id for c in store.log("main")] == [main_head, base]

    def test_delete_branch_keeps_its_commits_readable_by_id(self, store: ArtifactStore) -> None:
        store.put_bytes("a", b"1")
        store.create_branch("tmp")
        tip = store.put_bytes("t", b"tmp", branch="tmp").id
        store.delete_branch("tmp")
        assert "tmp" not in store.branches()
        assert store.read_bytes("t", rev=tip) == b"tmp"
        with pytest.raises(NotFound):
            store.resolve("tmp")
        with pytest.raises(NotFound, match="tmp"):
            store.delete_branch("tmp")

    def test_create_an_existing_branch_raises(self, store: ArtifactStore) -> None:
        store.put_bytes("a", b"1")
        store.create_branch("exp")
        head = store.put_bytes("a", b"2", branch="exp").id
        with pytest.raises(AlreadyExists, match="exp"):
            store.create_branch("exp")
        assert store.branches()["exp"] == head

    def test_a_branch_and_a_tag_cannot_share_a_name(self, store: ArtifactStore) -> None:
        # A revision must name one thing: "same" may not be a branch and a tag at once.
        c1 = store.put_bytes("a", b"1").id
        store.create_tag("same", rev=c1)
        with pytest.raises(AlreadyExists, match="same"):
            store.create_branch("same", rev=c1)
        store.create_branch("other", rev=c1)
        with pytest.raises(AlreadyExists, match="other"):
            store.create_tag("other")
        with pytest.raises(AlreadyExists, match="same"):
            store.put_bytes("b", b"2", branch="same")
        assert store.branches() == {"main": c1, "other": c1}
        assert store.tags() == {"same": c1}


class TagTests(StoreFixtures):
    """tags / create_tag / delete_tag; a tag never moves."""

    def test_create_list_and_delete_tags(self, store: ArtifactStore) -> None:
        c1 = store.put_bytes("a", b"1").id
        c2 = store.put_bytes("a", b"2").id
        assert store.create_tag("v1", rev=c1) == c1
        assert store.create_tag("v2") == c2
        assert store.create_tag("release/2024-01") == c2
        assert store.tags() == {"v1": c1, "v2": c2, "release/2024-01": c2}
        store.delete_tag("v2")
        assert store.tags() == {"v1": c1, "release/2024-01": c2}
        with pytest.raises(NotFound, match="v2"):
            store.delete_tag("v2")
        assert store.branches() == {"main": c2}, "tags are not branches"

    def test_a_tag_does_not_move_with_its_branch(self, store: ArtifactStore) -> None:
        c1 = store.put_bytes("a", b"1").id
        store.create_tag("v1")
        store.put_bytes("a", b"2")
        store.delete("a")
        assert store.resolve("v1") == c1
        assert store.read_bytes("a", rev="v1") == b"1"
        assert [c.id for c in store.log("v1")] == [c1]

    def test_create_an_existing_tag_raises(self, store: ArtifactStore) -> None:
        c1 = store.put_bytes("a", b"1").id
        store.create_tag("v1")
        store.put_bytes("a", b"2")
        with pytest.raises(AlreadyExists, match="v1"):
            store.create_tag("v1")
        assert store.tags() == {"v1": c1}

    def test_tag_of_a_missing_revision_raises(self, store: ArtifactStore) -> None:
        store.put_bytes("a", b"1")
        with pytest.raises(NotFound, match="nosuch"):
            store.create_tag("t", rev="nosuch")
        assert store.tags() == {}


__all__ = ["BranchTests", "TagTests"]
