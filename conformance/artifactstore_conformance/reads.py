"""Reads at the head: open, read_bytes, stat, exists, list, download; empty files and non-ASCII names."""

from __future__ import annotations

import io
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

import artifactstore
from artifactstore import ArtifactStore, NotFound, Put
from artifactstore.errors import IsADirectory, NotADirectory
from artifactstore.protocols import SupportsLocalFiles

from .fixtures import StoreFixtures
from .helpers import SAMPLE_TREE, big_size, put_sample, require, require_protocol, seeded_bytes, sha256_hex

NON_ASCII = "mod\u00e8les/\u6a21\u578b-\U0001f600.bin"


def _read_in_child(uri: str, path: str) -> bytes:
    with artifactstore.open(uri) as store:
        return store.read_bytes(path)


def _write_in_child(uri: str, path: str, data: bytes) -> str:
    with artifactstore.open(uri) as store:
        return store.put_bytes(path, data, message="written by a child process").id


class ReadTests(StoreFixtures):
    """open / read_bytes / stat / exists / list / download at the default branch's head."""

    def test_fresh_store_has_no_branches_or_tags(self, store: ArtifactStore) -> None:
        assert store.branches() == {}
        assert store.tags() == {}

    def test_read_bytes_returns_every_file_as_written(self, store: ArtifactStore) -> None:
        put_sample(store)
        for path, data in SAMPLE_TREE.items():
            assert store.read_bytes(path) == data, path

    def test_stat_of_a_file_gives_size_and_sha256(self, store: ArtifactStore) -> None:
        put_sample(store)
        entry = store.stat("data/train.csv")
        assert entry.path == "data/train.csv"
        assert entry.kind == "file"
        assert entry.name == "train.csv"
        assert entry.size == len(SAMPLE_TREE["data/train.csv"])
        assert entry.sha256 == sha256_hex(SAMPLE_TREE["data/train.csv"])

    def test_stat_of_a_directory_and_of_the_root(self, store: ArtifactStore) -> None:
        put_sample(store)
        directory = store.stat("data/raw")
        assert (directory.path, directory.kind, directory.size, directory.sha256) == ("data/raw", "dir", None, None)
        root = store.stat("")
        assert (root.path, root.kind) == ("", "dir")

    def test_stat_of_a_missing_path_raises_not_found(self, store: ArtifactStore) -> None:
        put_sample(store)
        with pytest.raises(NotFound, match="nope"):
            store.stat("data/nope")
        with pytest.raises(FileNotFoundError):
            store.read_bytes("nope.txt")

    def test_exists_for_files_directories_and_missing_paths(self, store: ArtifactStore) -> None:
        put_sample(store)
        assert store.exists("README.md")
        assert store.exists("data")
        assert store.exists("data/raw/part-0")
        assert store.exists("")
        assert not store.exists("data/missing")
        assert not store.exists("README.md/below-a-file")
        assert not store.exists("readme.md"), "lookups are case-sensitive"

    def test_list_one_level_gives_files_and_directories_sorted(self, store: ArtifactStore) -> None:
        put_sample(store)
        entries = store.list("")
        assert [(e.path, e.kind) for e in entries] == sorted(
            [("README.md", "file"), ("data", "dir"), ("empty.txt", "file"), ("mod\u00e8les", "dir")]
        )
        sub = store.list("data")
        assert [(e.path, e.kind) for e in sub] == [
            ("data/raw", "dir"),
            ("data/test.csv", "file"),
            ("data/train.csv", "file"),
        ]
        files = {e.path: e for e in sub if e.kind == "file"}
        assert files["data/test.csv"].sha256 == sha256_hex(SAMPLE_TREE["data/test.csv"])
        assert files["data/test.csv"].size == len(SAMPLE_TREE["data/test.csv"])

    def test_list_recursive_gives_files_only_sorted(self, store: ArtifactStore) -> None:
        put_sample(store)
        entries = store.list("", recursive=True)
        assert [e.path for e in entries] == sorted(SAMPLE_TREE)
        assert all(e.kind == "file" for e in entries)
        assert {e.path: e.sha256 for e in entries} == {p: sha256_hex(d) for p, d in SAMPLE_TREE.items()}
        assert [e.path for e in store.list("data", recursive=True)] == [
            "data/raw/part-0",
            "data/test.csv",
            "data/train.csv",
        ]

    def test_list_of_a_file_or_a_missing_directory_raises(self, store: ArtifactStore) -> None:
        put_sample(store)
        with pytest.raises(NotFound):
            store.list("no-such-dir")
        with pytest.raises((NotADirectory, NotFound)):
            store.list("README.md")

    def test_open_gives_a_seekable_stream(self, store: ArtifactStore) -> None:
        small = b"0123456789abcdef"
        large = seeded_bytes(big_size(store), seed=7)
        store.commit([Put("small.bin", small), Put("large.bin", large)], message="two sizes")
        for path, data in (("small.bin", small), ("large.bin", large)):
            with store.open(path) as f:
                assert f.seekable(), path
                assert f.read(4) == data[:4]
                assert f.seek(10) == 10
                assert f.read(3) == data[10:13]
                assert f.tell() == 13
                assert f.seek(-2, io.SEEK_END) == len(data) - 2
                assert f.read() == data[-2:]
                f.seek(5)
                assert f.seek(3, io.SEEK_CUR) == 8
                assert f.read(2) == data[8:10]
                f.seek(0)
                assert f.read() == data, path

    def test_empty_file_round_trips(self, store: ArtifactStore, tmp_path: Path) -> None:
        store.put_bytes("empty", b"")
        assert store.read_bytes("empty") == b""
        entry = store.stat("empty")
        assert (entry.kind, entry.size, entry.sha256) == ("file", 0, sha256_hex(b""))
        with store.open("empty") as f:
            assert f.read() == b""
        target = store.download("empty", tmp_path / "out")
        assert target.read_bytes() == b""

    def test_non_ascii_names_round_trip(self, store: ArtifactStore, tmp_path: Path) -> None:
        names = {NON_ASCII: b"a", "\u00e9t\u00e9/caf\u00e9.txt": b"b", "\u0416\u0443\u043a/\u0434.txt": b"c"}
        store.commit([Put(p, d) for p, d in names.items()], message="non-ascii \u00e9\u00e8")
        for path, data in names.items():
            assert store.read_bytes(path) == data
            assert store.stat(path).path == path
        assert [e.path for e in store.list("", recursive=True)] == sorted(names)
        assert store.list("\u00e9t\u00e9")[0].path == "\u00e9t\u00e9/caf\u00e9.txt"
        out = store.download("", tmp_path / "all")
        assert (out / "\u00e9t\u00e9" / "caf\u00e9.txt").read_bytes() == b"b"
        assert store.get_commit().message == "non-ascii \u00e9\u00e8"

    def test_download_a_file(self, store: ArtifactStore, tmp_path: Path) -> None:
        put_sample(store)
        target = store.download("data/train.csv", tmp_path / "nested" / "train.csv")
        assert target == tmp_path / "nested" / "train.csv"
        assert target.read_bytes() == SAMPLE_TREE["data/train.csv"]
        assert [p.name for p in target.parent.iterdir()] == ["train.csv"], "no temporary file is left"

    def test_download_a_directory_and_the_root(self, store: ArtifactStore, tmp_path: Path) -> None:
        put_sample(store)
        out = store.download("data", tmp_path / "data-copy")
        got = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert got == {p[len("data/") :]: d for p, d in SAMPLE_TREE.items() if p.startswith("data/")}
        root = store.download("", tmp_path / "root")
        got_root = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
        assert got_root == SAMPLE_TREE

    def test_download_of_a_missing_path_raises_and_writes_nothing(self, store: ArtifactStore, tmp_path: Path) -> None:
        put_sample(store)
        with pytest.raises(NotFound):
            store.download("missing", tmp_path / "x")
        assert not (tmp_path / "x").exists()

    def test_local_path_names_a_file_with_exactly_the_bytes(self, store: ArtifactStore) -> None:
        require_protocol(store, SupportsLocalFiles)
        assert isinstance(store, SupportsLocalFiles)
        put_sample(store)
        big = seeded_bytes(big_size(store), seed=7)
        store.put_bytes("model/weights.bin", big)
        old = store.resolve()
        store.put_bytes("model/weights.bin", b"replaced")
        local = store.local_path("model/weights.bin", rev=old)
        assert local is not None, "a store offering local files has one for a file above its inline threshold"
        assert local.read_bytes() == big
        small = store.local_path("data/train.csv")  # an inline file may or may not have one
        assert small is None or small.read_bytes() == SAMPLE_TREE["data/train.csv"]
        with pytest.raises(IsADirectory):
            store.local_path("model")
        with pytest.raises(NotFound):
            store.local_path("model/missing.bin")

    def test_reopening_by_uri_sees_the_same_history(self, store: ArtifactStore) -> None:
        head = put_sample(store)
        with artifactstore.open(store.uri) as again:
            assert again.resolve() == head
            assert again.read_bytes("README.md") == SAMPLE_TREE["README.md"]

    def test_another_process_reads_and_writes_a_persistent_store(self, store: ArtifactStore) -> None:
        require(store, "persistent")
        put_sample(store)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            assert pool.submit(_read_in_child, store.uri, "data/train.csv").result() == SAMPLE_TREE["data/train.csv"]
            child_commit = pool.submit(_write_in_child, store.uri, "from-child.txt", b"child").result()
        assert store.resolve() == child_commit
        assert store.read_bytes("from-child.txt") == b"child"


__all__ = ["ReadTests"]
