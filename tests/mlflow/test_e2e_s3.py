"""End to end on the s3 backend: `artifactstore server --store artifactstore+s3://...` against
the backend's own local S3-protocol server (its conformance target starts it), 4 workers.

Skipped only when the s3 backend is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import e2e_checks as checks
import e2e_scenarios as scenarios
import mlflow
import pytest
from e2e_servers import ServerSpec, backend_installed, mlflow_servers, write_entry_points
from mlflow import MlflowClient

import artifactstore

pytestmark = pytest.mark.slow


@dataclass
class S3Env:
    store_uri: str
    url: str
    tmp: Path


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Env]:
    if not backend_installed("s3"):
        pytest.skip("the s3 backend (artifactstore-s3) is not installed")
    tmp = tmp_path_factory.mktemp("mlflow-s3")
    target = artifactstore.get_registry().conformance_target("s3")
    with target.session():  # starts the S3-protocol server; its settings are in os.environ
        store_uri = target.new_store_uri(tmp)
        specs = [ServerSpec(["--store", store_uri, "--data-dir", str(tmp / "data")], artifactstore_cli=True)]
        with mlflow_servers(specs, workdir=tmp, entry_points=write_entry_points(tmp / "entry-points")) as (server,):
            yield S3Env(store_uri, server.url, tmp)
    mlflow.set_tracking_uri(None)


def test_proxied_mode_full_scenario(s3_env: S3Env) -> None:
    logged = scenarios.log_everything(s3_env.url, s3_env.tmp)
    scenarios.check_read_back(s3_env.url, logged, s3_env.tmp)
    scenarios.delete_notes(s3_env.url, logged)
    checks.check_proxied_history(s3_env.store_uri, logged)


def test_direct_mode_full_scenario(s3_env: S3Env) -> None:
    logged = scenarios.log_everything(s3_env.url, s3_env.tmp, artifact_location=f"{s3_env.store_uri}@direct/exp-d")
    assert logged.artifact_uri.startswith("artifactstore+s3:")
    scenarios.check_read_back(s3_env.url, logged, s3_env.tmp)
    scenarios.delete_notes(s3_env.url, logged)
    checks.check_direct_history(f"{s3_env.store_uri}@direct", "exp-d", logged)


def test_two_runs_logging_at_the_same_time(s3_env: S3Env) -> None:
    experiment = MlflowClient(s3_env.url).create_experiment("concurrent")
    for run_id in scenarios.log_concurrently(s3_env.url, experiment, runs=2, files=6):
        assert len(scenarios.history(s3_env.store_uri, f"{experiment}/{run_id}/artifacts")) == 6


def test_bad_paths_answer_400(s3_env: S3Env) -> None:
    checks.check_bad_paths_rejected(s3_env.url)
