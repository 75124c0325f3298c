"""Issue 7 on every backend: content-aware diff, compare, export, fsspec and expire + gc."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import fsspec
import pandas as pd
import pytest

import artifactstore
from artifactstore import Put
from artifactstore.compare import compare_metrics
from artifactstore.expire import expire
from artifactstore.export import export
from artifactstore.summaries import diff_summaries

CSV_OLD = b"id,name,score\n1,alpha,0.5\n2,beta,0.7\n3,gamma,0.9\n"
# row 2 changed, row 3 removed, row 4 added, column "weight" added
CSV_NEW = b"id,name,score,weight\n1,alpha,0.5,1\n2,beta,0.8,2\n4,delta,0.1,3\n"

MLMODEL_OLD = b"""artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    python_version: 3.11.4
  sklearn:
    pickled_model: model.pkl
    sklearn_version: 1.3.0
run_id: 0123abcd
"""
MLMODEL_NEW = b"""artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.pytorch
    python_version: 3.11.4
  pytorch:
    model_data: data
    pytorch_version: 2.1.0
run_id: 0123abcd
"""


def big(store: artifactstore.ArtifactStore, seed: int, extra: int = 1000) -> bytes:
    """Random bytes just above the store's inline threshold, so they go to its content store."""
    threshold = getattr(store, "inline_threshold", 1024)
    return os.urandom(threshold + extra + seed)


def scheme_path(uri: str, rev: str, path: str) -> str:
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://{rest}@{rev}/{path}"


def test_csv_diff_counts_rows_by_key_and_new_column(store: artifactstore.ArtifactStore) -> None:
    store.put_bytes("data/table.csv", CSV_OLD)
    store.create_tag("before")
    store.put_bytes("data/table.csv", CSV_NEW)

    [summary] = diff_summaries(store, "before", "main")

    table = summary.table
    assert summary.kind == "table" and table is not None
    assert table.key == "id"
    assert (table.rows_old, table.rows_new) == (3, 3)
    assert (table.rows_added, table.rows_removed, table.rows_changed) == (1, 1, 1)
    assert table.columns_added == ("weight",)
    assert table.columns_removed == ()
    score = {c.name: c for c in table.columns}["score"]
    assert score.old is not None and score.new is not None
    assert score.old.count == score.new.count == 3
    assert score.old.mean == pytest.approx(0.7) and score.new.mean == pytest.approx(1.4 / 3)
    assert (score.old.min, score.old.max, score.new.min, score.new.max) == (0.5, 0.9, 0.1, 0.8)
    weight = {c.name: c for c in table.columns}["weight"]
    assert weight.old is None and weight.new is not None and weight.new.mean == 2.0
    assert "name" not in {c.name for c in table.columns}  # text columns get no statistics


def test_mlmodel_flavor_change_is_a_structured_diff(store: artifactstore.ArtifactStore) -> None:
    store.put_bytes("model/MLmodel", MLMODEL_OLD)
    first = store.resolve()
    store.put_bytes("model/MLmodel", MLMODEL_NEW)

    [summary] = diff_summaries(store, first, "main")

    assert summary.kind == "structured" and summary.structured is not None
    assert summary.structured.format == "yaml"
    changes = {c.path: c for c in summary.structured.changes}
    assert changes["flavors.sklearn"].kind == "removed"
    assert changes["flavors.pytorch"].kind == "added"
    assert changes["flavors.pytorch"].new == {"model_data": "data", "pytorch_version": "2.1.0"}
    loader = changes["flavors.python_function.loader_module"]
    assert (loader.kind, loader.old, loader.new) == ("changed", "mlflow.sklearn", "mlflow.pytorch")
    assert "run_id" not in changes and "artifact_path" not in changes


