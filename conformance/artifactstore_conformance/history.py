"""Time travel and history: reads at old revisions, log, resolve, get_commit."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from artifactstore import ArtifactStore, Delete, NotFound, Put

from .fixtures import StoreFixtures
from .helpers import big_size, seeded_bytes


class TimeTravelTests(StoreFixtures):
    """A file and a listing read at an old commit stay as they were after later writes, deletes and branch moves."""

    def test_old_commit_reads_survive_later_writes_deletes_and_branch_moves(self, store: ArtifactStore, tmp_path: Path) -> None:
        c1 = store.commit([Put("model.bin", b"v1"), Put("runs/a/metrics", b"a1"), Put("runs/b/metrics", b"b1")], message="one").id
        store.create_branch("exp")
        store.create_tag("v1")
        c2 = store.put_bytes("model.bin", b"v2").id
        c3 = store.delete("runs/a").id
        store.put_bytes("runs/c/metrics", b"c1", branch="exp")
        store.merge("exp", into="main")
        store.delete_branch("exp")
        store.put_bytes("model.bin", b"v3")

        assert store.read_bytes("model.bin", rev=c1) == b"v1"
        assert store.read_bytes("model.bin", rev=c2) == b"v2"
        assert store.read_bytes("model.bin", rev="v1") == b"v1"
        assert store.read_bytes("model.bin") == b"v3"
        assert store.read_bytes("runs/a/metrics", rev=c2) == b"a1"
        assert not store.exists("runs/a", rev=c3)
        assert store.exists("runs/a", rev=c1)
        assert [e.path for e in store.list("runs", rev=c1)] == ["runs/a", "runs/b"]
        assert [e.path for e in store.list("runs", rev=c3)] == ["runs/b"]
        assert [e.path for e in store.list("runs")] == ["runs/b", "runs/c"]
        assert [e.path for e in store.list("", rev="v1", recursive=True)] == [
            "model.bin",
            "runs/a/metrics",
            "runs/b/metrics",
        ]
        assert store.stat("model.bin", rev=c1).size == 2
        out = store.download("runs", tmp_path / "old", rev=c1)
        assert (out / "a" / "metrics").read_bytes() == b"a1"

    def test_relative_revisions(self, store: ArtifactStore) -> None:
        ids = [store.put_bytes("f", str(i).encode()).id for i in range(4)]
        assert store.resolve("main") == ids[3]
        assert store.resolve("main~1") == ids[2]
        assert store.resolve("main^") == ids[2]
        assert store.resolve("main~2") == ids[1]
        assert store.resolve("main^^^") == ids[0]
        assert store.resolve(f"{ids[3]}~3") == ids[0]
        assert store.read_bytes("f", rev="main~2") == b"1"
        store.create_tag("t", rev=ids[2])
        assert store.resolve("t~1") == ids[1]
        with pytest.raises(NotFound):
            store.resolve("main~4")

    def test_reads_at_a_branch_see_only_that_branch(self, store: ArtifactStore) -> None:
        store.put_bytes("shared", b"base")
        store.create_branch("exp")
        store.put_bytes("only-exp", b"e", branch="exp")
        store.put_bytes("shared", b"main-change")
        assert store.read_bytes("shared", rev="exp") == b"base"
        assert store.exists("only-exp", rev="exp")
        assert not store.exists("only-exp")
        assert [e.path for e in store.list("", rev="exp", recursive=True)] == ["only-exp", "shared"]


class HistoryTests(StoreFixtures):
    """log (with path and limit), resolve, get_commit."""

    def test_log_is_newest_first_and_honours_limit(self, store: ArtifactStore) -> None:
        ids = [store.put_bytes(f"f{i}", b"x", message=f"m{i}").id for i in range(5)]
        log = list(store.log())
        assert [c.id for c in log] == ids[::-1]
        assert [c.message for c in log] == [f"m{i}" for i in range(5)][::-1]
        assert [c.id for c in store.log(limit=2)] == ids[::-1][:2]
        assert [c.id for c in store.log("main~2")] == ids[2::-1]
        assert [c.id for c in store.log(limit=0)] == []

    def test_log_with_a_path_shows_only_commits_that_changed_it(self, store: ArtifactStore) -> None:
        a1 = store.put_bytes("a.txt", b"1").id
        store.put_bytes("dir/x", b"1")
        a2 = store.put_bytes("a.txt", b"2").id
        d2 = store.put_bytes("dir/sub/y", b"1").id
        store.put_bytes("other", b"1")
        d3 = store.delete("dir/x").id
        assert [c.id for c in store.log(path="a.txt")] == [a2, a1]
        dir_log = [c.id for c in store.log(path="dir")]
        assert len(dir_log) == 3
        assert dir_log[0] == d3
        assert dir_log[1] == d2
        assert [c.id for c in store.log(path="dir", limit=1)] == [d3]
        assert [c.id for c in store.log(path="dir/sub")] == [d2]

    def test_trailers_come_back_and_log_selects_by_them(self, store: ArtifactStore) -> None:
        run_a = {"MLflow-Run": "a" * 32, "MLflow-Artifact-Path": "model/MLmodel"}
        c1 = store.put_bytes("1/a/model/MLmodel", b"m", message="log MLmodel", trailers=run_a)
        c2 = store.commit([Put("1/b/x", b"x")], message="other run", trailers={"MLflow-Run": "b" * 32})
        c3 = store.put_bytes("1/a/metrics.json", b"{}", trailers={"mlflow-run": "a" * 32})
        c4 = store.put_bytes("plain", b"p", message="no trailers\n\nbut: a paragraph that reads like one")
        got = store.get_commit(c1.id)
        assert got.message == "log MLmodel"
        assert got.trailers == (("MLflow-Run", "a" * 32), ("MLflow-Artifact-Path", "model/MLmodel"))
        assert got.trailer("mlflow-run") == "a" * 32
        assert got.logical_bytes == 1, "the store's byte counts stay out of the trailers"
        assert c1.trailers == got.trailers
        assert [c.id for c in store.log(trailers={"MLflow-Run": "a" * 32})] == [c3.id, c1.id]
        assert [c.id for c in store.log(trailers={"mlflow-run": "b" * 32})] == [c2.id]
        assert [c.id for c in store.log(trailers={"MLflow-Run": "a" * 32}, limit=1)] == [c3.id]
        assert list(store.log(trailers={"MLflow-Run": "a" * 32, "MLflow-Artifact-Path": "nope"})) == []
        assert [c.id for c in store.log(path="1/a/model", trailers={"MLflow-Run": "a" * 32})] == [c1.id]
        plain = store.get_commit(c4.id)  # the caller's text stays text: the store's trailers follow it
        assert (plain.message, plain.trailers) == ("no trailers\n\nbut: a paragraph that reads like one", ())

    def test_log_of_a_deleted_file_keeps_its_history(self, store: ArtifactStore) -> None:
        c1 = store.put_bytes("gone.txt", b"here").id
        c2 = store.delete("gone.txt").id
        assert [c.id for c in store.log(path="gone.txt")] == [c2, c1]
        assert store.read_bytes("gone.txt", rev=c1) == b"here"

    def test_get_commit_describes_a_commit(self, store: ArtifactStore) -> None:
        before = datetime.now(timezone.utc) - timedelta(minutes=5)
        first = store.put_bytes("a", b"1", message="first", author="Ada <ada@example.com>")
        second = store.put_bytes("a", b"2", message="second")
        got = store.get_commit(second.id)
        assert got == second
        assert got.parents == (first.id,)
        assert store.get_commit(first.id).parents == ()
        assert store.get_commit().id == second.id
        assert store.get_commit("main~1").message == "first"
        assert "Ada" in store.get_commit(first.id).author
        assert got.time.tzinfo is not None
        assert before <= got.time <= datetime.now(timezone.utc) + timedelta(minutes=5)
        assert got.tree
        assert got.tree != store.get_commit(first.id).tree
        assert next(iter(store.log())) == got

    def test_resolve_accepts_branch_tag_and_commit_id(self, store: ArtifactStore) -> None:
        c1 = store.put_bytes("a", b"1").id
        c2 = store.put_bytes("a", b"2").id
        store.create_tag("rel", rev=c1)
        assert store.resolve() == c2
        assert store.resolve(None) == c2
        assert store.resolve("rel") == c1
        assert store.resolve(c1) == c1
        assert len(c1) == 40
        assert all(ch in "0123456789abcdef" for ch in c1)

    def test_resolve_of_unknown_revisions_raises_not_found(self, store: ArtifactStore) -> None:
        store.put_bytes("a", b"1")
        for rev in ("nosuch", "0" * 40, "deadbeef" * 5):
            with pytest.raises(NotFound, match=rev[:7]):
                store.resolve(rev)

    def test_commit_records_bytes_written(self, store: ArtifactStore) -> None:
        small = store.commit([Put("a", b"12345"), Put("b", b"678")])
        assert (small.logical_bytes, small.new_bytes) == (8, 8)
        big = seeded_bytes(big_size(store), seed=1)
        commit = store.commit([Put("big", big), Put("c", b"90")])
        assert (commit.logical_bytes, commit.new_bytes) == (len(big) + 2, len(big) + 2)
        assert store.get_commit(commit.id).logical_bytes == commit.logical_bytes
        again = store.commit([Put("big-copy", big), Put("a-copy", b"12345")])
        assert (again.logical_bytes, again.new_bytes) == (len(big) + 5, 0)
        deleted = store.commit([Delete("a")])
        assert deleted.logical_bytes is None
        assert deleted.new_bytes is None


__all__ = ["HistoryTests", "TimeTravelTests"]
