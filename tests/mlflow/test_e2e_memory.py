"""End to end on the memory backend: `artifactstore server --store artifactstore+memory://...`.

A memory store lives inside one process, so the server runs one worker and the history is
checked through MLflow itself (the CLI in another process cannot see the store); direct mode
does not apply (the client process would have its own, different memory store).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import e2e_checks as checks
import e2e_scenarios as scenarios
import mlflow
import pytest
from e2e_servers import ServerSpec, mlflow_servers, write_entry_points
from mlflow import MlflowClient

pytestmark = pytest.mark.slow


@dataclass
class MemoryEnv:
    url: str
    tmp: Path
    workers: int


@pytest.fixture(scope="module")
def memory_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemoryEnv]:
    tmp = tmp_path_factory.mktemp("mlflow-memory")
    specs = [ServerSpec(["--store", "artifactstore+memory://e2e", "--data-dir", str(tmp / "data")], artifactstore_cli=True)]
    with mlflow_servers(specs, workdir=tmp, entry_points=write_entry_points(tmp / "entry-points")) as (server,):
        yield MemoryEnv(server.url, tmp, workers=1)
    mlflow.set_tracking_uri(None)


def test_full_scenario_through_one_worker(memory_env: MemoryEnv) -> None:
    logged = scenarios.log_everything(memory_env.url, memory_env.tmp)
    scenarios.check_read_back(memory_env.url, logged, memory_env.tmp)
    scenarios.delete_notes(memory_env.url, logged)
    # the deleted file is gone for MLflow too (history keeps it; the memory store is in the server)
    status, _ = checks.http_request(
        memory_env.url, "GET", checks.artifact_url_path(f"{logged.experiment_id}/{logged.run_id}/artifacts/notes.txt")
    )
    assert status == 404


def test_two_runs_logging_at_the_same_time(memory_env: MemoryEnv) -> None:
    experiment = MlflowClient(memory_env.url).create_experiment("concurrent")
    scenarios.log_concurrently(memory_env.url, experiment, runs=2, files=6)


def test_bad_paths_answer_400(memory_env: MemoryEnv) -> None:
    checks.check_bad_paths_rejected(memory_env.url)
