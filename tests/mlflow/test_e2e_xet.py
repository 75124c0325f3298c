"""End to end on the xet backend, through the embedded default of `artifactstore server`
(no --store: a xet store under --data-dir/store and a SQLite tracking database, 4 workers).

Skipped only when the xet backend is not installed.
"""

from __future__ import annotations

import hashlib
import http.client
import random
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import e2e_checks as checks
import e2e_scenarios as scenarios
import mlflow
import pytest
from e2e_servers import ServerSpec, backend_installed, mlflow_servers, write_entry_points
from mlflow import MlflowClient
from mlflow.server.handlers import _content_disposition_attachment
from mlflow.utils.mime_type_utils import _guess_mime_type

import artifactstore

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


def test_downloads_stream_from_the_store_with_the_built_in_headers(xet_env: XetEnv) -> None:
    # `artifactstore server` runs MLflow with --app-name artifactstore: no temporary copy
    # before the first byte, so the length is known up front (MLflow's copy route sends none).
    size = 3 * 1024 * 1024 + 1
    files = {
        "table.csv": (b"id,score\n" + b"7,0.25\n" * size)[:size],
        "weights.bin": random.Random(11).randbytes(size),
        "notes.txt": b"a small file",
    }
    run_id = scenarios.log_files(xet_env.url, xet_env.tmp, files)
    for name, data in files.items():
        url_path = checks.artifact_url_path(f"0/{run_id}/artifacts/{name}")
        status, headers, body = checks.http_exchange(xet_env.url, "GET", url_path)
        assert (status, body == data) == (200, True), (name, status, body[:200])
        assert headers["content-type"].split(";")[0] == _guess_mime_type(name), name
        assert headers["content-length"] == str(len(data)), name
        assert headers["content-disposition"] == _content_disposition_attachment(name), name
        query = urllib.parse.urlencode({"path": name, "run_uuid": run_id})
        status, _, body = checks.http_exchange(xet_env.url, "GET", f"/get-artifact?{query}")  # the UI's route
        assert (status, body == data) == (200, True), (name, status, body[:200])

    directory = checks.artifact_url_path(f"0/{run_id}/artifacts")
    status, _, body = checks.http_exchange(xet_env.url, "GET", directory)
    assert status == 400 and b"directory" in body, (status, body[:300])
    missing = checks.artifact_url_path(f"0/{run_id}/artifacts/absent.bin")
    status, _, body = checks.http_exchange(xet_env.url, "GET", missing)
    assert status == 404, (status, body[:300])


def test_a_corrupt_file_is_never_sent_whole(xet_env: XetEnv) -> None:
    data = random.Random(12).randbytes(2 * 1024 * 1024)
    # Never read before it is damaged, so no cache can answer for the CAS.
    run_id = scenarios.log_files(xet_env.url, xet_env.tmp, {"model.bin": data})
    store = artifactstore.open(xet_env.store_uri)
    cas = store.content_port.embedded_dir  # type: ignore[attr-defined]
    saved = {p: (p.read_bytes(), p.stat().st_mode) for p in cas.rglob("xorbs/xorbs/*") if p.is_file()}
    url_path = checks.artifact_url_path(f"0/{run_id}/artifacts/model.bin")
    try:
        artifactstore.get_registry().conformance_target("xet").corrupt_content(store, hashlib.sha256(data).hexdigest())
        # The headers (200, Content-Length) went out before the damage was read: the stream
        # stops short of its length, and the client knows the body is incomplete.
        with pytest.raises(http.client.IncompleteRead) as short:
            checks.http_exchange(xet_env.url, "GET", url_path)
        assert len(short.value.partial) < len(data)
    finally:
        for path, (content, mode) in saved.items():
            path.chmod(0o644)
            path.write_bytes(content)
            path.chmod(mode)
        store.close()
    status, _, body = checks.http_exchange(xet_env.url, "GET", url_path)
    assert (status, body == data) == (200, True)
