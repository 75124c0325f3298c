"""The xet backend's own behaviour: pointers, dedup figures, stats, gc rebuild, options."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from pathlib import Path

import pytest
from artifactstore_xet import XET_HASH_KEY, XetEndpoint, XetStore
from artifactstore_xet.conformance import XetConformanceTarget
from artifactstore_xet.rebuild import recover

import artifactstore
from artifactstore.errors import IntegrityError, InvalidInput, InvalidURI, NotFound

MIB = 1024 * 1024


def blocks(seed: int, n_blocks: int, block: int = 64 * 1024) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(block) for _ in range(n_blocks)]


def test_large_file_round_trips_and_its_pointer_carries_the_xet_hash(store: XetStore, tmp_path: Path) -> None:
    data = os.urandom(3 * MIB + 17)
    source = tmp_path / "w.bin"
    source.write_bytes(data)
    commit = store.put_file("model/w.bin", str(source))
    assert store.read_bytes("model/w.bin") == data
    assert commit.logical_bytes == len(data)
    assert commit.new_bytes is not None and commit.new_bytes >= len(data) * 0.99
    pointer = subprocess.run(
        ["git", "-C", str(store.layout.root), "show", "main:model/w.bin"], capture_output=True, text=True, check=True
    ).stdout
    lines = dict(line.split(" ", 1) for line in pointer.splitlines())
    assert lines["oid"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert lines["size"] == str(len(data))
    assert len(lines[XET_HASH_KEY]) == 64
    assert store.content_port.index.get(hashlib.sha256(data).hexdigest()).xet_hash == lines[XET_HASH_KEY]


def test_stream_upload_without_a_path(store: XetStore) -> None:
    import io

    data = os.urandom(2 * MIB)
    store.put_file("s.bin", io.BufferedReader(io.BytesIO(data)))  # type: ignore[arg-type]
    assert store.read_bytes("s.bin") == data
    assert store.stat("s.bin").sha256 == hashlib.sha256(data).hexdigest()


def test_new_version_with_a_tenth_changed_stores_about_a_tenth(store: XetStore) -> None:
    parts = blocks(1, 20, MIB)  # 20 MiB in 1 MiB blocks
    first = store.put_bytes("ckpt.bin", b"".join(parts))
    changed = list(parts)
    for i in (3, 11):  # 10% of the blocks
        changed[i] = os.urandom(MIB)
    second = store.put_bytes("ckpt.bin", b"".join(changed))
    assert first.new_bytes == first.logical_bytes
    assert second.new_bytes is not None and second.logical_bytes is not None
    # the changed blocks plus the content-defined chunks (~64 KiB) that straddle their edges
    assert 0.1 * second.logical_bytes <= second.new_bytes < 0.13 * second.logical_bytes
    third = store.put_bytes("copy.bin", b"".join(changed))
    assert third.new_bytes == 0
    stats = store.stats()
    assert stats.logical_bytes == 3 * len(b"".join(parts))
    unique = first.new_bytes + second.new_bytes
    assert stats.stored_bytes < unique * 1.15 + 2 * MIB  # + the dedup table's fixed size
    assert stats.dedup_ratio > 2


def test_stored_bytes_measures_the_cas_on_disk(store: XetStore) -> None:
    store.put_bytes("a.bin", os.urandom(MIB))
    cas = store.content_port.embedded_dir
    on_disk = sum(p.stat().st_size for p in cas.rglob("*") if p.is_file())
    assert store.content_port.stored_bytes() == on_disk
    assert on_disk > MIB


def _xorbs(store: XetStore) -> set[str]:
    root = store.content_port.embedded_dir
    return {p.name for p in root.rglob("xorbs/xorbs/*") if not p.name.endswith(".tagset")}


def test_gc_rebuild_reclaims_unreachable_content_and_keeps_the_rest(store: XetStore) -> None:
    keep = os.urandom(2 * MIB)
    also = os.urandom(MIB)
    drop = os.urandom(3 * MIB)
    store.put_bytes("keep.bin", keep)
    store.put_bytes("also.bin", also)
    store.create_branch("tmp")
    store.put_bytes("drop.bin", drop, branch="tmp")
    before, xorbs_before = store.content_port.stored_bytes(), _xorbs(store)
    store.delete_branch("tmp")
    report = store.gc(grace_seconds=0)
    assert report.content_removed == 1
    after = store.content_port.stored_bytes()
    assert after < before - 2.5 * MIB
    # the kept files were repacked into new xorbs; their pointers (Xet hashes) still resolve
    assert not _xorbs(store) & xorbs_before
    assert store.read_bytes("keep.bin") == keep
    assert store.read_bytes("also.bin") == also
    assert store.fsck().ok
    assert not store.content_port.embedded_dir.with_name("cas.old").exists()


def test_gc_within_grace_period_keeps_everything(store: XetStore) -> None:
    store.put_bytes("x.bin", os.urandom(MIB), branch="tmp")
    store.delete_branch("tmp")
    report = store.gc(grace_seconds=3600)
    assert report.content_removed == 0
    assert len(list(store.content_port.index)) == 1


def test_interrupted_rebuild_is_undone_when_the_store_is_opened(tmp_path: Path) -> None:
    store = XetStore(tmp_path / "s", create=True, inline_threshold=1024)
    data = os.urandom(MIB)
    store.put_bytes("a.bin", data)
    store.close()
    cas = store.content_port.embedded_dir
    os.rename(cas, cas.with_name("cas.old"))  # crash between the two renames of the swap
    (cas.with_name("cas.rebuild") / "junk").mkdir(parents=True)
    reopened = XetStore(tmp_path / "s")
    assert reopened.read_bytes("a.bin") == data
    assert not cas.with_name("cas.rebuild").exists()
    recover(cas)  # idempotent
    assert cas.is_dir()


def test_fsck_finds_a_corrupted_xorb_and_reads_raise(store: XetStore) -> None:
    good = os.urandom(MIB)
    bad = os.urandom(MIB)
    store.put_bytes("good.bin", good)
    store.put_bytes("bad.bin", bad)
    XetConformanceTarget().corrupt_content(store, hashlib.sha256(bad).hexdigest())
    with pytest.raises(IntegrityError):
        store.read_bytes("bad.bin")
    assert store.read_bytes("good.bin") == good
    report = store.fsck()
    assert len(report.problems) == 1
    assert hashlib.sha256(bad).hexdigest() in report.problems[0]


def test_progress_callback_sees_uploads_and_downloads(store: XetStore) -> None:
    seen: list[tuple[str, int, int | None]] = []
    store.progress = lambda direction, done, total: seen.append((direction, done, total))
    data = os.urandom(2 * MIB)
    store.put_bytes("p.bin", data)
    store.read_bytes("p.bin")
    uploads = [s for s in seen if s[0] == "upload"]
    downloads = [s for s in seen if s[0] == "download"]
    assert uploads and uploads[-1][1] == len(data)
    assert downloads and downloads[-1][1] == len(data) and downloads[-1][2] == len(data)


def test_uri_round_trip_options_and_history_in_git(tmp_path: Path) -> None:
    uri = f"artifactstore+xet://{tmp_path}/repo"
    with artifactstore.open(uri, create=True, inline_threshold=100) as store:
        assert isinstance(store, XetStore)
        assert store.uri == uri
        store.put_bytes("runs/1/metrics.csv", b"step,loss\n" * 50, message="run 1")
    # MLflow's scheme:/path rewrite and a path inside the store
    reopened, located = artifactstore.open_with_path(f"artifactstore+xet:{tmp_path}/repo/runs/1")
    assert located.path == "runs/1"
    assert reopened.read_bytes("runs/1/metrics.csv") == b"step,loss\n" * 50
    log = subprocess.run(["git", "-C", str(tmp_path / "repo"), "log", "--format=%s"], capture_output=True, text=True)
    assert log.stdout.splitlines() == ["run 1"]


def test_bad_options_are_refused_with_the_option_named(tmp_path: Path) -> None:
    uri = f"artifactstore+xet://{tmp_path}/r"
    with pytest.raises(InvalidInput, match="colour"):
        artifactstore.open(uri, create=True, colour="blue")
    with pytest.raises(InvalidInput, match="inline_threshold"):
        artifactstore.open(uri, create=True, inline_threshold="lots")
    with pytest.raises(InvalidInput, match="not an http"):
        artifactstore.open(uri, create=True, endpoint="ftp://cas.example")
    with pytest.raises(InvalidURI, match="query string"):
        XetStore.from_location(f"{tmp_path}/r?token=secret", create=True)
    with pytest.raises(NotFound, match="artifactstore init"):
        artifactstore.open(uri)
    assert not (tmp_path / "r").exists()


def test_remote_endpoint_comes_from_options_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert XetEndpoint.from_options({}) is None
    monkeypatch.setenv("ARTIFACTSTORE_XET_ENDPOINT", "https://cas.example")
    monkeypatch.setenv("ARTIFACTSTORE_XET_TOKEN", "s3cr3t-t0ken")
    monkeypatch.setenv("ARTIFACTSTORE_XET_TOKEN_EXPIRY", "2000000000")
    endpoint = XetEndpoint.from_options({})
    assert endpoint is not None and endpoint.local_dir is None
    assert endpoint.connect_kwargs() == {
        "endpoint": "https://cas.example",
        "token": "s3cr3t-t0ken",
        "token_expiry_unix_secs": 2000000000,
    }
    assert "s3cr3t" not in repr(endpoint)
    options = XetEndpoint.from_options({"endpoint": "https://other.example", "token_refresh_url": "https://t.example"})
    assert options is not None
    kwargs = options.connect_kwargs()
    assert kwargs["endpoint"] == "https://other.example" and kwargs["token_refresh_url"] == "https://t.example"
    with pytest.raises(InvalidInput, match="token expiry"):
        XetEndpoint.from_options({"token_expiry": "soon"})


def test_shared_local_cas_outside_the_store_is_used_but_never_rebuilt(tmp_path: Path) -> None:
    shared = tmp_path / "shared-cas"
    endpoint = XetEndpoint.local(shared)
    a = XetStore(tmp_path / "a", create=True, inline_threshold=1024, endpoint=endpoint)
    b = XetStore(tmp_path / "b", create=True, inline_threshold=1024, endpoint=endpoint)
    data = os.urandom(MIB)
    a.put_bytes("x.bin", data)
    second = b.put_bytes("y.bin", data)
    assert second.new_bytes == 0  # deduplicated across stores through the shared CAS
    assert not a.content_port.rebuildable
    a.create_branch("t")
    a.put_bytes("z.bin", os.urandom(MIB), branch="t")
    a.delete_branch("t")
    size = a.content_port.stored_bytes()
    assert a.gc(grace_seconds=0).content_removed == 1
    assert a.content_port.stored_bytes() == size
    assert b.read_bytes("y.bin") == data


def test_spool_streams_copies_a_stream_first_and_leaves_no_spool_file(tmp_path: Path) -> None:
    import io

    store = artifactstore.open(f"artifactstore+xet://{tmp_path}/sp", create=True, spool_streams="true")
    assert isinstance(store, XetStore) and store.content_port.spool_streams
    data = os.urandom(3 * MIB)
    commit = store.put_file("s.bin", io.BufferedReader(io.BytesIO(data)))  # type: ignore[arg-type]
    assert commit.new_bytes == len(data)
    assert store.read_bytes("s.bin") == data
    assert not list(store.content_port.directory.glob("spool-*"))


def test_only_files_kept_as_git_blobs_commit_quickly(store: XetStore) -> None:
    # Larger files queue for the local CAS, behind other processes' transfers: the MLflow
    # server must not wait for that on its event loop.
    assert store.commits_quickly(b"x" * 1024)
    assert not store.commits_quickly(b"x" * 1025)
    pointer_like = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 3\n"
    assert store.put_bytes("p", pointer_like) and store.read_bytes("p") == pointer_like
    assert not store.commits_quickly(pointer_like), "a file that reads as a pointer goes to the CAS too"
