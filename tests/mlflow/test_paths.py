"""Commit messages and path joining of the MLflow adapter."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException

from artifactstore import errors
from artifactstore.mlflow.errors import to_mlflow_exception
from artifactstore.mlflow.paths import commit_message, owner_of, store_path

RUN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (f"1/{RUN}/artifacts/model/MLmodel", f"mlflow: log model/MLmodel (experiment 1, run {RUN})"),
        (f"sub/dir/7/{RUN}/artifacts/a.txt", f"mlflow: log a.txt (experiment 7, run {RUN})"),
        ("3/models/m-0a1b2c/artifacts/MLmodel", "mlflow: log MLmodel (experiment 3, model m-0a1b2c)"),
        ("3/traces/tr-0a1b/artifacts/traces.json", "mlflow: log traces.json (experiment 3, trace tr-0a1b)"),
        ("plain/file.txt", "mlflow: log plain/file.txt"),
    ],
)
def test_commit_messages_name_owner_and_path(path: str, message: str) -> None:
    assert commit_message("log", path) == message


def test_directory_commit_message_counts_files() -> None:
    assert commit_message("log", f"1/{RUN}/artifacts", count=3) == f"mlflow: log 3 files (experiment 1, run {RUN})"
    assert commit_message("log", f"1/{RUN}/artifacts/model", count=1) == f"mlflow: log 1 file to model (experiment 1, run {RUN})"


def test_deleting_an_owners_root_says_all_artifacts() -> None:
    # What `mlflow gc` deletes: a whole run's artifacts.
    assert commit_message("delete", f"1/{RUN}/artifacts") == f"mlflow: delete all artifacts (experiment 1, run {RUN})"
    assert commit_message("log", f"1/{RUN}/artifacts/d", count=1) == f"mlflow: log 1 file to d (experiment 1, run {RUN})"


def test_owner_of_a_non_mlflow_path_is_unknown() -> None:
    assert owner_of("a/b").experiment is None


def test_store_path_joins_without_normalising() -> None:
    assert store_path("1/r/artifacts", "a/b") == "1/r/artifacts/a/b"
    assert store_path("", "a") == "a"
    assert store_path("root", None, allow_root=True) == "root"
    assert store_path("root", "dir/", allow_root=True) == "root/dir"
    with pytest.raises(errors.InvalidPath):
        store_path("root", "dir//", allow_root=True)
    with pytest.raises(errors.InvalidPath):
        store_path("", None)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.InvalidPath("p"), "INVALID_PARAMETER_VALUE"),
        (errors.NotFound("p"), "RESOURCE_DOES_NOT_EXIST"),
        (errors.Conflict("p"), "RESOURCE_CONFLICT"),
        (errors.IntegrityError("p"), "DATA_LOSS"),
        (errors.LockTimeout("p"), "TEMPORARILY_UNAVAILABLE"),
        (errors.ArtifactStoreError("p"), "INTERNAL_ERROR"),
    ],
)
def test_error_translation(exc: errors.ArtifactStoreError, code: str) -> None:
    translated = to_mlflow_exception(exc)
    assert isinstance(translated, MlflowException)
    assert translated.error_code == code
    assert translated.message == "p"
