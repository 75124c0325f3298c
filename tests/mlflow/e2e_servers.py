"""Start and stop real ``mlflow server`` subprocesses on loopback for the end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import artifactstore

STARTUP_TIMEOUT = 120.0
#: Schemes the core distribution should register under "mlflow.artifact_repository"; until
#: its pyproject.toml declares them, the tests add them through a dist-info on PYTHONPATH.
CORE_SCHEMES = ("artifactstore+memory", "artifactstore")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_entry_points(directory: Path) -> Path:
    """A dist-info that registers the core's MLflow schemes, for subprocesses' PYTHONPATH."""
    info = directory / "artifactstore_mlflow_test_schemes-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: artifactstore-mlflow-test-schemes\nVersion: 0\n")
    lines = ["[mlflow.artifact_repository]"]
    lines += [f"{scheme} = artifactstore.mlflow:ArtifactStoreRepository" for scheme in CORE_SCHEMES]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return directory


def server_env(extra_path: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(extra_path), env.get("PYTHONPATH")) if p)
    # The job executor (huey worker processes) is not part of what we test and slows startup.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class RunningServer:
    """A server process group; ``url`` is its tracking URI."""

    def __init__(self, command: Sequence[str], *, port: int, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            list(command), env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not healthy after {timeout:.0f}s:\n{self.log_text()}")

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-8000:]

    def pids(self) -> list[int]:
        """The server and every process below it (uvicorn workers)."""
        out = subprocess.run(["ps", "-e", "-o", "pid=,pgid="], capture_output=True, text=True, check=True).stdout
        return [int(pid) for pid, pgid in (line.split() for line in out.splitlines()) if int(pgid) == self.process.pid]

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Workers may outlive the parent briefly; the group is ours alone.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()


@dataclass
class ServerSpec:
    """One server to start: ``mlflow server ARGS`` or, with ``artifactstore_cli``, ``artifactstore server ARGS``."""

    args: Sequence[str]
    artifactstore_cli: bool = False
    name: str = "server"


@contextlib.contextmanager
def mlflow_servers(specs: Sequence[ServerSpec], *, workdir: Path, entry_points: Path | None) -> Iterator[list[RunningServer]]:
    """Start every server at once (startups overlap), wait until all answer /health, stop them at the end."""
    started: list[RunningServer] = []
    try:
        for spec in specs:
            port = free_port()
            if spec.artifactstore_cli:
                command = [str(Path(sys.executable).parent / "artifactstore"), "server", "--port", str(port), *spec.args]
            else:
                command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), *spec.args]
            cwd = workdir / f"{spec.name}-{port}"
            cwd.mkdir(parents=True, exist_ok=True)
            started.append(
                RunningServer(command, port=port, env=server_env(entry_points), cwd=cwd, log_path=cwd / "server.log")
            )
        for server in started:
            server.wait_ready()
        yield started
    finally:
        for server in started:
            server.stop()


def new_store_uri(backend: str, tmp_path: Path) -> str:
    """A fresh empty store of ``backend``; its target's session must be active (s3 needs its server)."""
    target = artifactstore.get_registry().conformance_target(backend)
    return target.new_store_uri(tmp_path)


def backend_installed(backend: str) -> bool:
    try:
        artifactstore.get_registry().backend(backend)
    except artifactstore.errors.BackendUnavailable:
        return False
    return True
