"""The invariant checker itself: each invariant it claims to check can fail (memory backend)."""

from __future__ import annotations

import io

from artifactstore_conformance.invariants import check_invariants, inspect_store, is_staging_name

from artifactstore.backends.memory import MemoryStore
from artifactstore.values import Put


def _store() -> MemoryStore:
    store = MemoryStore.from_location("invariants-test", create=True)
    store.commit([Put("a/one.txt", b"one"), Put("b/two.bin", b"2" * 5000)], message="first")
    return store


def test_sound_store_has_no_problems() -> None:
    store = _store()
    head = store.resolve()
    report = inspect_store(store, [head])
    assert report.problems == []
    assert report.files_read == 2 and report.wrong_bytes == 0
    assert head in report.reachable_commits


def test_lost_acknowledged_commit_is_reported() -> None:
    store = _store()
    first = store.resolve()
    store.create_branch("side")
    lost = store.put_bytes("c.txt", b"c", branch="side").id
    store.delete_branch("side")
    problems = check_invariants(store, [first, lost])
    assert problems == [f"acknowledged commit {lost} is not reachable from any branch or tag"]


def test_staging_names_in_a_listing_are_reported() -> None:
    store = _store()
    store.put_bytes("models/.weights.bin.x1y2z3.part", b"half")
    problems = check_invariants(store)
    assert len(problems) == 1 and "staging name '.weights.bin.x1y2z3.part'" in problems[0]
    assert [n for n in ("main.lock", "tmp_obj_abc", ".0123abcd.xyz", "x.tmp", ":3f") if is_staging_name(n)] == [
        "main.lock",
        "tmp_obj_abc",
        ".0123abcd.xyz",
        "x.tmp",
        ":3f",
    ]
    assert not any(is_staging_name(n) for n in ("model.bin", "lockfile", "part", "tmp", "a.partial"))


class _LyingStore(MemoryStore):
    """Returns other bytes for one path without raising: what the checker exists to catch."""

    def open(self, path, *, rev=None):  # type: ignore[no-untyped-def,override]
        if path == "a/one.txt":
            return io.BytesIO(b"ONE")
        return super().open(path, rev=rev)


def test_wrong_bytes_are_counted_and_reported() -> None:
    store = _LyingStore.from_location("invariants-lying", create=True)
    store.commit([Put("a/one.txt", b"one"), Put("b/two.bin", b"2" * 5000)], message="first")
    report = inspect_store(store)
    assert report.wrong_bytes == 1
    assert len(report.problems) == 1 and report.problems[0].startswith("WRONG BYTES: 'a/one.txt'")


class _BrokenReads(MemoryStore):
    def open(self, path, *, rev=None):  # type: ignore[no-untyped-def,override]
        raise RuntimeError("a foreign error from some library")


def test_a_read_that_raises_anything_is_a_problem_not_a_crash() -> None:
    store = _BrokenReads.from_location("invariants-broken", create=True)
    store.put_bytes("x.txt", b"x")
    problems = check_invariants(store)
    assert problems == [f"'x.txt' at commit {store.resolve()[:12]} cannot be read: RuntimeError: a foreign error from some library"]
