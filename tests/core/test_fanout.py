"""Large directories: the hash fan-out keeps commits O(log n) and the shape canonical."""

from __future__ import annotations

import random

import pytest

import artifactstore
from artifactstore.engine import LEAF_MAX, EngineStore
from artifactstore.engine.objects import PendingObjects
from artifactstore.engine.tree import TreeOps, is_fanout
from artifactstore.values import Delete, Put


@pytest.fixture
def store(request: pytest.FixtureRequest) -> EngineStore:
    s = artifactstore.open(f"artifactstore+memory://fanout-{request.node.name}")
    assert isinstance(s, EngineStore)
    return s


def _dir_tree(store: EngineStore, path: str) -> bytes:
    ops = TreeOps(PendingObjects(store.reader))
    item = ops.lookup_path(bytes(store.reader.commit(store.resolve_id(None)).tree), path)
    assert item is not None
    return item.sha


def test_large_directory_is_fanned_out_and_lists_logically(store: EngineStore) -> None:
    n = LEAF_MAX * 20
    store.commit([Put(f"runs/r{i:05d}", str(i).encode()) for i in range(n)])
    tree = store.reader.tree(_dir_tree(store, "runs"))
    assert is_fanout(tree)
    listing = store.list("runs")
    assert [e.path for e in listing] == [f"runs/r{i:05d}" for i in range(n)]
    assert store.read_bytes("runs/r01234") == b"1234"
    assert store.stat("runs/r00007").size == 1


def test_shape_is_a_function_of_the_contents(store: EngineStore) -> None:
    names = [f"f{i}" for i in range(LEAF_MAX * 3)]
    store.commit([Put(f"a/{n}", n.encode()) for n in names])
    rng = random.Random(7)
    order = names[:]
    rng.shuffle(order)
    # Build the same set on a branch one chunk at a time, with extra files added then removed.
    store.create_branch("b", rev=store.resolve())
    store.commit([Delete("a")], branch="b")
    for start in range(0, len(order), 50):
        store.commit([Put(f"a/{n}", n.encode()) for n in order[start : start + 50]], branch="b")
    store.commit([Put(f"a/extra{i}", b"x") for i in range(LEAF_MAX * 2)], branch="b")
    store.commit([Delete(f"a/extra{i}") for i in range(LEAF_MAX * 2)], branch="b")
    assert store.get_commit("b").tree == store.get_commit("main").tree
    assert store.diff("main", "b") == []


def test_shrinking_directory_collapses_back_to_a_plain_tree(store: EngineStore) -> None:
    store.commit([Put(f"d/{i}", b"x") for i in range(LEAF_MAX + 40)])
    assert is_fanout(store.reader.tree(_dir_tree(store, "d")))
    store.commit([Delete(f"d/{i}") for i in range(60)])
    tree = store.reader.tree(_dir_tree(store, "d"))
    assert not is_fanout(tree)
    assert len(tree) == LEAF_MAX - 20


def test_diff_across_a_fanned_out_directory_reports_only_changes(store: EngineStore) -> None:
    store.commit([Put(f"d/{i}", b"x") for i in range(LEAF_MAX * 10)])
    before = store.resolve()
    store.commit([Put("d/5", b"changed"), Put("d/new", b"n"), Delete("d/7")])
    changes = {(c.kind, c.path) for c in store.diff(before, "main")}
    assert changes == {("modified", "d/5"), ("added", "d/new"), ("deleted", "d/7")}


def test_case_collision_is_found_inside_a_fanned_out_directory(store: EngineStore) -> None:
    store.commit([Put(f"d/File{i}", b"x") for i in range(LEAF_MAX * 4)])
    head = store.resolve()
    with pytest.raises(artifactstore.InvalidPath, match="differs only by case"):
        store.put_bytes("d/FILE77", b"y")
    assert store.resolve() == head


def test_commit_writes_few_bytes_in_a_large_directory(store: EngineStore) -> None:
    """Bytes written per commit must not grow with the directory (the O(log n) promise)."""

    def bytes_for_one_commit(n: int, name: str) -> int:
        s = artifactstore.open(f"artifactstore+memory://fanout-bytes-{name}")
        assert isinstance(s, EngineStore)
        s.commit([Put(f"runs/run-{i:06d}/meta.yaml", b"id: %d\n" % i) for i in range(n)])
        before = {oid: len(data) for oid, (_, data, _) in s.objects.data.items()}  # type: ignore[attr-defined]
        s.put_bytes("runs/run-new/meta.yaml", b"id: new\n")
        after = s.objects.data  # type: ignore[attr-defined]
        return sum(len(data) for oid, (_, data, _) in after.items() if oid not in before)

    small = bytes_for_one_commit(100, "small")
    large = bytes_for_one_commit(20_000, "large")
    assert large <= 2 * small, (small, large)
