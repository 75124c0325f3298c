"""gc, fsck, stats, import, backends and init."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import artifactstore
from artifactstore.backends.memory import MemoryTarget
from artifactstore.registry import reset_registry

from .conftest import Invoke

BIG = 1536 * 1024  # above the memory store's inline threshold, so it lands in the content store


def test_gc_dry_run_then_collect(cli: Invoke, mem_store: artifactstore.ArtifactStore) -> None:
    mem_store.put_bytes("keep.txt", b"keep")
    mem_store.create_branch("tmp")
    mem_store.put_bytes("big.bin", b"g" * BIG, branch="tmp")
    mem_store.delete_branch("tmp")
    dry = json.loads(cli("gc", mem_store.uri, "--dry-run", "--grace", "0", "--json").stdout)
    assert dry["dry_run"] is True and dry["content_removed"] == 1 and dry["bytes_freed"] >= BIG
    assert "would remove" in cli("gc", mem_store.uri, "--dry-run", "--grace", "0").stdout
    assert mem_store.fsck().unreachable_content == 1  # dry run removed nothing
    assert "removed" in cli("gc", mem_store.uri, "--grace", "0").stdout
    assert mem_store.fsck().unreachable_content == 0
    assert mem_store.read_bytes("keep.txt") == b"keep"


def test_gc_grace_keeps_young_data_and_rejects_negative(cli: Invoke, mem_store: artifactstore.ArtifactStore) -> None:
    mem_store.create_branch("tmp", rev=mem_store.put_bytes("a", b"a").id)
    mem_store.put_bytes("big.bin", b"g" * BIG, branch="tmp")
    mem_store.delete_branch("tmp")
    assert json.loads(cli("gc", mem_store.uri, "--json").stdout)["content_removed"] == 0  # default grace: 1 hour
    assert "--grace" in cli("gc", mem_store.uri, "--grace", "-1", expect=2).stderr


def test_fsck_clean_and_corrupted(cli: Invoke, mem_store: artifactstore.ArtifactStore) -> None:
    mem_store.put_bytes("big.bin", b"f" * BIG)
    report = json.loads(cli("fsck", mem_store.uri, "--json").stdout)
    assert report["ok"] is True and report["content_checked"] == 1 and report["problems"] == []
    assert "0 problems" in cli("fsck", mem_store.uri).stdout
    sha = mem_store.stat("big.bin").sha256
    assert sha is not None
    MemoryTarget().corrupt_content(mem_store, sha)
    run = cli("fsck", mem_store.uri, expect=1)
    assert "problem: " in run.stdout
    assert run.stderr.startswith("error: fsck found 1 problem")
    report = json.loads(cli("fsck", mem_store.uri, "--json", expect=1).stdout)
    assert report["ok"] is False and len(report["problems"]) == 1


def test_stats_prints_the_store_figures(cli: Invoke, mem_store: artifactstore.ArtifactStore) -> None:
    mem_store.put_bytes("a.bin", b"s" * BIG)
    mem_store.put_bytes("a.bin", b"t" * BIG)
    mem_store.put_bytes("small.txt", b"small")
    expected = mem_store.stats()
    data = json.loads(cli("stats", mem_store.uri, "--json").stdout)
    assert data == {
        "files": expected.files,
        "logical_bytes": expected.logical_bytes,
        "stored_bytes": expected.stored_bytes,
        "dedup_ratio": expected.dedup_ratio,
    }
    assert data["files"] == 3 and data["logical_bytes"] == 2 * BIG + 5
    text = cli("stats", mem_store.uri).stdout
    assert f"({expected.logical_bytes} bytes)" in text and f"{expected.dedup_ratio:.2f}x" in text
    assert json.loads(cli("stats", mem_store.uri, "-r", "main~2", "--json").stdout)["files"] == 1


def test_stats_counts_a_file_stored_twice_as_dedup(cli: Invoke, mem_store: artifactstore.ArtifactStore) -> None:
    mem_store.put_bytes("a.bin", b"s" * BIG)
    mem_store.put_bytes("copy.bin", b"s" * BIG)
    data = json.loads(cli("stats", mem_store.uri, "--json").stdout)
    assert data["files"] == 2 and data["logical_bytes"] == 2 * BIG
    assert data["stored_bytes"] == BIG and data["dedup_ratio"] == pytest.approx(2.0)


def test_import_of_a_local_mlartifacts_tree_is_one_commit_below_the_uri_path(
    cli: Invoke, mem_store: artifactstore.ArtifactStore, tmp_path: Any
) -> None:
    src = tmp_path / "mlartifacts"
    (src / "1" / "run-a" / "artifacts").mkdir(parents=True)
    (src / "1" / "run-a" / "artifacts" / "model.pkl").write_bytes(b"model")
    (src / "1" / "run-b" / "artifacts").mkdir(parents=True)
    (src / "1" / "run-b" / "artifacts" / "model.pkl").write_bytes(b"model")
    run = cli("import", str(src), mem_store.uri + "/imported", "-b", "imp", "-m", "import it")
    assert run.stdout.strip() == mem_store.resolve("imp")
    assert mem_store.get_commit("imp").message == "import it"
    assert mem_store.read_bytes("imported/1/run-b/artifacts/model.pkl", rev="imp") == b"model"
    assert [e.path for e in mem_store.list("imported", rev="imp", recursive=True)] == [
        "imported/1/run-a/artifacts/model.pkl",
        "imported/1/run-b/artifacts/model.pkl",
    ]


def test_import_of_a_missing_source_names_it(cli: Invoke, mem_uri: str) -> None:
    run = cli("import", "/no/such/tree", mem_uri, expect=1)
    assert run.stderr.startswith("error: ") and "/no/such/tree" in run.stderr


def test_backends_lists_capabilities_and_install_hints(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACTSTORE_PLUGINS", "")  # only the built-in memory backend
    reset_registry()
    rows = {row["name"]: row for row in json.loads(cli("backends", "--json").stdout)}
    assert rows["memory"]["installed"] is True and rows["memory"]["persistent"] is False
    assert rows["git"] == {
        "name": "git",
        "installed": False,
        "install": "pip install artifactstore-git",
        "problem": rows["git"]["problem"],
    }
    assert "pip install artifactstore-git" in rows["git"]["problem"]
    text = cli("backends").stdout
    assert "memory" in text and "pip install artifactstore-s3" in text


def test_init_and_errors(cli: Invoke, tmp_path: Path, mem_uri: str) -> None:
    assert mem_uri in cli("init", mem_uri).stdout
    data = json.loads(cli("init", mem_uri, "--json").stdout)
    assert data == {"uri": mem_uri, "backend": "memory", "default_branch": "main"}
    run = cli("init", "artifactstore+nosuch://x", expect=1)
    assert "'nosuch'" in run.stderr and "memory" in run.stderr
    run = cli("ls", "ftp://host/x", expect=1)
    assert "'ftp://host/x'" in run.stderr
    run = cli("ls", "nameless", expect=1)
    assert "'nameless'" in run.stderr and "config" in run.stderr


def test_named_store_from_config(cli: Invoke, tmp_path: Path, mem_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[stores.models]\nuri = "{mem_uri}"\n')
    monkeypatch.setenv("ARTIFACTSTORE_CONFIG", str(config))
    (tmp_path / "w.bin").write_bytes(b"w")
    cli("put", "models", str(tmp_path / "w.bin"))
    assert artifactstore.open(mem_uri).read_bytes("w.bin") == b"w"
    assert cli("cat", "artifactstore://models", "w.bin").stdout == "w"
