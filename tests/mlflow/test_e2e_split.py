"""End to end with MLflow's split deployment: an artifacts-only server in front of the store and
a tracking server that keeps runs and models but serves no artifacts (MLflow's documented
"dedicated artifact server"), on a git store.

Servers (two uvicorn workers each):
* ``artifacts``: ``mlflow server --artifacts-only --app-name artifactstore --artifacts-destination
  artifactstore+git:///...``;
* ``tracking``: ``mlflow server --no-serve-artifacts --default-artifact-root
  http://<artifacts>/api/2.0/mlflow-artifacts/artifacts/experiments``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import e2e_checks as checks
import e2e_scenarios as scenarios
import mlflow
import numpy as np
import pytest
from e2e_servers import RunningServer, ServerSpec, backend_installed, mlflow_servers, new_store_uri, write_entry_points
from mlflow import MlflowClient

pytestmark = pytest.mark.slow


@dataclass
class SplitEnv:
    store_uri: str
    artifacts: RunningServer
    tracking_url: str
    tmp: Path


@pytest.fixture(scope="module")
def split_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplitEnv]:
    if not backend_installed("git"):
        pytest.skip("the git backend (artifactstore-git) is not installed")
    tmp = tmp_path_factory.mktemp("mlflow-split")
    entry_points = write_entry_points(tmp / "entry-points")
    store_uri = new_store_uri("git", tmp)
    artifacts_spec = ServerSpec(
        ["--artifacts-only", "--app-name", "artifactstore", "--artifacts-destination", store_uri, "--workers", "2"],
        name="artifacts",
    )
    with mlflow_servers([artifacts_spec], workdir=tmp, entry_points=entry_points) as (artifacts,):
        root = f"{artifacts.url}/api/2.0/mlflow-artifacts/artifacts/experiments"
        tracking_spec = ServerSpec(
            [
                "--backend-store-uri", f"sqlite:///{tmp}/tracking.db", "--no-serve-artifacts",
                "--default-artifact-root", root, "--workers", "2",
            ],
            name="tracking",
        )
        with mlflow_servers([tracking_spec], workdir=tmp, entry_points=entry_points) as (tracking,):
            yield SplitEnv(store_uri, artifacts, tracking.url, tmp)
    mlflow.set_tracking_uri(None)


def test_runs_and_models_through_a_dedicated_artifact_server(split_env: SplitEnv) -> None:
    logged = scenarios.log_everything(split_env.tracking_url, split_env.tmp)
    assert logged.artifact_uri.startswith(split_env.artifacts.url), logged.artifact_uri
    scenarios.check_read_back(split_env.tracking_url, logged, split_env.tmp)
    scenarios.delete_notes(split_env.tracking_url, logged)

    # Every upload went through the artifacts server into the store, one commit each, named for the run.
    run_dir = f"experiments/{logged.experiment_id}/{logged.run_id}/artifacts"
    messages = [str(c["message"]).splitlines()[0] for c in scenarios.history(split_env.store_uri, run_dir)]
    where = f"(experiment {logged.experiment_id}, run {logged.run_id})"
    assert messages[0] == f"mlflow: delete notes.txt {where}"
    assert f"mlflow: log notes.txt {where}" in messages
    assert scenarios.cat(split_env.store_uri, f"{run_dir}/data/sub/b.bin").stdout == logged.files["data/sub/b.bin"]

    # The registry: a version of the logged model, loaded back by its models:/ URI.
    version = mlflow.register_model(logged.model_uri, "split-model")
    loaded = mlflow.pyfunc.load_model(f"models:/split-model/{version.version}")
    x = np.random.default_rng(0).normal(size=(40, 3))
    np.testing.assert_allclose(np.asarray(loaded.predict(x)).ravel(), x @ np.array([1.5, -2.0, 0.5]) + 0.1, atol=1e-6)

    # The artifacts server answers artifact requests only; its clients' download route streams.
    url_path = checks.artifact_url_path(f"{run_dir}/data/sub/b.bin")
    status, headers, body = checks.http_exchange(split_env.artifacts.url, "GET", url_path)
    assert (status, body == logged.files["data/sub/b.bin"]) == (200, True)
    assert headers["content-length"] == str(len(body))
    status, _, _ = checks.http_exchange(split_env.artifacts.url, "GET", f"/api/2.0/mlflow/runs/get?run_id={logged.run_id}")
    assert status == 503
    assert MlflowClient(split_env.tracking_url).get_run(logged.run_id).data.params == {"alpha": "0.5"}
