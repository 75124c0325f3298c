"""Fixtures for the CLI tests: a click runner with deterministic output, fresh stores."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import artifactstore
from artifactstore.backends.memory import forget
from artifactstore.cli import main
from artifactstore.registry import get_registry, reset_registry

# rich decides "terminal or pipe" from these; the tests choose explicitly per test.
TERMINAL_VARS = ("TTY_COMPATIBLE", "FORCE_COLOR", "NO_COLOR", "TTY_INTERACTIVE")


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in TERMINAL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("ARTIFACTSTORE_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("ARTIFACTSTORE_ENV", raising=False)
    yield
    reset_registry()


@dataclass
class Run:
    """What one CLI invocation printed and returned."""

    exit_code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes


Invoke = Callable[..., Run]


@pytest.fixture
def cli() -> Invoke:
    """``cli("ls", uri, expect=0)`` runs the command in-process and checks its exit code.

    An exception that escapes the command (a bug, not a reported error) fails the test
    with its traceback instead of passing as "exit code 1".
    """
    runner = CliRunner()

    def invoke(*args: str, expect: int | None = 0, stdin: bytes | str | None = None, env: dict[str, str] | None = None) -> Run:
        result: Result = runner.invoke(main, list(args), input=stdin, env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        run = Run(result.exit_code, result.stdout, result.stderr, result.stdout_bytes)
        if expect is not None:
            assert run.exit_code == expect, f"exit {run.exit_code} != {expect}\nstdout: {run.stdout}\nstderr: {run.stderr}"
        return run

    return invoke


@pytest.fixture
def mem_uri() -> Iterator[str]:
    """A fresh memory store (memory stores live as long as this test process)."""
    name = f"cli-{uuid.uuid4().hex[:12]}"
    yield f"artifactstore+memory://{name}"
    forget(name)


@pytest.fixture
def mem_store(mem_uri: str) -> artifactstore.ArtifactStore:
    return artifactstore.open(mem_uri)


def git_installed() -> bool:
    return "git" in get_registry().backends()


needs_git = pytest.mark.skipif(not git_installed(), reason="the git backend (artifactstore-git) is not installed")


@pytest.fixture
def git_uri(tmp_path: Path, cli: Invoke) -> str:
    """An initialised git store in a temporary directory."""
    if not git_installed():
        pytest.skip("the git backend (artifactstore-git) is not installed")
    uri = f"artifactstore+git://{(tmp_path / 'repo').as_posix()}"
    cli("init", uri)
    return uri
