"""What every end-to-end module does through MLflow's public client API, for any backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

ARTIFACTSTORE = str(Path(sys.executable).parent / "artifactstore")
BIG = 300_000  # above every backend's inline threshold, so content goes to the content port


@dataclass
class LoggedRun:
    run_id: str
    experiment_id: str
    artifact_uri: str
    model_uri: str
    model_id: str
    files: dict[str, bytes] = field(default_factory=dict)


def _training_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    return x, x @ np.array([1.5, -2.0, 0.5]) + 0.1


def log_everything(tracking_uri: str, tmp_path: Path, *, artifact_location: str | None = None) -> LoggedRun:
    """Log params, metrics, a file, a directory, text, a dict, an image and a sklearn model."""
    from sklearn.linear_model import LinearRegression

    mlflow.set_tracking_uri(tracking_uri)
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    experiment_id = mlflow.create_experiment(name, artifact_location=artifact_location)
    src = tmp_path / f"src-{name}"
    (src / "data" / "sub").mkdir(parents=True)
    notes = src / "notes.txt"
    notes.write_bytes(b"first notes\n")
    (src / "data" / "a.csv").write_bytes(b"x,y\n1,2\n")
    big = os.urandom(BIG)
    (src / "data" / "sub" / "b.bin").write_bytes(big)
    x, y = _training_data()
    model = LinearRegression().fit(x, y)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_metric("rmse", 0.25, step=1)
        mlflow.log_artifact(str(notes))
        mlflow.log_artifacts(str(src / "data"), "data")
        mlflow.log_text("hello text", "text/hello.txt")
        mlflow.log_dict({"k": [1, 2]}, "config/params.json")
        mlflow.log_image(np.full((8, 8, 3), 200, dtype=np.uint8), "images/img.png")
        info = mlflow.sklearn.log_model(model, name="model")
    return LoggedRun(
        run_id=run.info.run_id,
        experiment_id=experiment_id,
        artifact_uri=run.info.artifact_uri,
        model_uri=info.model_uri,
        model_id=info.model_id,
        files={
            "notes.txt": b"first notes\n",
            "data/a.csv": b"x,y\n1,2\n",
            "data/sub/b.bin": big,
            "text/hello.txt": b"hello text",
        },
    )


def check_read_back(tracking_uri: str, logged: LoggedRun, tmp_path: Path) -> None:
    """Params, metrics, listings with sizes, downloads, text, dict, image and the model round trip."""
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    run = client.get_run(logged.run_id)
    assert run.data.params == {"alpha": "0.5"}
    assert run.data.metrics == {"rmse": 0.25}

    top = {f.path: f for f in client.list_artifacts(logged.run_id)}
    assert set(top) == {"notes.txt", "data", "text", "config", "images"}
    assert top["notes.txt"].file_size == len(logged.files["notes.txt"])
    assert top["data"].is_dir
    data = {f.path: f for f in client.list_artifacts(logged.run_id, "data/sub")}
    assert data["data/sub/b.bin"].file_size == BIG

    out = tmp_path / f"download-{logged.run_id}"
    out.mkdir()
    local = mlflow.artifacts.download_artifacts(run_id=logged.run_id, artifact_path="data", dst_path=str(out))
    assert Path(local, "a.csv").read_bytes() == logged.files["data/a.csv"]
    assert Path(local, "sub", "b.bin").read_bytes() == logged.files["data/sub/b.bin"]

    base = f"runs:/{logged.run_id}"
    assert mlflow.artifacts.load_text(f"{base}/text/hello.txt") == "hello text"
    assert mlflow.artifacts.load_dict(f"{base}/config/params.json") == {"k": [1, 2]}
    image = mlflow.artifacts.load_image(f"{base}/images/img.png")
    assert image.size == (8, 8)
    assert image.getpixel((3, 3)) == (200, 200, 200)

    x, y = _training_data()
    loaded = mlflow.pyfunc.load_model(logged.model_uri)
    np.testing.assert_allclose(np.asarray(loaded.predict(x)).ravel(), y, atol=1e-6)


def delete_notes(tracking_uri: str, logged: LoggedRun) -> None:
    """Delete one artifact through MLflow's repository for the run (an HTTP DELETE when proxied)."""
    mlflow.set_tracking_uri(tracking_uri)
    repo = get_artifact_repository(_resolved_artifact_uri(tracking_uri, logged.artifact_uri))
    repo.delete_artifacts("notes.txt")
    names = {f.path for f in MlflowClient(tracking_uri).list_artifacts(logged.run_id)}
    assert "notes.txt" not in names
    assert "data" in names


def _resolved_artifact_uri(tracking_uri: str, artifact_uri: str) -> str:
    if artifact_uri.startswith("mlflow-artifacts:"):
        return artifact_uri.replace("mlflow-artifacts:", tracking_uri.rstrip("/") + "/api/2.0/mlflow-artifacts/artifacts", 1)
    return artifact_uri


def log_files(tracking_uri: str, tmp_path: Path, files: dict[str, bytes]) -> str:
    """Log each of ``files`` (name -> bytes) into a new run of the default experiment; return the run's id."""
    client = MlflowClient(tracking_uri)
    run_id = client.create_run("0").info.run_id
    src = tmp_path / f"files-{run_id}"
    src.mkdir()
    for name, data in files.items():
        (src / name).write_bytes(data)
        client.log_artifact(run_id, str(src / name))
    return run_id


def log_concurrently(tracking_uri: str, experiment_id: str, *, runs: int = 2, files: int = 8) -> list[str]:
    """Two runs logging files at the same time; return their run ids."""
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    run_ids = [client.create_run(experiment_id).info.run_id for _ in range(runs)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(runs)

    def work(run_id: str, tmp: Path) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(files):
                path = tmp / f"part-{i}.txt"
                path.write_text(f"{run_id} {i}")
                client.log_artifact(run_id, str(path), "parts")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        threads = []
        for run_id in run_ids:
            d = Path(tmp, run_id)
            d.mkdir()
            threads.append(threading.Thread(target=work, args=(run_id, d)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    assert not errors, errors
    for run_id in run_ids:
        listed = {f.path for f in client.list_artifacts(run_id, "parts")}
        assert listed == {f"parts/part-{i}.txt" for i in range(files)}
        for i in (0, files - 1):
            assert mlflow.artifacts.load_text(f"runs:/{run_id}/parts/part-{i}.txt") == f"{run_id} {i}"
    return run_ids


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARTIFACTSTORE, *args], capture_output=True, text=True, env=env, timeout=120)


def history(store_uri: str, path: str) -> list[dict[str, object]]:
    """``artifactstore log --json STORE PATH``: commits that touched ``path``, newest first."""
    result = cli("log", "--json", store_uri, path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    return data if isinstance(data, list) else data["commits"]


def cat(store_uri: str, path: str, rev: str | None = None) -> subprocess.CompletedProcess[str]:
    args = ["cat", store_uri, path] if rev is None else ["cat", "-r", rev, store_uri, path]
    return subprocess.run([ARTIFACTSTORE, *args], capture_output=True, timeout=120)  # type: ignore[return-value]