def test_binary_diff_reports_sizes_and_hashes(store: artifactstore.ArtifactStore) -> None:
    old, new = big(store, 1), big(store, 2)
    store.put_bytes("weights.bin", old)
    store.create_tag("v1")
    store.put_bytes("weights.bin", new)

    [summary] = diff_summaries(store, "v1", "main")

    assert summary.kind == "binary"
    b = summary.binary
    assert (b.old_size, b.new_size) == (len(old), len(new))
    assert b.old_sha256 == hashlib.sha256(old).hexdigest()
    assert b.new_sha256 == hashlib.sha256(new).hexdigest()


def test_compare_metrics_across_three_revisions(store: artifactstore.ArtifactStore) -> None:
    store.put_bytes("eval/metrics.json", json.dumps({"mae": 0.30, "val": {"acc": 0.90}}).encode())
    store.put_bytes("eval/errors.csv", b"id,abs_error\n1,0.2\n2,0.4\n")
    store.create_tag("baseline")
    store.create_branch("exp-1")
    store.commit(
        [
            Put("eval/metrics.json", json.dumps({"mae": 0.20, "val": {"acc": 0.95}}).encode()),
            Put("eval/errors.csv", b"id,abs_error\n1,0.1\n2,0.1\n3,0.4\n"),
        ],
        branch="exp-1",
    )
    store.put_bytes("eval/metrics.json", json.dumps({"mae": 0.25, "val": {"acc": 0.91}}).encode())
    revisions = ["baseline", "main", "exp-1"]

    table = compare_metrics(store, "eval/metrics.json", revisions)

    assert table.metrics == ("mae", "val.acc")
    assert table.values["mae"] == (0.30, 0.25, 0.20)
    assert table.value("val.acc", "exp-1") == 0.95
    assert table.commits == tuple(store.resolve(r) for r in revisions)
    errors = compare_metrics(store, "eval/errors.csv", revisions, reduce="mean")
    assert errors.values["abs_error"] == pytest.approx((0.3, 0.3, 0.2))
    last = compare_metrics(store, "eval/errors.csv", revisions)
    assert last.values["abs_error"] == (0.4, 0.4, 0.4) and last.values["id"] == (2, 2, 3)


