"""Refs as git keeps them: loose files, packed-refs, compare-and-swap, ref-name clashes."""

from __future__ import annotations

import pytest
from artifactstore_git.refs import GitRefPort

from artifactstore.errors import AlreadyExists


def test_compare_and_swap_semantics(store) -> None:
    refs: GitRefPort = store.refs
    a = store.put_bytes("a.txt", b"1").id.encode()
    b = store.put_bytes("a.txt", b"2").id.encode()
    assert refs.compare_and_swap("refs/heads/x", None, a) is True
    assert refs.compare_and_swap("refs/heads/x", None, b) is False  # must not exist
    assert refs.compare_and_swap("refs/heads/x", b, a) is False  # wrong expected value
    assert refs.get("refs/heads/x") == a
    assert refs.compare_and_swap("refs/heads/x", a, b) is True
    assert refs.compare_and_swap("refs/heads/x", a, None) is False
    assert refs.compare_and_swap("refs/heads/x", b, None) is True
    assert refs.get("refs/heads/x") is None
    assert not (store.gitdir / "refs" / "heads" / "x").exists()
    assert not list((store.gitdir / "refs" / "heads").glob("*.lock"))


def test_packed_refs_are_read_updated_and_deleted(store, git) -> None:
    first = store.put_bytes("a.txt", b"1").id
    store.create_branch("exp/one")
    store.create_tag("v1")
    git(store.gitdir, "pack-refs", "--all")
    assert not (store.gitdir / "refs" / "heads" / "main").exists()
    assert "refs/heads/exp/one" in (store.gitdir / "packed-refs").read_text()
    assert store.branches() == {"main": first, "exp/one": first}
    assert store.tags() == {"v1": first}
    # Update over a packed value: a loose ref now overrides it, as in git.
    second = store.put_bytes("a.txt", b"2", branch="exp/one").id
    assert git(store.gitdir, "rev-parse", "exp/one").strip() == second
    # Delete a ref that is both loose and packed: git must not see the packed value come back.
    store.delete_branch("exp/one")
    assert "exp/one" not in git(store.gitdir, "show-ref")
    assert "refs/heads/exp/one" not in (store.gitdir / "packed-refs").read_text()
    store.delete_tag("v1")
    assert "v1" not in (store.gitdir / "packed-refs").read_text()
    assert store.branches() == {"main": first}
    assert git(store.gitdir, "fsck", "--full", "--no-dangling") == ""


def test_ref_and_ref_directory_of_one_name_are_refused(store) -> None:
    store.put_bytes("a.txt", b"1")
    store.create_branch("exp")
    with pytest.raises(AlreadyExists, match="'refs/heads/exp'"):
        store.create_branch("exp/sub")
    store.create_branch("team/run")
    with pytest.raises(AlreadyExists, match="team"):
        store.create_branch("team")
    assert set(store.branches()) == {"main", "exp", "team/run"}


def test_deleting_a_nested_branch_removes_its_empty_directory(store) -> None:
    store.put_bytes("a.txt", b"1")
    store.create_branch("team/run")
    store.delete_branch("team/run")
    assert not (store.gitdir / "refs" / "heads" / "team").exists()
    store.create_branch("team")  # the name is free again
    assert "team" in store.branches()


def test_branches_made_by_git_are_seen(store, git) -> None:
    first = store.put_bytes("a.txt", b"1").id
    git(store.gitdir, "branch", "from-git", "main")
    git(store.gitdir, "tag", "-a", "annotated", "-m", "an annotated tag", "main")
    assert store.branches()["from-git"] == first
    assert store.read_bytes("a.txt", rev="from-git") == b"1"
