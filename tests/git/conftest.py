"""Fixtures for the git backend's own tests: real repositories and the real ``git`` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from artifactstore_git import GitStore

if shutil.which("git") is None:  # pragma: no cover - the CI image has git
    pytest.skip("the git command is not installed (apt-get install git)", allow_module_level=True)

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Person",
    "GIT_AUTHOR_EMAIL": "person@example.invalid",
    "GIT_COMMITTER_NAME": "Person",
    "GIT_COMMITTER_EMAIL": "person@example.invalid",
}


@pytest.fixture(scope="module")
def git_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for subprocesses: an empty HOME (no user git config), only our plugins."""
    home = tmp_path_factory.mktemp("home")
    return {**os.environ, **GIT_ENV, "HOME": str(home), "ARTIFACTSTORE_PLUGINS": "git"}


@pytest.fixture(scope="module")
def git(git_env: dict[str, str]) -> Callable[..., str]:
    """Run ``git -C <repo> args...`` and return its stdout; fail the test on a non-zero exit."""

    def run(repo: Path, *args: str, check: bool = True) -> str:
        proc = subprocess.run(["git", "-C", str(repo), *args], env=git_env, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc.stdout

    return run


@pytest.fixture
def store(tmp_path: Path) -> GitStore:
    s = GitStore(tmp_path / "store", create=True, inline_threshold=1024)
    yield s
    s.close()


def python_child(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``python -c code`` with stdout piped (for multi-process tests)."""
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
