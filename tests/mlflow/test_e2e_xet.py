"""End to end on the xet backend, through the embedded default of `artifactstore server`
(no --store: a xet store under --data-dir/store and a SQLite tracking database, 4 workers).

Skipped only when the xet backend is not installed.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import e2e_checks as checks
import e2e_scenarios as scenarios
import mlflow
import pytest
from e2e_servers import RunningServer, ServerSpec, backend_installed, mlflow_servers, server_env, write_entry_points
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
    server: RunningServer


@pytest.fixture(scope="module")
def xet_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XetEnv]:
    if not backend_installed("xet"):
        pytest.skip("the xet backend (artifactstore-xet) is not installed")
    tmp = tmp_path_factory.mktemp("mlflow-xet")
    data = tmp / "data"
    specs = [ServerSpec(["--data-dir", str(data)], artifactstore_cli=True, name="embedded")]
    with mlflow_servers(specs, workdir=tmp, entry_points=write_entry_points(tmp / "entry-points")) as (server,):
        yield XetEnv(f"artifactstore+xet://{(data / 'store').resolve()}", server.url, tmp, server)
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


def test_clients_asking_for_multipart_uploads_fall_back_to_one_put(
    xet_env: XetEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Users of S3 destinations often set this on their clients. The store takes no multipart
    # uploads (each upload is one commit), so MLflow's server answers "unsupported" and its
    # client sends the file in one PUT instead.
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(1024 * 1024))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(1024 * 1024))
    data = random.Random(15).randbytes(3 * 1024 * 1024 + 7)
    run_id = scenarios.log_files(xet_env.url, xet_env.tmp, {"checkpoint.bin": data})
    url_path = checks.artifact_url_path(f"0/{run_id}/artifacts/checkpoint.bin")
    status, _, body = checks.http_exchange(xet_env.url, "GET", url_path)
    assert (status, body == data) == (200, True)
    assert len(scenarios.history(xet_env.store_uri, f"0/{run_id}/artifacts")) == 1  # one commit
    assert f"mpu/create/0/{run_id}/artifacts" in xet_env.server.log_text()  # the client did ask


def test_mlflow_gc_deletes_a_runs_files_in_a_commit_and_expire_reclaims_them(xet_env: XetEnv) -> None:
    # A platform team's cleanup: `mlflow gc` hard-deletes deleted runs and their artifacts. Here that
    # is a commit (history keeps the files); `artifactstore expire --path` then drops them from
    # history and `artifactstore gc` frees their bytes.
    client = MlflowClient(xet_env.url)
    gone_data, kept_data = random.Random(16).randbytes(2 * 1024 * 1024), random.Random(17).randbytes(4096)
    gone = scenarios.log_files(xet_env.url, xet_env.tmp, {"old-model.bin": gone_data})
    kept = scenarios.log_files(xet_env.url, xet_env.tmp, {"model.txt": kept_data})
    client.delete_run(gone)
    result = subprocess.run(
        [
            sys.executable, "-m", "mlflow", "gc", "--run-ids", gone, "--tracking-uri", xet_env.url,
            "--backend-store-uri", f"sqlite:///{xet_env.tmp / 'data' / 'mlflow.db'}",
            "--artifacts-destination", xet_env.store_uri,
        ],
        capture_output=True, text=True, timeout=300, env=server_env(xet_env.tmp / "entry-points"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [deletion, logged] = scenarios.history(xet_env.store_uri, f"0/{gone}")
    assert str(deletion["message"]).splitlines()[0] == f"mlflow: delete all artifacts (experiment 0, run {gone})"
    assert scenarios.cat(xet_env.store_uri, f"0/{gone}/artifacts/old-model.bin").returncode != 0
    assert scenarios.cat(xet_env.store_uri, f"0/{gone}/artifacts/old-model.bin", str(logged["id"])).stdout == gone_data

    expired = scenarios.cli("expire", "--json", xet_env.store_uri, "--older-than", "0d", "--path", f"0/{gone}")
    assert expired.returncode == 0, expired.stderr
    collected = scenarios.cli("gc", "--json", "--grace", "0", xet_env.store_uri)
    assert collected.returncode == 0, collected.stderr
    assert json.loads(collected.stdout)["content_removed"] >= 1, collected.stdout
    assert scenarios.cat(xet_env.store_uri, f"0/{gone}/artifacts/old-model.bin", str(logged["id"])).returncode != 0
    fsck = scenarios.cli("fsck", "--json", xet_env.store_uri)
    assert fsck.returncode == 0 and json.loads(fsck.stdout)["ok"], fsck.stdout
    status, _, body = checks.http_exchange(xet_env.url, "GET", checks.artifact_url_path(f"0/{kept}/artifacts/model.txt"))
    assert (status, body == kept_data) == (200, True)


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
        # A HEAD: the same headers, no body, and no temporary copy (which MLflow's route would date).
        status, head_headers, body = checks.http_exchange(xet_env.url, "HEAD", url_path)
        assert (status, body) == (200, b""), (name, status)
        assert {k: v for k, v in head_headers.items() if k != "date"} == {k: v for k, v in headers.items() if k != "date"}

    directory = checks.artifact_url_path(f"0/{run_id}/artifacts")
    status, _, body = checks.http_exchange(xet_env.url, "GET", directory)
    assert status == 400 and b"directory" in body, (status, body[:300])
    missing = checks.artifact_url_path(f"0/{run_id}/artifacts/absent.bin")
    status, _, body = checks.http_exchange(xet_env.url, "GET", missing)
    assert status == 404, (status, body[:300])


def _check_streamed_attachment(url: str, url_path: str, name: str, data: bytes) -> None:
    status, headers, body = checks.http_exchange(url, "GET", url_path)
    assert (status, body == data) == (200, True), (url_path, status, body[:200])
    assert headers["content-type"].split(";")[0] == _guess_mime_type(name), url_path
    assert headers["content-length"] == str(len(data)), url_path
    assert headers["content-disposition"] == _content_disposition_attachment(name), url_path
    assert headers["cache-control"] == "no-cache", url_path
    # The content's SHA-256 as validator (MLflow's handler sends a temporary copy with one made from its mtime).
    assert headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"', (url_path, headers)
    # A HEAD gets the same headers and no body (MLflow's handler makes its whole copy for one).
    status, head_headers, body = checks.http_exchange(url, "HEAD", url_path)
    assert (status, body) == (200, b""), (url_path, status)
    assert {k: v for k, v in head_headers.items() if k != "date"} == {k: v for k, v in headers.items() if k != "date"}


def test_downloads_resume_and_revalidate_from_the_store(xet_env: XetEnv) -> None:
    # A byte range (a resumed download, the UI's PDF viewer), If-Range and If-None-Match on the
    # clients' route and the UI's, against the file's SHA-256 as its ETag.
    size = 3 * 1024 * 1024 + 1
    data = random.Random(17).randbytes(size)
    run_id = scenarios.log_files(xet_env.url, xet_env.tmp, {"ranged.bin": data})
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    paths = [
        checks.artifact_url_path(f"0/{run_id}/artifacts/ranged.bin"),
        "/get-artifact?" + urllib.parse.urlencode({"path": "ranged.bin", "run_id": run_id}),
    ]
    for url_path in paths:

        def get(headers: dict[str, str], method: str = "GET", url_path: str = url_path) -> tuple[int, dict[str, str], bytes]:
            return checks.http_exchange(xet_env.url, method, url_path, headers=headers)

        status, headers, body = get({"If-None-Match": etag})
        assert (status, body, headers["etag"]) == (304, b"", etag), url_path
        status, _, body = get({"If-None-Match": '"another"'})
        assert (status, body == data) == (200, True), url_path
        across = (1024 * 1024 - 7, 2 * 1024 * 1024 + 9)  # spans two of xet's 1 MiB reads
        for spec, first, last in [
            ("bytes=100-199", 100, 199),
            (f"bytes={across[0]}-{across[1]}", *across),
            ("bytes=-10", size - 10, size - 1),
            (f"bytes={size - 5}-", size - 5, size - 1),
            (f"bytes=0-{size + 100}", 0, size - 1),
        ]:
            status, headers, body = get({"Range": spec})
            assert (status, body == data[first : last + 1]) == (206, True), (url_path, spec, status, len(body))
            assert headers["content-range"] == f"bytes {first}-{last}/{size}", (url_path, spec)
            assert headers["content-length"] == str(last - first + 1), (url_path, spec)
            status, headers, body = get({"Range": spec}, "HEAD")
            assert (status, body, headers["content-range"]) == (206, b"", f"bytes {first}-{last}/{size}"), (url_path, spec)
        status, headers, body = get({"Range": f"bytes={size}-"})
        assert (status, headers["content-range"], body) == (416, f"bytes */{size}", b""), url_path
        # Several ranges, a malformed one, or an If-Range naming other content: the whole file.
        for extra in [
            {"Range": "bytes=0-1,5-6"},
            {"Range": "bytes=9-3"},
            {"Range": "items=0-1"},
            {"Range": "bytes=0-9", "If-Range": '"old"'},
        ]:
            status, headers, body = get(extra)
            assert (status, body == data, "content-range" in headers) == (200, True, False), (url_path, extra)
        status, _, body = get({"Range": "bytes=0-9", "If-Range": etag})
        assert (status, body) == (206, data[:10]), url_path


def test_the_uis_downloads_stream_from_the_store(xet_env: XetEnv) -> None:
    # The UI's routes of a run, a registered model version and a LoggedModel; proxied, then direct.
    url, client = xet_env.url, MlflowClient(xet_env.url)
    files = {"weights.bin": random.Random(13).randbytes(3 * 1024 * 1024 + 1), "notes.txt": b"a small file"}
    run_id = scenarios.log_files(url, xet_env.tmp, files)
    model = client.create_logged_model(experiment_id="0", name="ui-model")
    (xet_env.tmp / "ui-model").mkdir()
    for name, data in files.items():
        (xet_env.tmp / "ui-model" / name).write_bytes(data)
        client.log_model_artifact(model.model_id, str(xet_env.tmp / "ui-model" / name))
    client.create_registered_model("ui-model")
    version = client.create_model_version("ui-model", client.get_run(run_id).info.artifact_uri, run_id=run_id)
    for name, data in files.items():
        routes = [
            "/get-artifact?" + urllib.parse.urlencode({"path": name, "run_uuid": run_id}),
            "/model-versions/get-artifact?"
            + urllib.parse.urlencode({"name": "ui-model", "version": version.version, "path": name}),
            f"/ajax-api/2.0/mlflow/logged-models/{model.model_id}/artifacts/files?"
            + urllib.parse.urlencode({"artifact_file_path": name}),
        ]
        for url_path in routes:
            _check_streamed_attachment(url, url_path, name, data)

    # Direct mode: the run's artifact location is the store itself.
    experiment = client.create_experiment("ui-direct", artifact_location=f"{xet_env.store_uri}@direct/exp-ui")
    direct_run = client.create_run(experiment).info.run_id
    client.log_artifact(direct_run, str(xet_env.tmp / "ui-model" / "weights.bin"))
    query = urllib.parse.urlencode({"path": "weights.bin", "run_id": direct_run})
    _check_streamed_attachment(url, f"/get-artifact?{query}", "weights.bin", files["weights.bin"])

    # Another repository's file is MLflow's handler's (a local one: sent from disk, with an ETag).
    local = client.create_experiment("ui-local", artifact_location=(xet_env.tmp / "ui-local").as_uri())
    local_run = client.create_run(local).info.run_id
    client.log_artifact(local_run, str(xet_env.tmp / "ui-model" / "notes.txt"))
    query = urllib.parse.urlencode({"path": "notes.txt", "run_id": local_run})
    status, headers, body = checks.http_exchange(url, "GET", f"/get-artifact?{query}")
    assert (status, body, "etag" in headers) == (200, files["notes.txt"], True), (status, body[:300], headers)

    # So is every error: a missing run, file or parameter, a directory.
    for url_path, expected in [
        ("/get-artifact?" + urllib.parse.urlencode({"path": "notes.txt", "run_id": "0" * 32}), 404),
        ("/get-artifact?" + urllib.parse.urlencode({"path": "notes.txt"}), 404),  # no run id
        ("/get-artifact?" + urllib.parse.urlencode({"path": "absent.txt", "run_id": run_id}), 404),
        (f"/ajax-api/2.0/mlflow/logged-models/{model.model_id}/artifacts/files", 400),
        ("/get-artifact?" + urllib.parse.urlencode({"path": "", "run_id": run_id}), 400),
    ]:
        status, _, body = checks.http_exchange(url, "GET", url_path)
        assert status == expected, (url_path, status, body[:300])


def _rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/statm") as statm:
            total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return total


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads processes' memory from /proc")
def test_a_slow_browser_does_not_make_the_server_hold_the_file(xet_env: XetEnv) -> None:
    # The UI's route through MLflow's Flask handler queues the whole body in the server's memory
    # when the browser reads slower than the disk; ours sends as the browser takes it.
    size = 512 * 1024 * 1024
    data = os.urandom(size)
    run_id = scenarios.log_files(xet_env.url, xet_env.tmp, {"big.bin": data})
    pids = xet_env.server.pids()
    before = _rss_bytes(pids)
    parsed = urllib.parse.urlsplit(xet_env.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)
    try:
        conn.request("GET", "/get-artifact?" + urllib.parse.urlencode({"path": "big.bin", "run_id": run_id}))
        response = conn.getresponse()
        assert response.status == 200
        head = response.read(1024 * 1024)
        grown = 0
        for _ in range(30):  # the browser pauses for 6 s
            time.sleep(0.2)
            grown = max(grown, _rss_bytes(pids) - before)
        body = head + response.read()
    finally:
        conn.close()
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    assert grown < size // 4, f"the server grew by {grown / 2**20:.0f} MiB while the client paused"


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
        ui_path = "/get-artifact?" + urllib.parse.urlencode({"path": "model.bin", "run_id": run_id})
        for path in (url_path, ui_path):
            with pytest.raises(http.client.IncompleteRead) as short:
                checks.http_exchange(xet_env.url, "GET", path)
            assert len(short.value.partial) < len(data), path
    finally:
        for path, (content, mode) in saved.items():
            path.chmod(0o644)
            path.write_bytes(content)
            path.chmod(mode)
        store.close()
    status, _, body = checks.http_exchange(xet_env.url, "GET", url_path)
    assert (status, body == data) == (200, True)
