"""``artifactstore server`` without starting MLflow: what it runs, creates and refuses."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner

import artifactstore
from artifactstore.cli import main
from artifactstore.cli import server as server_module
from artifactstore.cli.server import STREAMING_APP, build_mlflow_command
from artifactstore.mlflow.app import create_app


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Capture the mlflow command instead of running it (our own seam)."""
    calls: list[list[str]] = []

    def fake_run(command: list[str]) -> int:
        calls.append(command)
        return 0

    monkeypatch.setattr(server_module, "_run", fake_run)
    monkeypatch.setattr(server_module, "_check_mlflow_scheme", lambda uri: None)
    return calls


def test_proxied_and_direct_command_lines() -> None:
    proxied = build_mlflow_command(
        "artifactstore+git:///srv/a", host="127.0.0.1", port=5001, workers=4, backend_store_uri="sqlite:///x.db", direct=False
    )
    assert proxied[1:4] == ["-m", "mlflow", "server"]
    assert proxied[proxied.index("--artifacts-destination") + 1] == "artifactstore+git:///srv/a"
    assert "--serve-artifacts" in proxied and proxied[proxied.index("--workers") + 1] == "4"
    direct = build_mlflow_command(
        "artifactstore+git:///srv/a", host="::1", port=1, workers=1, backend_store_uri=None, direct=True, extra=["--dev"]
    )
    assert direct[direct.index("--default-artifact-root") + 1] == "artifactstore+git:///srv/a"
    assert "--no-serve-artifacts" in direct and direct[-1] == "--dev" and "--backend-store-uri" not in direct
    assert "--app-name" not in direct  # nothing to download through the server


def test_proxied_servers_stream_downloads_unless_told_otherwise() -> None:
    def app_names(extra: list[str]) -> list[str]:
        command = build_mlflow_command(
            "artifactstore+xet:///srv/a", host="127.0.0.1", port=1, workers=4, backend_store_uri=None, direct=False, extra=extra
        )
        return [command[i + 1] for i, arg in enumerate(command) if arg == "--app-name"]

    assert app_names([]) == [STREAMING_APP]
    assert app_names(["--app-name", "basic-auth"]) == ["basic-auth"]  # the user's app, alone
    assert app_names(["--app-name=basic-auth"]) == []  # (passed through as given)
    assert app_names(["--dev"]) == []  # MLflow refuses --dev with --app-name
    (entry_point,) = [ep for ep in entry_points(group="mlflow.app") if ep.name == STREAMING_APP]
    assert entry_point.load() is create_app


def test_embedded_default_creates_store_and_tracking_db(tmp_path: Path, launched: list[list[str]]) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["server", "--data-dir", str(data), "--port", "5123"])
    assert result.exit_code == 0, result.output
    (command,) = launched
    store_uri = command[command.index("--artifacts-destination") + 1]
    backend = "xet" if "xet" in artifactstore.get_registry().backends() else "git"
    assert store_uri == f"artifactstore+{backend}://{(data / 'store').resolve()}"
    assert artifactstore.open(store_uri).branches() == {}  # created, empty
    assert command[command.index("--backend-store-uri") + 1] == f"sqlite:///{(data / 'mlflow.db').resolve()}"
    assert command[command.index("--workers") + 1] == "4"
    assert "http://127.0.0.1:5123" in result.output


def test_memory_store_runs_one_worker_and_refuses_more(tmp_path: Path, launched: list[list[str]]) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["server", "--store", "artifactstore+memory://srv", "--data-dir", str(tmp_path / "d")])
    assert ok.exit_code == 0, ok.output
    assert launched[0][launched[0].index("--workers") + 1] == "1"
    refused = runner.invoke(main, ["server", "--store", "artifactstore+memory://srv", "--workers", "4"])
    assert refused.exit_code == 1
    assert "--workers 4" in refused.output and "memory" in refused.output
    assert len(launched) == 1


def test_options_it_owns_cannot_be_passed_through(launched: list[list[str]]) -> None:
    result = CliRunner().invoke(
        main, ["server", "--store", "artifactstore+memory://srv", "--", "--artifacts-destination", "/tmp/x"]
    )
    assert result.exit_code == 1
    assert "--artifacts-destination is set by artifactstore server" in result.output
    assert launched == []


def test_user_tracking_store_is_passed_through(launched: list[list[str]]) -> None:
    result = CliRunner().invoke(
        main, ["server", "--store", "artifactstore+memory://srv", "--", "--backend-store-uri", "sqlite:///elsewhere.db"]
    )
    assert result.exit_code == 0, result.output
    (command,) = launched
    assert command.count("--backend-store-uri") == 1
    assert command[-2:] == ["--backend-store-uri", "sqlite:///elsewhere.db"]


def test_a_missing_store_is_not_created_silently(tmp_path: Path, launched: list[list[str]]) -> None:
    pytest.importorskip("artifactstore_git", reason="the git backend (artifactstore-git) is not installed")
    result = CliRunner().invoke(main, ["server", "--store", f"artifactstore+git://{tmp_path}/missing"])
    assert result.exit_code == 1
    assert "missing" in result.output
    assert launched == []
