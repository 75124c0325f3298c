"""End to end on the xet backend, through the embedded default of `artifactstore server`
(no --store: a xet store under --data-dir/store and a SQLite tracking database, 4 workers).

Skipped only when the xet backend is not installed.
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

pytestmark = pytest.mark.slow


@dataclass
class XetEnv:
    store_uri: str
    url: str
    tmp: Path


@pytest.fixture(scope="module")
def xet_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XetEnv]:
    if not backend_installed("xet"):
        pytest.skip("the xet backend (artifactstore-xet) is not installed")
    tmp = tmp_path_factory.mktemp("mlflow-xet")
    data = tmp / "data"
    specs = [ServerSpec(["--data-dir", str(data)], artifactstore_cli=True, name="embedded")]
    with mlflow_servers(specs, workdir=tmp, entry_points=write_entry_points(tmp / "entry-points")) as (server,):
        yield XetEnv(f"artifactstore+xet://{(data / 'store').resolve()}", server.url, tmp)
    mlflow.set_tracking_uri(None)


def test_embedded_default_is_a_xet_store(xet_env: XetEnv) -> None:
    assert (xet_env.tmp / "data" / "mlflow.db").is_file()
    listed = scenarios.cli("branch", xet_env.store_uri)  # the store exists (and is a xet store)
    assert listed.returncode == 0, listed.stderr


def test_proxied_mode_full_scenario(xet_env: XetEnv) -> None:
    logged = scenarios.log_everything(xet_env.url, xet_env.tmp)
    scenarios.check_read_back(xet_env.url, logged, xet_env.tmp)
    scenarios.delete_notes(xet_env.url, logged)
    checks.check_proxied_history(xet_env.store_uri, logged)


def test_direct_mode_full_scenario(xet_env: XetEnv) -> None:
    logged = scenarios.log_everything(xet_env.url, xet_env.tmp, artifact_location=f"{xet_env.store_uri}@direct/exp-d")
    assert logged.artifact_uri.startswith("artifactstore+xet:")
    scenarios.check_read_back(xet_env.url, logged, xet_env.tmp)
    scenarios.delete_notes(xet_env.url, logged)
    checks.check_direct_history(f"{xet_env.store_uri}@direct", "exp-d", logged)


def test_two_runs_logging_at_the_same_time(xet_env: XetEnv) -> None:
    experiment = MlflowClient(xet_env.url).create_experiment("concurrent")
    for run_id in scenarios.log_concurrently(xet_env.url, experiment, runs=2, files=6):
        assert len(scenarios.history(xet_env.store_uri, f"{experiment}/{run_id}/artifacts")) == 6


def test_bad_paths_answer_400(xet_env: XetEnv) -> None:
    checks.check_bad_paths_rejected(xet_env.url)
