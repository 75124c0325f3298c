"""MLflow under concurrency: 16 clients log runs at once through a real `mlflow server` (4 workers).

For each persistent backend, ``mlflow server --artifacts-destination <store> --workers 4``
serves 16 client threads, each creating a run and logging three artifacts (one above every
backend's inline threshold) through the proxied artifact API - so four worker processes
commit to one branch at the same time. Every upload the server acknowledged (HTTP 200) must
afterwards be in the store at the head of ``main`` with its exact bytes, and in the history
(``log(path=...)``), and the store must keep every invariant.

The same servers then have the worker process serving an upload killed (SIGKILL) at several
moments from mid-commit to after the response: uvicorn starts a new worker, an upload
answered 200 must be in the store whole, one cut short may be there only whole, the next
upload must commit (no lock left behind), and the invariants must hold.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import random
import signal
import sys
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from artifactstore_conformance import inspect_store

import artifactstore
from artifactstore.conformance_target import ConformanceTarget

from .conftest import PERSISTENT, FaultTable, make_payload

pytest.importorskip("mlflow", reason="MLflow is not installed (pip install 'mlflow>=3,<4')")
sys.path.insert(0, str(Path(__file__).parent.parent / "mlflow"))
from e2e_servers import RunningServer, ServerSpec, mlflow_servers

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
) -> Iterator[dict[str, tuple[str, str, Path, RunningServer]]]:
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
        yield {b: (uris[b], server.url, tmp, server) for b, server in zip(PERSISTENT, running, strict=True)}
        logs = {b: server.log_text() for b, server in zip(PERSISTENT, running, strict=True)}
        for backend, text in logs.items():
            log.debug("mlflow server log of %s:\n%s", backend, text)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None resets to the default


@pytest.mark.parametrize("backend", PERSISTENT)
def test_sixteen_clients_four_workers_lose_nothing(
    backend: str,
    servers: dict[str, tuple[str, str, Path, RunningServer]],
    fault_table: FaultTable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow import MlflowClient

    store_uri, url, tmp, _ = servers[backend]
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


#: Seconds between the last byte of an upload and the kill: mid-commit, then after the answer.
KILL_DELAYS = (0.0, 0.02, 0.5)
KILLED_SIZE = 8 * 1024 * 1024  # above every backend's inline threshold


def _serving_worker(server: RunningServer, client_port: int) -> int:
    """The uvicorn worker process holding the server side of the client's connection from ``client_port``."""
    server_port = urllib.parse.urlsplit(server.url).port
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                if int(local.rsplit(":", 1)[1], 16) == server_port and int(remote.rsplit(":", 1)[1], 16) == client_port:
                    inodes.add(f"socket:[{inode}]")
    for pid in server.pids():
        with contextlib.suppress(FileNotFoundError, PermissionError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(FileNotFoundError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        return pid
    raise AssertionError(f"no process of the server holds the connection from port {client_port}")


def _put_then_kill(server: RunningServer, path: str, data: bytes, delay: float) -> int | str:
    """PUT ``data`` at ``path``, SIGKILL the worker serving it ``delay`` s after the body; the HTTP status, or the error."""
    parsed = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    try:
        conn.putrequest("PUT", "/api/2.0/mlflow-artifacts/artifacts/" + urllib.parse.quote(path))
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders()
        conn.send(data)
        worker = _serving_worker(server, conn.sock.getsockname()[1])
        time.sleep(delay)
        os.kill(worker, signal.SIGKILL)
        try:
            response = conn.getresponse()
            response.read()
            return response.status
        except (ConnectionError, http.client.HTTPException) as exc:
            return type(exc).__name__
    finally:
        conn.close()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="finds the serving worker through /proc")
@pytest.mark.parametrize("backend", PERSISTENT)
def test_killed_workers_lose_no_acknowledged_upload(
    backend: str,
    servers: dict[str, tuple[str, str, Path, RunningServer]],
    fault_table: FaultTable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow import MlflowClient

    store_uri, url, tmp, server = servers[backend]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    client = MlflowClient(tracking_uri=url)
    experiment_id = client.create_experiment(f"killed-{backend}")
    run_id = client.create_run(experiment_id).info.run_id
    outcomes = []
    for k, delay in enumerate(KILL_DELAYS):
        path = f"{experiment_id}/{run_id}/artifacts/model-{k}.bin"
        data = random.Random(k).randbytes(KILLED_SIZE)
        outcomes.append((path, data, _put_then_kill(server, path, data, delay)))
        server.wait_ready()  # a live worker answers again (uvicorn replaces the killed one)
    # The branch is not left locked: the next upload commits at the first try. MLflow's client would
    # otherwise retry a lock timeout's 500 until the lock counted as stale, and pass slowly.
    after = tmp / f"after-kill-{backend}.txt"
    after.write_bytes(b"after the kills\n")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    client.log_artifact(run_id, str(after))

    store = artifactstore.open(store_uri)
    try:
        head = store.resolve("main")
        present = {path: store.read_bytes(path, rev=head) for path, _, _ in outcomes if store.exists(path, rev=head)}
        after_found = store.read_bytes(f"{experiment_id}/{run_id}/artifacts/{after.name}", rev=head)
        report = inspect_store(store)
    finally:
        store.close()
    acked = [path for path, _, status in outcomes if status == 200]
    wrong = sum(present[path] != data for path, data, _ in outcomes if path in present)
    fault_table.add(
        "mlflow: workers SIGKILLed during an upload",
        backend,
        cases=len(outcomes),
        acknowledged=len(acked),
        found=sum(path in present for path in acked),
        wrong_bytes=wrong,
        note="; ".join(f"{delay}s: {status}" for delay, (_, _, status) in zip(KILL_DELAYS, outcomes, strict=True)),
    )
    assert any(status != 200 for _, _, status in outcomes), "no upload was cut short: the kills came too late"
    assert all(path in present for path in acked), outcomes
    assert wrong == 0
    assert after_found == b"after the kills\n"
    assert report.problems == [], report.problems
