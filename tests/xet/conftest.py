"""Fixtures for the xet backend's own tests: real git repositories and the real hf-xet local CAS."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from artifactstore_xet import XetEndpoint, XetStore
from artifactstore_xet.session import forget_sessions
from artifactstore_xet.testing import CasServer


@pytest.fixture
def store(tmp_path: Path) -> Iterator[XetStore]:
    """A fresh store whose files above 1 KiB go to the Xet CAS."""
    s = XetStore(tmp_path / "store", create=True, inline_threshold=1024)
    yield s
    s.close()


def python_child(code: str, *args: str) -> subprocess.Popen[str]:
    """Start ``python -c code args...`` with stdout and stderr piped (for multi-process tests)."""
    env = {**os.environ, "ARTIFACTSTORE_PLUGINS": "git,xet"}
    pipe = subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdin=pipe, stdout=pipe, stderr=pipe, text=True
    )


def rchar() -> int:
    """Bytes this process has read through read()/pread() syscalls so far (Linux /proc)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("/proc/self/io has no rchar line")


@pytest.fixture
def cas_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CasServer]:
    """The test Xet CAS server in a child process on 127.0.0.1:0, with a fresh ``HF_XET_CACHE``.

    hf-xet retries a failed request a few times for minutes by default; here once, within
    seconds, so that a test of a dead server ends quickly.
    """
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "hf-xet-cache"))
    monkeypatch.setenv("HF_XET_CLIENT_RETRY_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("HF_XET_CLIENT_RETRY_MAX_DURATION", "3s")
    monkeypatch.setenv("HF_XET_CLIENT_RETRY_BASE_DELAY", "100ms")
    forget_sessions()  # the next session reads the variables above
    server = CasServer(tmp_path / "cas-server")
    server.start()
    yield server
    server.kill()
    monkeypatch.undo()
    forget_sessions()


def remote_store(server: CasServer, path: Path, *, create: bool = True, **options: object) -> XetStore:
    """A store at ``path`` whose content goes to ``server`` (``options`` override the endpoint settings)."""
    settings = {**server.store_options(), **options}
    return XetStore(path, create=create, inline_threshold=1024, endpoint=XetEndpoint.from_options(settings))
