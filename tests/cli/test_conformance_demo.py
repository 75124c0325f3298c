"""conformance (a real pytest subprocess) and demo."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import artifactstore
from artifactstore.cli.conformance import pytest_command

from .conftest import Invoke, needs_git


def test_conformance_command_line() -> None:
    command = pytest_command("git", "artifactstore+git:///tmp/x", ("-x",), color=False)
    assert command[:3] == [sys.executable, "-m", "pytest"]
    assert command[command.index("-p") + 1] == "artifactstore_conformance"
    assert command[command.index("--pyargs") + 1] == "artifactstore_conformance.generic"
    assert command[command.index("--artifactstore-backend") + 1] == "git"
    assert command[command.index("--artifactstore-uri") + 1] == "artifactstore+git:///tmp/x"
    assert command[-1] == "-x"
    assert "--artifactstore-uri" not in pytest_command("memory", None, (), color=False)


def test_conformance_runs_the_suite_and_returns_pytests_exit_code(cli: Invoke) -> None:
    collected = cli("conformance", "--backend", "memory", "--", "--collect-only", "-q")
    node_ids = [line for line in collected.stdout.splitlines() if "::" in line]
    assert len(node_ids) > 40, collected.stdout
    assert "tests collected" in collected.stdout
    chosen = next((node for node in node_ids if "put" in node and "[" not in node), node_ids[0])
    name = chosen.rsplit("::", 1)[-1]
    run = cli("conformance", "--backend", "memory", "--", "-q", "-k", name)
    assert "1 passed" in run.stdout or "passed" in run.stdout.splitlines()[-1]
    nothing = cli("conformance", "--backend", "memory", "--", "-q", "-k", "no_test_is_called_this", expect=5)
    assert "deselected" in nothing.stdout  # pytest's own summary, relayed


def test_conformance_unknown_backend_and_missing_suite(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    run = cli("conformance", "--backend", "nosuch", expect=1)
    assert run.stderr.startswith("error: ") and "'nosuch'" in run.stderr
    assert "--backend" in cli("conformance", expect=2).stderr
    monkeypatch.setitem(sys.modules, "artifactstore_conformance", None)  # find_spec() then reports it missing
    run = cli("conformance", "--backend", "memory", expect=1)
    assert "pip install artifactstore-conformance" in run.stderr


def test_demo_on_memory(cli: Invoke, mem_uri: str) -> None:
    out = cli("demo", "--store", mem_uri).stdout
    assert '{"learning_rate": 0.1}' in out and '{"learning_rate": 0.01}' in out
    assert "experiment~1" in out and "M params.json" in out
    store = artifactstore.open(mem_uri)
    assert store.read_bytes("params.json", rev="experiment~1") == store.read_bytes("params.json", rev="main")
    assert [c.message for c in store.log("experiment")] == ["lower the learning rate", "first training run"]


@needs_git
def test_demo_default_store_is_git_under_cwd_and_reruns(cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = cli("demo").stdout
    repo = tmp_path / "artifactstore-data" / "demo"
    assert f"artifactstore+git://{repo.as_posix()}" in first
    assert (repo / ".git").is_dir() or (repo / "HEAD").is_file()
    second = cli("demo").stdout  # the branch left by the first run is replaced, not an error
    assert "lower the learning rate" in second
    store = artifactstore.open(f"artifactstore+git://{repo.as_posix()}")
    assert store.read_bytes("params.json", rev="experiment") == b'{"learning_rate": 0.01}\n'


def test_demo_bad_store_uri(cli: Invoke) -> None:
    run = cli("demo", "--store", "artifactstore+nosuch://x", expect=1)
    assert "'nosuch'" in run.stderr
