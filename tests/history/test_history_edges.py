"""Edge cases on the memory backend (the same code runs on every backend): summaries, expire --path, CLI."""

from __future__ import annotations

import json
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import artifactstore
import artifactstore.engine.commits as engine_commits
from artifactstore import Put
from artifactstore.backends.memory import forget
from artifactstore.cli import main
from artifactstore.expire import expire, parse_duration
from artifactstore.summaries import diff_summaries

from .test_history_backends import CSV_NEW, CSV_OLD, MLMODEL_NEW, MLMODEL_OLD


@pytest.fixture
def uri() -> Iterator[str]:
    name = f"hist-{uuid.uuid4().hex[:10]}"
    yield f"artifactstore+memory://{name}"
    forget(name)


@pytest.fixture
def mem(uri: str) -> artifactstore.ArtifactStore:
    return artifactstore.open(uri)


def run(*args: str, expect: int = 0) -> str:
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == expect, result.output + result.stderr
    return result.stdout if expect == 0 else result.stderr


def table_of(store: artifactstore.ArtifactStore, old: bytes, new: bytes, name: str = "t.csv", **kw: object):  # type: ignore[no-untyped-def]
    store.put_bytes(name, old)
    first = store.resolve()
    store.put_bytes(name, new)
    [summary] = diff_summaries(store, first, "main", **kw)  # type: ignore[arg-type]
    return summary


def test_without_a_unique_key_rows_are_compared_whole(mem: artifactstore.ArtifactStore) -> None:
    summary = table_of(mem, b"g,v\na,1\na,2\nb,3\n", b"g,v\na,1\nb,3\nb,4\nc,5\n")
    t = summary.table
    assert t is not None and t.key is None
    assert (t.rows_added, t.rows_removed, t.rows_changed) == (2, 1, None)
    assert any("not unique" in note for note in t.notes)


def test_explicit_key_and_tsv(mem: artifactstore.ArtifactStore) -> None:
    summary = table_of(mem, b"x\trun_id\n1\tr1\n2\tr2\n", b"x\trun_id\n5\tr1\n2\tr2\n", name="t.tsv", key="run_id")
    t = summary.table
    assert t is not None and t.key == "run_id" and (t.rows_added, t.rows_removed, t.rows_changed) == (0, 0, 1)
    with pytest.raises(artifactstore.InvalidInput, match="'nope'"):
        diff_summaries(mem, "main~1", "main", key="nope")


def test_row_limit_falls_back_to_counts(mem: artifactstore.ArtifactStore) -> None:
    summary = table_of(mem, CSV_OLD, CSV_NEW, row_limit=2)
    t = summary.table
    assert t is not None and (t.rows_old, t.rows_new) == (3, 3)
    assert t.rows_added is None and t.rows_changed is None
    assert any("row comparison skipped" in n for n in t.notes)


def test_unparseable_files_fall_back_to_size_and_hash(mem: artifactstore.ArtifactStore) -> None:
    summary = table_of(mem, b'{"a": 1}', b"{not json", name="m.json")
    assert summary.kind == "binary" and summary.notes and "JSON" in summary.notes[0]
    giant_field = b'a,b\n1,"' + b"x" * 200_000 + b'"\n'  # above the csv module's field size limit
    summary = table_of(mem, b"a,b\n1,2\n", giant_field, name="x.csv")
    assert summary.kind == "binary" and "field larger than field limit" in summary.notes[0]


def test_expire_path_removes_it_only_from_expired_commits(
    mem: artifactstore.ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = time.time() - 10 * 86400
    fake = types.ModuleType("time")
    fake.__dict__.update(time.__dict__)
    fake.time = lambda: old  # type: ignore[attr-defined]
    monkeypatch.setattr(engine_commits, "time", fake)
    mem.commit([Put("runs/a/log.txt", b"a-log"), Put("keep.txt", b"k")])
    mem.put_bytes("runs/b/log.txt", b"b-log")
    monkeypatch.setattr(engine_commits, "time", time)
    mem.put_bytes("new.txt", b"n")
    head_files = {e.path for e in mem.list("", recursive=True)}

    report = expire(mem, older_than=parse_duration("1d"), path="runs")

    assert report.commits_dropped == 0 and report.commits_rewritten == 3
    assert report.inline_bytes == 0  # runs/ is still in the kept head, so nothing is freed
    assert {e.path for e in mem.list("", recursive=True)} == head_files
    assert [sorted(e.path for e in mem.list("", rev=c.id, recursive=True)) for c in list(mem.log())[1:]] == [
        ["keep.txt"],
        ["keep.txt"],
    ]
    with pytest.raises(artifactstore.InvalidInput, match="'90x'"):
        parse_duration("90x")


def test_cli_diff_show_compare_export_expire(uri: str, mem: artifactstore.ArtifactStore, tmp_path: Path) -> None:
    mem.commit([Put("t.csv", CSV_OLD), Put("model/MLmodel", MLMODEL_OLD), Put("m.json", b'{"mae": 0.3}')])
    mem.create_tag("v1")
    mem.commit([Put("t.csv", CSV_NEW), Put("model/MLmodel", MLMODEL_NEW), Put("m.json", b'{"mae": 0.2}')])

    text = run("diff", uri, "v1", "main")
    assert "rows 3 -> 3 (+1 -1 ~1 by id), +1 columns" in text
    assert "+ flavors.pytorch" in text and "- flavors.sklearn" in text and "~ mae: 0.3 -> 0.2" in text
    stat = run("diff", uri, "v1", "main", "--stat")
    assert "flavors" not in stat and "t.csv" in stat
    data = json.loads(run("diff", uri, "v1", "main", "--json"))
    kinds = {d["path"]: d["summary"]["kind"] for d in data}
    assert kinds == {"m.json": "structured", "model/MLmodel": "structured", "t.csv": "table"}
    assert {d["kind"] for d in data} == {"modified"}
    assert "M m.json" in run("show", uri, "main")
    table = json.loads(run("compare", uri, "m.json", "v1", "main", "--json"))
    assert table["values"]["mae"] == [0.3, 0.2]
    run("export", uri, str(tmp_path / "out"), "-r", "v1", "--no-progress")
    assert (tmp_path / "out" / "t.csv").read_bytes() == CSV_OLD
    error = run("export", uri, str(tmp_path / "out"), "-r", "main", expect=1)
    assert "not empty" in error and "--force" in error
    assert (tmp_path / "out" / "t.csv").read_bytes() == CSV_OLD  # nothing was written
    run("export", uri, str(tmp_path / "out"), "-r", "main", "--force")
    assert (tmp_path / "out" / "t.csv").read_bytes() == CSV_NEW
    dry = json.loads(run("expire", uri, "--before", "2100-01-01T00:00:00+00:00", "--dry-run", "--json"))
    assert dry["dry_run"] is True and dry["commits_expired"] == 2
    assert mem.resolve("v1") == mem.tags()["v1"]
    assert "duration" in run("expire", uri, "--older-than", "soon", expect=1)
