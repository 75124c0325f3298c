"""``artifactstore.importing.import_tree``: MLflow's S3 layout and local mlartifacts/mlruns folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from artifactstore_s3 import S3Store
from artifactstore_s3.testing import LocalS3Server

import artifactstore
from artifactstore.errors import InvalidInput, InvalidPath
from artifactstore.importing import import_tree

SOURCE_BUCKET = "mlflow-source"


def write_run(directory: Path, model: bytes) -> Path:
    (directory / "model").mkdir(parents=True)
    (directory / "model" / "MLmodel").write_text("flavors: {}\n")
    (directory / "model" / "model.pkl").write_bytes(model)
    (directory / "metrics.json").write_text('{"mae": 0.1}')
    return directory


def test_import_from_mlflow_s3_artifact_repository(s3_server: LocalS3Server, s3_store: S3Store, tmp_path: Path) -> None:
    mlflow_s3 = pytest.importorskip("mlflow.store.artifact.s3_artifact_repo", reason="mlflow is not installed")
    s3_server.create_bucket(SOURCE_BUCKET)
    model = os.urandom(700 * 1024)  # above the inline threshold: content-addressed
    for run in ("run1", "run2"):  # the same model logged by two runs
        repo = mlflow_s3.S3ArtifactRepository(f"s3://{SOURCE_BUCKET}/mlartifacts/1/{run}/artifacts")
        repo.log_artifacts(str(write_run(tmp_path / run, model)))
    s3_server.client().put_object(Bucket=SOURCE_BUCKET, Key="mlartifacts/1/run1/artifacts/empty/", Body=b"")

    commit = import_tree(s3_store, f"s3://{SOURCE_BUCKET}/mlartifacts", message="import mlflow")
    assert [c.id for c in s3_store.log()] == [commit.id]
    assert commit.message == "import mlflow"
    paths = [e.path for e in s3_store.list(recursive=True)]
    assert paths == [
        f"1/{run}/artifacts/{name}"
        for run in ("run1", "run2")
        for name in ("metrics.json", "model/MLmodel", "model/model.pkl")
    ]
    assert s3_store.read_bytes("1/run2/artifacts/model/model.pkl") == model
    # Logged twice, stored once (new_bytes also counts the few small inline files).
    assert commit.new_bytes is not None and len(model) <= commit.new_bytes < len(model) + 1024
    stats = s3_store.stats()
    assert stats.stored_bytes * 2 == stats.logical_bytes
    # The run's artifact URI keeps working with the store as the new artifact root.
    store, located = artifactstore.open_with_path(f"{s3_store.uri}/1/run1/artifacts")
    assert store.read_bytes(f"{located.path}/model/MLmodel") == b"flavors: {}\n"


def test_import_local_mlruns_takes_only_run_artifacts(s3_store: S3Store, tmp_path: Path) -> None:
    mlruns = tmp_path / "mlruns"
    (mlruns / "0").mkdir(parents=True)
    (mlruns / "0" / "meta.yaml").write_text("name: Default\n")
    run = mlruns / "0" / "abc123"
    (run / "metrics").mkdir(parents=True)
    (run / "metrics" / "loss").write_text("1 0.5 0\n")
    (run / "meta.yaml").write_text("run_id: abc123\n")
    write_run(run / "artifacts", b"weights")
    commit = import_tree(s3_store, str(mlruns), prefix="imported")
    assert [e.path for e in s3_store.list(recursive=True)] == [
        "imported/0/abc123/artifacts/metrics.json",
        "imported/0/abc123/artifacts/model/MLmodel",
        "imported/0/abc123/artifacts/model/model.pkl",
    ]
    assert commit.message.startswith("import 3 files from ")


def test_import_local_mlartifacts_whole_and_deduplicated(s3_store: S3Store, tmp_path: Path) -> None:
    root = tmp_path / "mlartifacts"
    model = os.urandom(400 * 1024)
    write_run(root / "1" / "r1" / "artifacts", model)
    write_run(root / "1" / "r2" / "artifacts", model)
    commit = import_tree(s3_store, str(root), branch="imported")
    assert s3_store.branches() == {"imported": commit.id}
    assert len(s3_store.list(rev="imported", recursive=True)) == 6
    assert commit.new_bytes is not None and len(model) <= commit.new_bytes < len(model) + 1024


def test_import_rejects_bad_sources_and_writes_nothing(s3_store: S3Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "ok.txt").write_text("fine")
    (bad / "a:b.txt").write_text("colon")
    with pytest.raises(InvalidPath, match="a:b.txt"):
        import_tree(s3_store, str(bad))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput, match="nothing to import"):
        import_tree(s3_store, str(empty))
    with pytest.raises(FileNotFoundError):
        import_tree(s3_store, str(tmp_path / "missing"))
    with pytest.raises(InvalidInput, match="not supported"):
        import_tree(s3_store, "gs://bucket/x")
    assert s3_store.branches() == {}
