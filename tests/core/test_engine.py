"""Engine behaviour that the conformance suite cannot see from outside: retries, pointers."""

from __future__ import annotations

import threading

import pytest

import artifactstore
from artifactstore.backends.memory import MemoryStore
from artifactstore.engine import EngineStore, parse_pointer
from artifactstore.errors import Conflict, HeadMoved, InvalidPath, NotFound
from artifactstore.values import Delete, Put


@pytest.fixture
def store(request: pytest.FixtureRequest) -> MemoryStore:
    return MemoryStore(f"engine-{request.node.name}", inline_threshold=64)


def test_large_files_become_lfs_pointers_and_small_ones_inline(store: MemoryStore) -> None:
    store.commit([Put("small", b"s" * 64), Put("large", b"L" * 65)])
    tree = store.reader.tree(bytes(store.reader.commit(store.resolve_id(None)).tree))
    small = store.reader.blob(tree[b"small"][1]).as_raw_string()
    large = store.reader.blob(tree[b"large"][1]).as_raw_string()
    assert small == b"s" * 64
    info = parse_pointer(large)
    assert info is not None and info.size == 65
    assert large.startswith(b"version https://git-lfs.github.com/spec/v1\noid sha256:")
    assert store.read_bytes("large") == b"L" * 65


def test_a_small_file_that_looks_like_a_pointer_is_not_mistaken_for_one(store: MemoryStore) -> None:
    fake = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 3\n"
    store.put_bytes("pointer.txt", fake)
    assert store.read_bytes("pointer.txt") == fake


def test_commit_records_logical_and_new_bytes(store: MemoryStore) -> None:
    first = store.put_bytes("a", b"x" * 1000)
    second = store.put_bytes("b", b"x" * 1000)
    assert (first.logical_bytes, first.new_bytes) == (1000, 1000)
    assert (second.logical_bytes, second.new_bytes) == (1000, 0)
    assert store.get_commit().message == "put b"


def test_lost_race_is_reapplied_onto_the_new_head(store: MemoryStore) -> None:
    store.put_bytes("seed", b"0")
    real_cas = store.refs.compare_and_swap
    raced = threading.Event()

    def cas_losing_once(name: str, old: bytes | None, new: bytes | None) -> bool:
        if not raced.is_set():
            raced.set()
            other = MemoryStore(store.store_name, inline_threshold=64)
            other.put_bytes("theirs", b"t")
        return real_cas(name, old, new)

    store.refs.compare_and_swap = cas_losing_once  # type: ignore[method-assign]
    store.put_bytes("mine", b"m")
    assert store.read_bytes("theirs") == b"t"
    assert store.read_bytes("mine") == b"m"
    assert [c.message for c in store.log()] == ["put mine", "put theirs", "put seed"]


def test_same_path_changed_concurrently_is_a_conflict(store: MemoryStore) -> None:
    store.put_bytes("f", b"0")
    real_cas = store.refs.compare_and_swap
    state = {"raced": False}

    def cas(name: str, old: bytes | None, new: bytes | None) -> bool:
        if not state["raced"]:
            state["raced"] = True
            MemoryStore(store.store_name).put_bytes("f", b"theirs")
        return real_cas(name, old, new)

    store.refs.compare_and_swap = cas  # type: ignore[method-assign]
    with pytest.raises(Conflict) as info:
        store.put_bytes("f", b"mine")
    assert info.value.paths == ("f",)
    assert store.read_bytes("f") == b"theirs"


def test_expect_head(store: MemoryStore) -> None:
    first = store.commit([Put("a", b"1")], expect_head="")
    with pytest.raises(HeadMoved):
        store.commit([Put("a", b"2")], expect_head="")
    store.commit([Put("a", b"2")], expect_head=first.id)
    with pytest.raises(HeadMoved):
        store.commit([Put("a", b"3")], expect_head=first.id)
    assert store.read_bytes("a") == b"2"


def test_rejected_commits_store_nothing(store: MemoryStore) -> None:
    store.commit([Put("dir/file", b"1"), Put("file", b"2" * 100)])
    objects_before = set(store.objects.data)  # type: ignore[attr-defined]
    content_before = set(store.content.data)  # type: ignore[attr-defined]
    bad = [
        [Put("dir", b"x" * 100)],
        [Put("file/below", b"x" * 100)],
        [Put("DIR/x", b"x" * 100)],
        [Delete("missing")],
        [Put("new", b"y" * 100), Delete("missing")],
        [Put("a", b"1"), Put("a", b"2")],
    ]
    for changes in bad:
        with pytest.raises((InvalidPath, NotFound)):
            store.commit(changes)
    assert set(store.objects.data) == objects_before  # type: ignore[attr-defined]
    assert set(store.content.data) == content_before  # type: ignore[attr-defined]


def test_abbreviated_and_relative_revisions(store: MemoryStore) -> None:
    a = store.put_bytes("f", b"1")
    store.put_bytes("f", b"2")
    assert store.resolve(a.id[:10]) == a.id
    assert store.resolve("main~1") == a.id
    assert store.read_bytes("f", rev="main^") == b"1"


def test_engine_store_is_exported() -> None:
    assert artifactstore.EngineStore is EngineStore
    assert artifactstore.MemoryStore is MemoryStore
