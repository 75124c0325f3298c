"""End to end on the git backend: real `mlflow server` processes (MLflow's defaults: uvicorn,
4 workers) over one git repository, driven through MLflow's public client API.

Servers (started together, shared by the module):
* ``main``: ``mlflow server --artifacts-destination artifactstore+git:///...`` (4 workers);
* ``branch``: ``artifactstore server --store ...@exp-2`` on the same repository (2 workers).
Direct mode runs on ``main`` through experiments whose artifact location is the store itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import random
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import e2e_checks as checks
import e2e_scenarios as scenarios
import mlflow
import pytest
from e2e_servers import ServerSpec, backend_installed, mlflow_servers, new_store_uri, write_entry_points
from mlflow import MlflowClient
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.utils.mime_type_utils import _guess_mime_type

import artifactstore

pytestmark = pytest.mark.slow


@dataclass
class GitEnv:
    store_uri: str
    main_url: str
    branch_url: str
    tmp: Path


@pytest.fixture(scope="module")
def git_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitEnv]:
    if not backend_installed("git"):
        pytest.skip("the git backend (artifactstore-git) is not installed")
    tmp = tmp_path_factory.mktemp("mlflow-git")
    entry_points = write_entry_points(tmp / "entry-points")
    store_uri = new_store_uri("git", tmp)
    specs = [
        ServerSpec(["--artifacts-destination", store_uri, "--backend-store-uri", f"sqlite:///{tmp}/main.db"], name="main"),
        ServerSpec(["--store", f"{store_uri}@exp-2", "--workers", "2"], artifactstore_cli=True, name="branch"),
    ]
    with mlflow_servers(specs, workdir=tmp, entry_points=entry_points) as (main, branch):
        assert len([p for p in main.pids()]) >= 5, "mlflow server should run its 4 default workers"
        yield GitEnv(store_uri, main.url, branch.url, tmp)
    mlflow.set_tracking_uri(None)


def test_proxied_mode_full_scenario(git_env: GitEnv) -> None:
    logged = scenarios.log_everything(git_env.main_url, git_env.tmp)
    scenarios.check_read_back(git_env.main_url, logged, git_env.tmp)
    scenarios.delete_notes(git_env.main_url, logged)
    checks.check_proxied_history(git_env.store_uri, logged)
    # the model directory is a real tree in the repository: plain git sees it
    repo = git_env.store_uri.split("://", 1)[1]
    listing = subprocess.run(
        ["git", "-C", repo, "ls-tree", "-r", "--name-only", "main", f"{logged.experiment_id}/models/{logged.model_id}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert f"{logged.experiment_id}/models/{logged.model_id}/artifacts/MLmodel" in listing


def test_direct_mode_full_scenario(git_env: GitEnv) -> None:
    location = f"{git_env.store_uri}@direct-a/exp-a"
    logged = scenarios.log_everything(git_env.main_url, git_env.tmp, artifact_location=location)
    assert logged.artifact_uri.startswith("artifactstore+git:")
    scenarios.check_read_back(git_env.main_url, logged, git_env.tmp)
    scenarios.delete_notes(git_env.main_url, logged)
    checks.check_direct_history(f"{git_env.store_uri}@direct-a", "exp-a", logged)


def test_two_direct_experiments_on_two_branches_are_isolated(git_env: GitEnv) -> None:
    client = MlflowClient(git_env.main_url)
    a = client.create_experiment("iso-a", artifact_location=f"{git_env.store_uri}@iso-a/exp")
    b = client.create_experiment("iso-b", artifact_location=f"{git_env.store_uri}@iso-b/exp")
    run_a = scenarios.log_concurrently(git_env.main_url, a, runs=1, files=2)[0]
    run_b = scenarios.log_concurrently(git_env.main_url, b, runs=1, files=2)[0]
    store = artifactstore.open(git_env.store_uri)
    assert store.exists(f"exp/{run_a}/artifacts/parts/part-0.txt", rev="iso-a")
    assert not store.exists(f"exp/{run_b}", rev="iso-a")
    assert store.exists(f"exp/{run_b}/artifacts/parts/part-1.txt", rev="iso-b")
    assert not store.exists(f"exp/{run_a}", rev="iso-b")


def test_two_servers_on_two_branches_are_isolated(git_env: GitEnv) -> None:
    on_main = scenarios.log_concurrently(git_env.main_url, "0", runs=1, files=1)[0]
    on_branch = scenarios.log_concurrently(git_env.branch_url, "0", runs=1, files=1)[0]
    store = artifactstore.open(git_env.store_uri)
    assert store.exists(f"0/{on_main}/artifacts/parts/part-0.txt", rev="main")
    assert not store.exists(f"0/{on_branch}", rev="main")
    assert store.exists(f"0/{on_branch}/artifacts/parts/part-0.txt", rev="exp-2")
    assert not store.exists(f"0/{on_main}", rev="exp-2")
    # and each server lists only its own branch
    assert MlflowClient(git_env.branch_url).list_artifacts(on_branch, "parts")[0].path == "parts/part-0.txt"


def test_two_runs_logging_at_the_same_time(git_env: GitEnv) -> None:
    experiment = MlflowClient(git_env.main_url).create_experiment("concurrent")
    run_ids = scenarios.log_concurrently(git_env.main_url, experiment, runs=2, files=8)
    for run_id in run_ids:
        commits = scenarios.history(git_env.store_uri, f"{experiment}/{run_id}/artifacts")
        assert len(commits) == 8  # one commit per PUT, none lost to the race


def test_uploads_while_gc_runs_in_another_process_all_land(git_env: GitEnv) -> None:
    """A cron job runs ``artifactstore gc`` while someone logs: every upload lands, byte-identical.

    Each round, gc deletes what a throwaway branch left, holding the store's gc lock meanwhile;
    an upload that arrives then waits for it in a worker thread, off the server's event loop
    (``tests/mlflow/test_repository.py`` checks which thread commits).
    """
    client = MlflowClient(git_env.main_url)
    run_id = client.create_run(client.create_experiment("beside-gc")).info.run_id
    store = artifactstore.open(git_env.store_uri)
    stop = threading.Event()
    removed: list[int] = []
    failures: list[str] = []

    def gc_rounds() -> None:
        try:
            while not stop.is_set():
                store.create_branch("scratch-for-gc")
                store.put_bytes("dead.bin", random.randbytes(300), branch="scratch-for-gc")
                store.delete_branch("scratch-for-gc")
                result = scenarios.cli("gc", git_env.store_uri, "--grace", "0", "--json")
                if result.returncode != 0:
                    failures.append(result.stderr)
                    return
                removed.append(json.loads(result.stdout)["objects_removed"])
        except Exception as exc:  # handed to the test's thread
            failures.append(repr(exc))

    sent: dict[str, bytes] = {}

    def upload() -> None:
        name = f"beside-gc-{len(sent)}.txt"
        sent[name] = random.randbytes(2048)
        (git_env.tmp / name).write_bytes(sent[name])
        client.log_artifact(run_id, str(git_env.tmp / name), "beside-gc")

    upload()  # the branch has a commit to start the scratch branch from
    gc = threading.Thread(target=gc_rounds)
    gc.start()
    try:
        while len(removed) < 3 and len(sent) < 2000 and not failures:  # until gc has finished three rounds
            upload()
    finally:
        stop.set()
        gc.join(120)
    assert not failures, failures
    assert len(removed) >= 3 and min(removed) >= 1, removed  # each round deleted the scratch branch's objects
    target = Path(client.download_artifacts(run_id, "beside-gc", str(git_env.tmp / "beside-gc-down")))
    assert {p.name: p.read_bytes() for p in target.iterdir()} == sent
    assert store.fsck().ok, store.fsck().problems


def test_bad_paths_answer_400_and_write_nothing(git_env: GitEnv) -> None:
    store = artifactstore.open(git_env.store_uri)
    before = store.branches()
    checks.check_bad_paths_rejected(git_env.main_url)
    assert store.branches() == before


def test_trace_data_and_logged_models(git_env: GitEnv) -> None:
    mlflow.set_tracking_uri(git_env.main_url)
    experiment = mlflow.create_experiment("traces")
    mlflow.set_experiment(experiment_id=experiment)

    @mlflow.trace
    def add(a: int, b: int) -> int:
        return a + b

    assert add(2, 3) == 5
    mlflow.flush_trace_async_logging()
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id is not None
    trace = mlflow.get_trace(trace_id)
    assert trace is not None and trace.data.spans[0].name == "add"
    # The trace's artifact location is served by the adapter: store and read trace data there.
    location = trace.info.tags["mlflow.artifactLocation"]
    assert location.endswith(f"{experiment}/traces/{trace_id}/artifacts")
    repo = get_artifact_repository(scenarios._resolved_artifact_uri(git_env.main_url, location))
    repo.upload_trace_data('{"spans": [], "request_metadata": {}}')
    assert repo.download_trace_data() == {"spans": [], "request_metadata": {}}
    messages = checks.first_lines(scenarios.history(git_env.store_uri, f"{experiment}/traces/{trace_id}/artifacts"))
    # MLflow may have stored the spans there itself first; every write is a commit naming the trace
    assert set(messages) == {f"mlflow: log traces.json (experiment {experiment}, trace {trace_id})"}
    assert 1 <= len(messages) <= 2

    # A LoggedModel created on its own (no run) keeps its artifacts under models/<id>/artifacts.
    model = mlflow.initialize_logged_model(name="standalone", experiment_id=experiment)
    src = git_env.tmp / "standalone"
    src.mkdir()
    (src / "weights.txt").write_text("w")
    MlflowClient(git_env.main_url).log_model_artifacts(model.model_id, str(src))
    store = artifactstore.open(git_env.store_uri)
    assert store.read_bytes(f"{experiment}/models/{model.model_id}/artifacts/weights.txt") == b"w"


def test_large_files_are_sent_from_disk_with_the_built_in_headers(git_env: GitEnv) -> None:
    big = 1024 * 1024 + 1  # above the inline threshold: Git LFS files
    files = {
        "table.csv": (b"id,score\n" + b"7,0.25\n" * big)[:big],
        "weights.bin": random.Random(5).randbytes(big),
        "notes.txt": b"small, kept in a git blob",
    }
    run_id = scenarios.log_files(git_env.main_url, git_env.tmp, files)
    for name, data in files.items():
        url_path = checks.artifact_url_path(f"0/{run_id}/artifacts/{name}")
        status, headers, body = checks.http_exchange(git_env.main_url, "GET", url_path)
        assert (status, body == data) == (200, True), (name, status, body[:200])
        assert headers["content-type"].split(";")[0] == _guess_mime_type(name), name  # as the built-in sends it
        if len(data) >= big:  # sent from disk: its length is known up front, no temporary copy was made
            assert headers["content-length"] == str(len(data)), name
        query = urllib.parse.urlencode({"path": name, "run_uuid": run_id})
        status, _, body = checks.http_exchange(git_env.main_url, "GET", f"/get-artifact?{query}")  # the UI's route
        assert (status, body == data) == (200, True), (name, status, body[:200])

    # A file whose size no longer matches its pointer is refused, never sent
    with _lfs_object_holding(git_env.store_uri, files["weights.bin"], files["weights.bin"][:-1]):
        weights = checks.artifact_url_path(f"0/{run_id}/artifacts/weights.bin")
        status, _, body = checks.http_exchange(git_env.main_url, "GET", weights)
        assert status >= 500 and b"artifactstore fsck" in body, (status, body[:300])


def test_the_artifactstore_app_streams_git_files_and_checks_them(git_env: GitEnv) -> None:
    # The branch server is `artifactstore server`: MLflow with --app-name artifactstore.
    data = random.Random(6).randbytes(1024 * 1024 + 1)  # above the inline threshold: a Git LFS file
    run_id = scenarios.log_files(git_env.branch_url, git_env.tmp, {"weights.bin": data})
    url_path = checks.artifact_url_path(f"0/{run_id}/artifacts/weights.bin")
    status, headers, body = checks.http_exchange(git_env.branch_url, "GET", url_path)
    assert (status, body == data, headers["content-length"]) == (200, True, str(len(data)))

    # One byte changed, the size kept: sent from disk, as MLflow's own routes do (the UI's too),
    # it would go out whole; streamed, its SHA-256 is checked and the body stops short.
    ui_path = "/get-artifact?" + urllib.parse.urlencode({"path": "weights.bin", "run_id": run_id})
    with _lfs_object_holding(git_env.store_uri, data, data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:]):
        for path in (url_path, ui_path):
            with pytest.raises(http.client.IncompleteRead) as short:
                checks.http_exchange(git_env.branch_url, "GET", path)
            assert len(short.value.partial) < len(data), path
    status, _, body = checks.http_exchange(git_env.branch_url, "GET", url_path)
    assert (status, body == data) == (200, True)


@contextlib.contextmanager
def _lfs_object_holding(store_uri: str, data: bytes, damaged: bytes) -> Iterator[None]:
    """The Git LFS object of ``data`` holds ``damaged`` inside the block, ``data`` again after it."""
    digest = hashlib.sha256(data).hexdigest()
    lfs_file = Path(store_uri.split("://", 1)[1], "lfs", "objects", digest[:2], digest[2:4], digest)
    lfs_file.chmod(0o644)
    try:
        lfs_file.write_bytes(damaged)
        yield
    finally:
        lfs_file.write_bytes(data)
        lfs_file.chmod(0o444)
