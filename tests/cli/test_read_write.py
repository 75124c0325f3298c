"""put, cat, get, ls and rm: files and directories in, bytes and listings out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import artifactstore

from .conftest import Invoke


def test_put_file_prints_commit_id_and_cat_streams_exact_bytes(cli: Invoke, mem_uri: str, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 5000 + b"\x00\r\n\xff"  # > 1 MiB, every byte value, no text decoding
    src = tmp_path / "model.bin"
    src.write_bytes(payload)
    run = cli("put", mem_uri, str(src), "-m", "first model")
    commit_id = run.stdout.strip()
    assert len(commit_id) == 40
    store = artifactstore.open(mem_uri)
    assert store.resolve("main") == commit_id
    assert store.get_commit(commit_id).message == "first model"
    assert cli("cat", mem_uri, "model.bin").stdout_bytes == payload


def test_put_file_to_dest_on_branch(cli: Invoke, mem_uri: str, tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text('{"a": 1}')
    cli("put", mem_uri, str(tmp_path / "m.json"), "runs/1/metrics.json", "-b", "exp")
    store = artifactstore.open(mem_uri)
    assert store.read_bytes("runs/1/metrics.json", rev="exp") == b'{"a": 1}'
    assert "main" not in store.branches()


def test_put_directory_is_one_commit(cli: Invoke, mem_store: artifactstore.ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "weights.bin").write_bytes(b"w" * 100)
    (src / "sub" / "config.yaml").write_text("layers: 3\n")
    cli("put", mem_store.uri, str(src), "models/m1")
    assert len(list(mem_store.log())) == 1
    assert [e.path for e in mem_store.list("models/m1", recursive=True)] == [
        "models/m1/sub/config.yaml",
        "models/m1/weights.bin",
    ]


def test_put_directory_without_dest_goes_to_the_uri_path(cli: Invoke, mem_uri: str, tmp_path: Path) -> None:
    src = tmp_path / "d"
    src.mkdir()
    (src / "a.txt").write_text("a")
    cli("put", f"{mem_uri}/base", str(src))
    assert artifactstore.open(mem_uri).read_bytes("base/a.txt") == b"a"


def test_put_empty_directory_is_refused_and_writes_nothing(
    cli: Invoke, mem_store: artifactstore.ArtifactStore, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    run = cli("put", mem_store.uri, str(tmp_path / "empty"), expect=1)
    assert "holds no files" in run.stderr
    assert str(tmp_path / "empty") in run.stderr
    assert mem_store.branches() == {}


def test_put_from_stdin_needs_dest(cli: Invoke, mem_uri: str) -> None:
    cli("put", mem_uri, "-", "notes.txt", stdin=b"from stdin\x00")
    assert artifactstore.open(mem_uri).read_bytes("notes.txt") == b"from stdin\x00"
    run = cli("put", mem_uri, "-", stdin=b"x", expect=2)
    assert "DEST" in run.stderr


def test_put_missing_source_is_a_usage_error(cli: Invoke, mem_store: artifactstore.ArtifactStore, tmp_path: Path) -> None:
    run = cli("put", mem_store.uri, str(tmp_path / "nope.bin"), expect=2)
    assert "nope.bin" in run.stderr
    assert mem_store.branches() == {}


def test_put_json_reports_the_commit(cli: Invoke, mem_uri: str, tmp_path: Path) -> None:
    size = 1536 * 1024  # above the memory store's inline threshold: the engine counts content-store bytes
    (tmp_path / "f").write_bytes(b"z" * size)
    data = json.loads(cli("put", mem_uri, str(tmp_path / "f"), "--json").stdout)
    assert data["branch"] == "main"
    assert data["message"] == "put f"
    assert data["logical_bytes"] == size
    assert data["new_bytes"] == size
    assert data["id"] == artifactstore.open(mem_uri).resolve()
    again = json.loads(cli("put", mem_uri, str(tmp_path / "f"), "copy", "--json").stdout)
    assert again["new_bytes"] == 0  # deduplicated


def test_cat_old_revision_and_errors(cli: Invoke, mem_store: artifactstore.ArtifactStore) -> None:
    mem_store.put_bytes("a.txt", b"one")
    mem_store.put_bytes("a.txt", b"two")
    mem_store.put_bytes("d/x", b"x")
    assert cli("cat", mem_store.uri, "a.txt").stdout_bytes == b"two"
    assert cli("cat", mem_store.uri, "a.txt", "-r", "main~2").stdout_bytes == b"one"
    missing = cli("cat", mem_store.uri, "b.txt", expect=1)
    assert missing.stderr.startswith("error: ") and "b.txt" in missing.stderr
    assert missing.stdout == ""
    directory = cli("cat", mem_store.uri, "d", expect=1)
    assert "'d'" in directory.stderr and "directory" in directory.stderr


def test_get_file_directory_and_old_revision(
    cli: Invoke, mem_store: artifactstore.ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mem_store.commit([artifactstore.Put("m/a.bin", b"A" * 10), artifactstore.Put("m/sub/b.bin", b"B")])
    mem_store.put_bytes("m/a.bin", b"changed")
    monkeypatch.chdir(tmp_path)
    run = cli("get", mem_store.uri, "m/a.bin")
    assert (tmp_path / "a.bin").read_bytes() == b"changed"
    assert "1 file" in run.stdout
    cli("get", mem_store.uri, "m/a.bin", "old.bin", "-r", "main~1")
    assert (tmp_path / "old.bin").read_bytes() == b"A" * 10
    (tmp_path / "into").mkdir()
    cli("get", mem_store.uri, "m/sub/b.bin", "into")
    assert (tmp_path / "into" / "b.bin").read_bytes() == b"B"
    data = json.loads(cli("get", mem_store.uri, "m", "out", "--json").stdout)
    assert data["files"] == 2 and data["bytes"] == len(b"changed") + 1
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()) == [
        "a.bin",
        "sub/b.bin",
    ]
    cli("get", mem_store.uri, "m")  # default DEST: a directory named like PATH
    assert (tmp_path / "m" / "sub" / "b.bin").read_bytes() == b"B"


def test_get_whole_store_needs_dest(cli: Invoke, mem_store: artifactstore.ArtifactStore, tmp_path: Path) -> None:
    mem_store.put_bytes("a", b"a")
    run = cli("get", mem_store.uri, "", expect=2)
    assert "DEST" in run.stderr
    cli("get", mem_store.uri, "", str(tmp_path / "all"))
    assert (tmp_path / "all" / "a").read_bytes() == b"a"


def test_get_missing_path_writes_nothing(cli: Invoke, mem_store: artifactstore.ArtifactStore, tmp_path: Path) -> None:
    mem_store.put_bytes("a", b"a")
    run = cli("get", mem_store.uri, "nope", str(tmp_path / "dest"), expect=1)
    assert "'nope'" in run.stderr
    assert not (tmp_path / "dest").exists()


@pytest.fixture
def tree(mem_store: artifactstore.ArtifactStore) -> artifactstore.ArtifactStore:
    mem_store.commit(
        [
            artifactstore.Put("README.md", b"hello"),
            artifactstore.Put("models/m1/weights.bin", b"x" * 2048),
            artifactstore.Put("models/m1/config.json", b"{}"),
            artifactstore.Put("models/m2.bin", b"y"),
        ]
    )
    return mem_store


def test_ls_one_level_plain(cli: Invoke, tree: artifactstore.ArtifactStore) -> None:
    lines = cli("ls", tree.uri).stdout.splitlines()
    assert [line.split() for line in lines] == [["5", "README.md"], ["-", "models/"]]
    lines = cli("ls", tree.uri, "models").stdout.splitlines()
    assert [line.split() for line in lines] == [["-", "m1/"], ["1", "m2.bin"]]


def test_ls_recursive_long_and_json(cli: Invoke, tree: artifactstore.ArtifactStore) -> None:
    lines = cli("ls", tree.uri, "models", "-R", "--long").stdout.splitlines()
    sha = tree.stat("models/m1/weights.bin").sha256
    assert ["2048", sha, "m1/weights.bin"] in [line.split() for line in lines]
    assert len(lines) == 3
    entries = json.loads(cli("ls", tree.uri, "-R", "--json").stdout)
    assert [e["path"] for e in entries] == ["README.md", "models/m1/config.json", "models/m1/weights.bin", "models/m2.bin"]
    assert entries[0] == {"path": "README.md", "kind": "file", "size": 5, "sha256": tree.stat("README.md").sha256}


def test_ls_a_file_shows_that_file(cli: Invoke, tree: artifactstore.ArtifactStore) -> None:
    assert cli("ls", tree.uri, "models/m2.bin").stdout.split() == ["1", "m2.bin"]


def test_ls_at_old_revision_and_under_uri_path(cli: Invoke, tree: artifactstore.ArtifactStore) -> None:
    tree.delete("models")
    assert cli("ls", tree.uri).stdout.split() == ["5", "README.md"]
    assert "models/" in cli("ls", tree.uri, "-r", "main~1").stdout
    assert cli("ls", f"{tree.uri}/models", "-r", "main~1").stdout.split() == ["-", "m1/", "1", "m2.bin"]


def test_ls_errors_name_the_input(cli: Invoke, tree: artifactstore.ArtifactStore) -> None:
    assert "'nope'" in cli("ls", tree.uri, "nope", expect=1).stderr
    assert "'nobranch'" in cli("ls", tree.uri, "-r", "nobranch", expect=1).stderr
    assert "'a//b'" in cli("ls", tree.uri, "a//b", expect=1).stderr


def test_rm_file_and_directory(cli: Invoke, tree: artifactstore.ArtifactStore) -> None:
    commit_id = cli("rm", tree.uri, "models/m1", "-m", "drop m1").stdout.strip()
    assert tree.resolve() == commit_id
    assert not tree.exists("models/m1")
    assert tree.get_commit().message == "drop m1"
    assert tree.read_bytes("models/m1/config.json", rev="main~1") == b"{}"
    run = cli("rm", tree.uri, "models/m1", expect=1)
    assert "'models/m1'" in run.stderr
    assert tree.resolve() == commit_id