def test_export_of_old_revision_is_byte_identical(store: artifactstore.ArtifactStore, tmp_path: Path) -> None:
    files = {"a.txt": b"first\n", "data/big.bin": big(store, 3), "data/nested/t.csv": CSV_OLD}
    store.commit([Put(p, d) for p, d in files.items()], message="original")
    old = store.resolve()
    store.commit([Put("a.txt", b"second\n"), Put("data/big.bin", big(store, 4)), Put("new.txt", b"x")])

    report = export(store, tmp_path / "out", rev=old)

    exported = {p.relative_to(tmp_path / "out").as_posix(): p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert exported == files
    assert (report.commit, report.files, report.bytes) == (old, 3, sum(map(len, files.values())))
    export(store, tmp_path / "sub", rev=old, path="data/nested")
    assert (tmp_path / "sub" / "t.csv").read_bytes() == CSV_OLD
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["t.csv"]


def test_pandas_reads_a_csv_at_two_revisions(store: artifactstore.ArtifactStore, store_uri: str) -> None:
    store.put_bytes("data/table.csv", CSV_OLD)
    first = store.resolve()
    store.create_branch("exp-1")
    store.put_bytes("data/table.csv", CSV_NEW, branch="exp-1")

    before = pd.read_csv(scheme_path(store_uri, first, "data/table.csv"))
    after = pd.read_csv(scheme_path(store_uri, "exp-1", "data/table.csv"))
    previous = pd.read_csv(scheme_path(store_uri, "exp-1~1", "data/table.csv"))

    assert list(before.columns) == ["id", "name", "score"] and before["id"].tolist() == [1, 2, 3]
    assert list(after.columns) == ["id", "name", "score", "weight"] and after["id"].tolist() == [1, 2, 4]
    assert previous.equals(before)
    fs, path = fsspec.core.url_to_fs(scheme_path(store_uri, "exp-1", "data"))
    assert [Path(n).name for n in fs.ls(path, detail=False)] == ["table.csv"]
    assert fs.info(path + "/table.csv")["sha256"] == hashlib.sha256(CSV_NEW).hexdigest()


def test_fsspec_transaction_is_one_commit(store: artifactstore.ArtifactStore, store_uri: str) -> None:
    store.put_bytes("seed.txt", b"seed")
    fs, _ = fsspec.core.url_to_fs(store_uri)
    before = store.resolve()
    with fs.start_transaction(message="evaluation run"):
        fs.pipe(scheme_path(store_uri, "main", "eval/m.json"), b'{"mae": 1}')
        pd.DataFrame({"id": [1, 2]}).to_csv(scheme_path(store_uri, "main", "eval/preds.csv"), index=False)
        assert store.resolve() == before  # nothing is committed before the transaction ends

    head = store.get_commit()
    assert head.parents == (before,) and head.message == "evaluation run"
    assert store.read_bytes("eval/preds.csv") == b"id\n1\n2\n"
    assert store.read_bytes("eval/m.json") == b'{"mae": 1}'


def test_expire_then_gc_frees_exactly_the_unshared_content(
    store: artifactstore.ArtifactStore, clock: Callable[[float | None], None]
) -> None:
    long_ago = time.time() - 30 * 86400
    only_old, shared, replaced_later = big(store, 5), big(store, 6), big(store, 7)
    clock(long_ago)
    store.commit([Put("runs/1/model.bin", only_old), Put("shared.bin", shared), Put("notes.txt", b"v1")], message="run 1")
    store.commit([Put("runs/1/model.bin", replaced_later)], message="run 1 retrained")  # only_old is now history only
    store.create_tag("old-tag")  # points at an expired commit: it keeps its files, not its history
    clock(long_ago + 3600)
    store.create_branch("exp")
    store.put_bytes("notes.txt", b"v2", message="notes")
    clock(None)
    store.put_bytes("runs/2/model.bin", big(store, 8), message="run 2")
    store.put_bytes("exp.txt", b"exp", branch="exp")
    refs = {**store.branches(), **store.tags()}
    contents = {
        name: {e.path: store.read_bytes(e.path, rev=name) for e in store.list("", rev=name, recursive=True)} for name in refs
    }
    sha_only_old = hashlib.sha256(only_old).hexdigest()

    cutoff = datetime.fromtimestamp(long_ago + 7 * 86400, timezone.utc)
    dry = expire(store, before=cutoff, dry_run=True)
    assert {**store.branches(), **store.tags()} == refs  # a dry run moves nothing
    assert (dry.content_freed, dry.content_bytes) == (1, len(only_old))
    assert dry.inline_bytes == 0  # notes.txt "v1" is still in the tagged commit's tree
    stored_before = {sha for sha, _, _ in store.content.iter_ids()}  # type: ignore[attr-defined]
    report = expire(store, before=cutoff)
    assert (report.content_freed, report.content_bytes, report.inline_bytes) == (1, len(only_old), 0)
    assert set(report.refs) == {"refs/heads/main", "refs/heads/exp", "refs/tags/old-tag"}
    gc = store.gc(grace_seconds=0)

    assert gc.content_removed == 1
    stored_after = {sha for sha, _, _ in store.content.iter_ids()}  # type: ignore[attr-defined]
    assert stored_before - stored_after == {sha_only_old}
    assert hashlib.sha256(shared).hexdigest() in stored_after
    for name in refs:
        now = {e.path: store.read_bytes(e.path, rev=name) for e in store.list("", rev=name, recursive=True)}
        assert now == contents[name], f"{name} reads back differently after expire + gc"
    assert store.fsck().ok
    with pytest.raises(artifactstore.NotFound):
        store.read_bytes("runs/1/model.bin", rev=report.refs["refs/tags/old-tag"][0])
    again = expire(store, before=cutoff)
    assert again.refs == {} and again.bytes_freed == 0
