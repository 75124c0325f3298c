"""A store made and written through the CLI, then inspected with git itself."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ARTIFACTSTORE = str(Path(sys.executable).with_name("artifactstore"))


def cli(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([ARTIFACTSTORE, *args], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"artifactstore {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def cli_repo(tmp_path_factory: pytest.TempPathFactory, git_env: dict[str, str]) -> tuple[Path, str, str, bytes, bytes]:
    tmp_path = tmp_path_factory.mktemp("cli")
    repo = tmp_path / "artifacts"
    uri = f"artifactstore+git://{repo}"
    cli(git_env, "init", uri)
    small = b'{"mae": 0.25}\n'
    large = os.urandom(3 * 1024 * 1024 + 17)  # above the default inline threshold
    (tmp_path / "metrics.json").write_bytes(small)
    (tmp_path / "model.bin").write_bytes(large)
    first = cli(git_env, "put", uri, str(tmp_path / "metrics.json"), "run1/metrics.json", "-m", "log metrics of run1")
    second = cli(git_env, "put", uri, str(tmp_path / "model.bin"), "run1/model.bin", "-m", "log model of run1")
    return repo, first.strip(), second.strip(), small, large


def test_init_creates_bare_repository_with_head_on_main(cli_repo, git) -> None:
    repo = cli_repo[0]
    assert git(repo, "rev-parse", "--is-bare-repository").strip() == "true"
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"


def test_git_log_shows_history_with_messages_and_author(cli_repo, git) -> None:
    repo, first, second, _, _ = cli_repo
    log = git(repo, "log", "--stat", "--format=%H|%an <%ae>|%at|%s", "main")
    assert "log model of run1" in log
    assert "log metrics of run1" in log
    assert "run1/metrics.json" in log
    assert "run1/model.bin" in log
    lines = [line for line in log.splitlines() if "|" in line and not line.startswith(" ")]
    assert len(lines) == 2
    head_id, author, when, subject = lines[0].split("|")
    assert subject == "log model of run1"
    assert head_id in second  # the id the CLI printed is what git sees
    assert lines[1].split("|")[0] in first
    assert author == "Test Suite <tests@artifactstore.invalid>"
    assert abs(int(when) - __import__("time").time()) < 3600  # a real timestamp, not epoch 0
    assert git(repo, "rev-list", "--count", "main").strip() == "2"


def test_git_show_prints_small_file_and_commit(cli_repo, git) -> None:
    repo, _, _, small, _ = cli_repo
    assert git(repo, "show", "main:run1/metrics.json").encode() == small
    shown = git(repo, "show", "--stat", "main~1")
    assert "log metrics of run1" in shown
    assert "run1/metrics.json | 1 +" in shown


def test_large_file_is_an_lfs_pointer_and_its_bytes_are_in_lfs_objects(cli_repo, git) -> None:
    repo, _, _, _, large = cli_repo
    sha = hashlib.sha256(large).hexdigest()
    blob = git(repo, "rev-parse", "main:run1/model.bin").strip()
    assert git(repo, "cat-file", "-t", blob).strip() == "blob"
    pointer = git(repo, "cat-file", "-p", blob)
    assert pointer == f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(large)}\n"
    stored = repo / "lfs" / "objects" / sha[:2] / sha[2:4] / sha
    assert stored.read_bytes() == large
    assert not any((repo / "lfs" / "tmp").iterdir())  # no temporary file left behind


def test_git_fsck_finds_a_sound_repository(cli_repo, git) -> None:
    repo = cli_repo[0]
    proc = subprocess.run(["git", "-C", str(repo), "fsck", "--full", "--strict"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "error" not in proc.stderr.lower()


def test_cli_reads_back_both_files(cli_repo, git_env) -> None:
    repo, _, _, small, large = cli_repo
    proc = subprocess.run(
        [ARTIFACTSTORE, "cat", f"artifactstore+git://{repo}", "run1/model.bin"],
        env=git_env,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == large
    assert cli(git_env, "cat", f"artifactstore+git://{repo}", "run1/metrics.json").encode() == small
