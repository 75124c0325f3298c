"""Fixtures for the xet backend's own tests: real git repositories and the real hf-xet local CAS."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from artifactstore_xet import XetStore


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
