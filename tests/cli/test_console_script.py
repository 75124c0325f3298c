"""The installed ``artifactstore`` console script, in real subprocesses, on a persistent git store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import needs_git

SCRIPT = shutil.which("artifactstore", path=str(Path(sys.executable).parent)) or shutil.which("artifactstore")


def run(env: dict[str, str], *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    assert SCRIPT is not None
    return subprocess.run([SCRIPT, *args], input=stdin, capture_output=True, env=env, timeout=120, check=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    clean = {k: v for k, v in os.environ.items() if k not in ("TTY_COMPATIBLE", "FORCE_COLOR", "NO_COLOR")}
    return {**clean, "HOME": str(home), "ARTIFACTSTORE_PLUGINS": "git", "ARTIFACTSTORE_CONFIG": str(tmp_path / "none.toml")}


@pytest.mark.skipif(SCRIPT is None, reason="the artifactstore console script is not installed (pip install -e .)")
@needs_git
def test_console_script_across_processes(env: dict[str, str], tmp_path: Path) -> None:
    uri = f"artifactstore+git://{(tmp_path / 'store').as_posix()}"
    assert run(env, "init", uri).returncode == 0
    payload = os.urandom(300_000)
    (tmp_path / "model.bin").write_bytes(payload)
    put = run(env, "put", uri, str(tmp_path / "model.bin"), "models/model.bin", "-m", "train")
    assert put.returncode == 0, put.stderr
    commit_id = put.stdout.decode().strip()
    assert len(commit_id) == 40

    cat = run(env, "cat", uri, "models/model.bin")
    assert cat.returncode == 0 and cat.stdout == payload
    log = run(env, "log", uri, "--oneline")
    assert log.stdout.decode().split() == [commit_id[:12], "train"]
    git_log = subprocess.run(
        ["git", "-C", str(tmp_path / "store"), "log", "--format=%H %s", "main"], capture_output=True, text=True, check=True
    )
    assert git_log.stdout.split() == [commit_id, "train"]  # an ordinary git repository underneath

    missing = run(env, "cat", uri, "models/nope.bin")
    assert missing.returncode == 1
    assert missing.stderr.decode().startswith("error: ") and "models/nope.bin" in missing.stderr.decode()
    assert b"Traceback" not in missing.stderr
    usage = run(env, "cat", uri)
    assert usage.returncode == 2 and b"PATH" in usage.stderr


@pytest.mark.skipif(SCRIPT is None, reason="the artifactstore console script is not installed (pip install -e .)")
@needs_git
def test_cat_into_a_closed_pipe_is_quiet(env: dict[str, str], tmp_path: Path) -> None:
    uri = f"artifactstore+git://{(tmp_path / 'store').as_posix()}"
    run(env, "init", uri)
    (tmp_path / "big.bin").write_bytes(b"z" * 8_000_000)
    assert run(env, "put", uri, str(tmp_path / "big.bin")).returncode == 0
    assert SCRIPT is not None
    cat = subprocess.Popen([SCRIPT, "cat", uri, "big.bin"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert cat.stdout is not None and cat.stderr is not None
    assert cat.stdout.read(10) == b"z" * 10
    cat.stdout.close()  # like "| head -c 10"
    stderr = cat.stderr.read()
    assert cat.wait(timeout=60) != 0
    assert b"Traceback" not in stderr and stderr.strip() == b""
