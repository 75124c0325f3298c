"""MLflow under concurrency: 16 clients log runs at once through a real `mlflow server` (4 workers).

For each persistent backend, ``mlflow server --artifacts-destination <store> --workers 4``
serves 16 client threads, each creating a run and logging three artifacts (one above every
backend's inline threshold) through the proxied artifact API - so four worker processes
commit to one branch at the same time. Every upload the server acknowledged (HTTP 200) must
afterwards be in the store at the head of ``main`` with its exact bytes, and in the history
(``log(path=...)``), and the store must keep every invariant.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import artifactstore
from artifactstore.conformance_target import ConformanceTarget
from artifactstore.invariants import inspect_store

from .conftest import PERSISTENT, FaultTable, make_payload

pytest.importorskip("mlflow", reason="MLflow is not installed (pip install 'mlflow>=3,<4')")
sys.path.insert(0, str(Path(__file__).parent.parent / "mlflow"))
from e2e_servers import ServerSpec, mlflow_servers

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

CLIENTS = 16
#: (name, size): the last is above every backend's inline threshold (s3 256 KiB, git/xet 1 MiB).
FILES = (("metrics.json", 200), ("notes/summary.txt", 5000), ("model/weights.bin", 1_200_000))


def _client_run(url: str, experiment_id: str, number: int, tmp: Path) -> tuple[str, list[tuple[str, bytes]], list[str]]:
    """One client: a run with three artifacts; returns (run id, acknowledged artifacts, errors)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url)
    run = client.create_run(experiment_id, run_name=f"client-{number}")
    run_id = run.info.run_id
    acked: list[tuple[str, bytes]] = []
    errors: list[str] = []
    for index, (name, size) in enumerate(FILES):
        local = tmp / f"client-{number}" / name
        local.parent.mkdir(parents=True, exist_ok=True)
        make_payload(local, size, seed=number * 10 + index)
        directory = os.path.dirname(name) or None
        try:
            client.log_artifact(run_id, str(local), artifact_path=directory)
        except Exception as exc:  # not acknowledged: allowed, but counted and shown
            errors.append(f"client {number} {name}: {type(exc).__name__}: {exc}")
            continue
        acked.append((name, local.read_bytes()))
    client.set_terminated(run_id)
    return run_id, acked, errors


@pytest.fixture(scope="module")
def servers(
    targets: dict[str, ConformanceTarget], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[str, str, Path]]]:
    """One ``mlflow server --workers 4`` per persistent backend, started together (startups overlap)."""
    import mlflow

    tmp = tmp_path_factory.mktemp("mlflow-faults")
    specs, uris = [], {}
    for backend in PERSISTENT:
        uris[backend] = targets[backend].new_store_uri(tmp)
        args = ["--artifacts-destination", uris[backend], "--backend-store-uri", f"sqlite:///{tmp}/{backend}.db"]
        specs.append(ServerSpec([*args, "--workers", "4"], name=f"mlflow-{backend}"))
    started = time.monotonic()
    with mlflow_servers(specs, workdir=tmp, entry_points=None) as running:
        log.info("%d mlflow servers ready in %.1fs", len(running), time.monotonic() - started)
        for server in running:
            assert len(server.pids()) >= 5, "mlflow server should run 4 worker processes"
        yield {b: (uris[b], server.url, tmp) for b, server in zip(PERSISTENT, running, strict=True)}
        logs = {b: server.log_text() for b, server in zip(PERSISTENT, running, strict=True)}
        for backend, text in logs.items():
            log.debug("mlflow server log of %s:\n%s", backend, text)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None resets to the default


@pytest.mark.parametrize("backend", PERSISTENT)
def test_sixteen_clients_four_workers_lose_nothing(
    backend: str, servers: dict[str, tuple[str, str, Path]], fault_table: FaultTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    store_uri, url, tmp = servers[backend]
    # Anything in MLflow that falls back to the default tracking URI must reach this server,
    # not create ./mlflow.db in the working directory.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    experiment_id = MlflowClient(tracking_uri=url).create_experiment(f"concurrency-{backend}")
    work = tmp / f"clients-{backend}"
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda n: _client_run(url, experiment_id, n, work), range(CLIENTS)))

    acked = [(f"{experiment_id}/{run_id}/artifacts/{name}", data) for run_id, files, _ in results for name, data in files]
    errors = [e for _, _, errs in results for e in errs]
    store = artifactstore.open(store_uri)
    try:
        head = store.resolve("main")
        found = wrong = in_history = 0
        for path, data in acked:
            if not store.exists(path, rev=head):
                continue
            found += 1
            wrong += store.read_bytes(path, rev=head) != data
            in_history += any(True for _ in store.log(head, path=path, limit=1))
        report = inspect_store(store)
        commits = sum(1 for _ in store.log(head))
    finally:
        store.close()
    fault_table.add(
        "mlflow: 16 clients x 3 artifacts, 4 workers",
        backend,
        cases=CLIENTS,
        acknowledged=len(acked),
        found=found,
        wrong_bytes=wrong,
        note=f"{commits} commits on main; {len(errors)} uploads refused",
    )
    assert wrong == 0
    assert found == len(acked) == in_history, f"acknowledged artifacts missing: {len(acked) - found}"
    assert report.problems == [], report.problems
    # Refused uploads are allowed by the contract but not expected here; show why if any.
    assert errors == [], errors[:5]
