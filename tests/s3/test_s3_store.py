"""S3Store's own behaviour on a real local S3-protocol server: refs, content, keys, options."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import pytest
from artifactstore_s3 import S3Store
from artifactstore_s3.multipart import MAX_OBJECT, MAX_PARTS, MIN_PART, part_sizes
from artifactstore_s3.refs import S3RefPort

import artifactstore
from artifactstore.errors import InvalidInput, InvalidURI, NotFound, WriteRefused
from artifactstore.protocols import SupportsLocalFiles, SupportsQuickCommits

from .conftest import BUCKET, FaultProxy, make_file

A = b"a" * 40
B = b"b" * 40
C = b"c" * 40


def keys_under(store: S3Store, what: str) -> list[str]:
    prefix = store.conn.key(what) + "/"
    client = store.conn.client
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=store.conn.bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


# ---------------------------------------------------------------------- refs
def test_ref_cas_creates_updates_and_rejects_stale_values(s3_store: S3Store) -> None:
    refs = s3_store.refs
    assert refs.get("refs/heads/x") is None
    assert refs.compare_and_swap("refs/heads/x", None, A) is True
    assert refs.compare_and_swap("refs/heads/x", None, B) is False  # If-None-Match: * -> 412
    assert refs.compare_and_swap("refs/heads/x", B, C) is False  # stale old value
    assert refs.compare_and_swap("refs/heads/x", A, B) is True  # If-Match: <etag of A>
    assert refs.get("refs/heads/x") == B
    assert refs.list("refs/heads/") == {"refs/heads/x": B}


@pytest.mark.parametrize("conditional_delete", [True, False], ids=["conditional-delete", "tombstone"])
def test_ref_delete_by_cas(s3_store: S3Store, conditional_delete: bool) -> None:
    refs = s3_store.refs
    assert isinstance(refs, S3RefPort)
    s3_store.conn.require_conditional_writes()
    s3_store.conn.conditional_delete = conditional_delete
    assert refs.compare_and_swap("refs/tags/t", None, A)
    assert refs.compare_and_swap("refs/tags/t", B, None) is False
    assert refs.get("refs/tags/t") == A
    assert refs.compare_and_swap("refs/tags/t", A, None) is True
    assert refs.get("refs/tags/t") is None
    assert refs.list("refs/tags/") == {}
    # A deleted (or tombstoned) ref can be created again, and only once.
    assert refs.compare_and_swap("refs/tags/t", None, C) is True
    assert refs.compare_and_swap("refs/tags/t", None, A) is False
    assert refs.list("refs/tags/") == {"refs/tags/t": C}


def test_moto_server_honours_conditional_delete(s3_store: S3Store) -> None:
    # The probe found it, so branch deletion is a real conditional DELETE, not a tombstone.
    s3_store.conn.require_conditional_writes()
    assert s3_store.conn.conditional_delete is True


def test_refs_are_never_artifact_paths(s3_store: S3Store) -> None:
    s3_store.put_bytes("refs/heads/main", b"not a ref", message="a file named like a ref")
    s3_store.put_bytes(".artifactstore-like/config.json", b"{}")
    assert s3_store.read_bytes("refs/heads/main") == b"not a ref"
    assert len(s3_store.resolve()) == 40
    listing = s3_store.conn.client.list_objects_v2(Bucket=s3_store.conn.bucket, Prefix=s3_store.conn.prefix)
    own_root = s3_store.conn.root
    assert all(item["Key"].startswith(own_root) for item in listing["Contents"])


# ---------------------------------------------------------------------- content
def test_large_file_is_a_multipart_upload_with_sha256_checksums(s3_store: S3Store, tmp_path: Path) -> None:
    data_path = make_file(tmp_path / "model.bin", 12 * 1024 * 1024 + 17)
    commit = s3_store.put_file("model.bin", str(data_path))
    entry = s3_store.stat("model.bin")
    assert entry.size == data_path.stat().st_size
    assert commit.new_bytes == entry.size
    key = s3_store.content_port.key(entry.sha256 or "")
    head = s3_store.conn.client.head_object(Bucket=s3_store.conn.bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ETag"].strip('"').endswith("-3")  # 3 parts of 5 MiB (the store's part_size)
    assert head.get("ChecksumSHA256")
    assert s3_store.read_bytes("model.bin") == data_path.read_bytes()


def test_streamed_upload_is_staged_then_deduplicated(s3_store: S3Store, tmp_path: Path) -> None:
    data = make_file(tmp_path / "x", 11 * 1024 * 1024).read_bytes()
    first = s3_store.put_file("a.bin", io.BytesIO(data))
    second = s3_store.put_file("b.bin", io.BytesIO(data))
    third = s3_store.put_file("c.bin", str(tmp_path / "x"))
    assert first.new_bytes == len(data)
    assert second.new_bytes == 0 and third.new_bytes == 0
    assert len(keys_under(s3_store, "content")) == 1
    assert keys_under(s3_store, "staging") == []  # staging objects are removed after the copy
    assert s3_store.read_bytes("c.bin") == data


def test_small_content_is_one_put_with_if_none_match(s3_store: S3Store) -> None:
    data = os.urandom(600 * 1024)  # above the inline threshold, below one part
    assert s3_store.put_bytes("w.bin", data).new_bytes == len(data)
    assert s3_store.put_bytes("w2.bin", data).new_bytes == 0
    assert len(keys_under(s3_store, "content")) == 1


def test_open_seeks_with_ranged_reads(s3_store: S3Store, tmp_path: Path) -> None:
    data = make_file(tmp_path / "d", 9 * 1024 * 1024 + 5, seed=3).read_bytes()
    s3_store.put_file("d.bin", str(tmp_path / "d"))
    with s3_store.open("d.bin") as f:
        assert f.seekable()
        f.seek(8 * 1024 * 1024)
        assert f.read(10) == data[8 * 1024 * 1024 : 8 * 1024 * 1024 + 10]
        f.seek(-5, io.SEEK_END)
        assert f.read() == data[-5:]
        f.seek(3)
        assert f.read(4) == data[3:7]


def test_part_sizes_fit_5_tib_in_10000_parts() -> None:
    known = part_sizes(MAX_OBJECT)
    first = next(known)
    assert first * MAX_PARTS >= MAX_OBJECT and first % (1024 * 1024) == 0
    assert next(part_sizes(100)) == MIN_PART == 8 * 1024 * 1024
    unknown = part_sizes(None)
    total = sum(next(unknown) for _ in range(MAX_PARTS))
    assert total >= MAX_OBJECT


# ---------------------------------------------------------------------- object cache
def test_objects_are_cached_locally_and_verified(s3_store: S3Store) -> None:
    s3_store.put_bytes("small.txt", b"cached")
    cache = s3_store.object_port.cache
    assert cache is not None
    oid = s3_store.resolve().encode()
    assert cache.get(oid) is not None
    # A cache entry whose bytes do not hash to its id is never written.
    cache.discard(oid)
    cache.put(oid, 1, b"forged")
    assert cache.get(oid) is None


# ---------------------------------------------------------------------- keys, URIs, options
def test_overlong_prefix_is_refused_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: any request would fail
    with pytest.raises(InvalidInput, match="1024"):
        S3Store(BUCKET, "p" * 1000)


def test_overlong_branch_is_refused_before_content_is_uploaded(s3_server: object) -> None:
    long_prefix_store = S3Store(BUCKET, "q" * 800, create=True)
    branch = "b/" + "x" * 250
    with pytest.raises(InvalidInput, match="S3's limit of 1024"):
        long_prefix_store.put_bytes("big.bin", os.urandom(400 * 1024), branch=branch)
    assert keys_under(long_prefix_store, "content") == []
    assert keys_under(long_prefix_store, "objects") == []


def test_missing_store_and_bucket_are_clear_errors(s3_server: object) -> None:
    with pytest.raises(NotFound, match="artifactstore init"):
        artifactstore.open(f"artifactstore+s3://{BUCKET}/never-created")
    with pytest.raises(NotFound, match="bucket 'no-such-bucket-here' does not exist"):
        artifactstore.open("artifactstore+s3://no-such-bucket-here/x")
    with pytest.raises(InvalidURI, match="not a valid S3 bucket name"):
        artifactstore.open("artifactstore+s3://Bad_Bucket/x")
    with pytest.raises(InvalidInput, match="unknown option"):
        artifactstore.open(f"artifactstore+s3://{BUCKET}/x", endpoint="http://x")


def test_a_boolean_option_with_a_typo_is_refused_not_read_as_false(s3_uri: str) -> None:
    for name, bad in (("cache", "flase"), ("allow_unconditional_writes", "maybe"), ("cache", 0)):
        with pytest.raises(InvalidInput, match=f"option {name}={bad!r} for s3 store"):
            artifactstore.open(s3_uri, **{name: bad})
    store = artifactstore.open(s3_uri, cache="false", allow_unconditional_writes="no")
    store.put_bytes("a.txt", b"a")
    assert store.read_bytes("a.txt") == b"a"


def test_mlflow_style_paths_resolve_to_the_store(s3_store: S3Store) -> None:
    s3_store.put_bytes("1/run/artifacts/m.txt", b"m")
    uri = s3_store.uri
    store, located = artifactstore.open_with_path(f"{uri}/1/run/artifacts")
    assert store.uri == uri and located.path == "1/run/artifacts"
    assert store.read_bytes(f"{located.path}/m.txt") == b"m"
    branch_store, located = artifactstore.open_with_path(f"{uri}@exp%2F1/deep/dir")
    assert branch_store.uri == f"{uri}@exp%2F1" and located.path == "deep/dir"


def test_secrets_never_appear_in_logs_or_errors(
    s3_server: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "SECRETvalue-do-not-log-4c1f"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    caplog.set_level(logging.DEBUG)
    messages = []
    for uri in (f"artifactstore+s3://{BUCKET}/never", "artifactstore+s3://no-such-bucket-here/x"):
        with pytest.raises(NotFound) as info:
            artifactstore.open(uri)
        messages.append(str(info.value))
    assert all(secret not in m for m in messages)
    assert secret not in caplog.text


def test_endpoint_ignoring_conditional_writes_is_refused(fault_proxy: FaultProxy, s3_uri: str) -> None:
    fault_proxy.control("strip-conditions", on=1)
    store = artifactstore.open(s3_uri, endpoint_url=fault_proxy.endpoint_url)
    with pytest.raises(WriteRefused, match="allow_unconditional_writes=true"):
        store.put_bytes("a.txt", b"x")
    assert store.branches() == {}
    # The explicit single-writer opt-out writes anyway.
    single = artifactstore.open(s3_uri, endpoint_url=fault_proxy.endpoint_url, allow_unconditional_writes=True)
    single.put_bytes("a.txt", b"x")
    single.put_bytes("b.txt", b"y")
    assert single.read_bytes("a.txt") == b"x"
    assert [c.message for c in single.log()] == ["put b.txt", "put a.txt"]
    assert fault_proxy.control("stats")["stripped"]


def test_concurrent_creates_of_one_ref_have_exactly_one_winner(s3_uri: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    stores = [artifactstore.open(s3_uri) for _ in range(8)]
    names = [f"refs/heads/race-{n}" for n in range(10)]

    def attempt(args: tuple[int, str]) -> bool:
        worker, name = args
        value = f"{worker:040x}".encode()
        return bool(stores[worker].refs.compare_and_swap(name, None, value))  # type: ignore[attr-defined]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, [(w, name) for name in names for w in range(8)]))
    wins = [sum(results[i * 8 : (i + 1) * 8]) for i in range(len(names))]
    assert wins == [1] * len(names)


def test_fsck_checks_the_bucket_not_the_local_cache(s3_store: S3Store) -> None:
    commit = s3_store.put_bytes("f.txt", b"precious")
    blob = next(e for e in s3_store.list() if e.path == "f.txt")
    assert blob and s3_store.read_bytes("f.txt") == b"precious"  # now cached locally
    # Corrupt the commit object in the bucket only, leaving the good copy in the cache.
    key = s3_store.object_port.key(commit.id.encode())
    s3_store.conn.client.put_object(Bucket=s3_store.conn.bucket, Key=key, Body=b"x\x9c garbage")
    report = s3_store.fsck()
    assert not report.ok
    assert any(commit.id in problem for problem in report.problems)
    assert s3_store.object_port.cache is not None  # restored afterwards


def test_registered_conformance_target_runs_its_own_server(tmp_path: Path) -> None:
    from artifactstore.registry import get_registry

    target = get_registry().conformance_target("s3")
    before = os.environ.get("AWS_ENDPOINT_URL")
    with target.session():
        uri = target.new_store_uri(tmp_path)
        server = target._server  # type: ignore[attr-defined]
        assert server is not None and server.process.poll() is None
        assert os.environ["AWS_ENDPOINT_URL"] == server.endpoint_url
        store = artifactstore.open(uri)
        sha = store.put_bytes("x.bin", os.urandom(300 * 1024)).id
        assert store.resolve() == sha
        process = server.process
    assert process.poll() is not None  # stopped with the session
    assert os.environ.get("AWS_ENDPOINT_URL") == before


def test_gc_cleans_up_after_interrupted_uploads(s3_store: S3Store) -> None:
    conn = s3_store.conn
    kept = s3_store.put_bytes("kept.bin", os.urandom(300 * 1024))
    staging_key = conn.key("staging", "leftover")
    conn.client.put_object(Bucket=conn.bucket, Key=staging_key, Body=b"partial")
    conn.client.create_multipart_upload(Bucket=conn.bucket, Key=conn.key("content", "ab", "c" * 62))
    s3_store.gc(grace_seconds=3600)  # too young: kept
    assert keys_under(s3_store, "staging") == [staging_key]
    s3_store.gc(grace_seconds=0)
    assert keys_under(s3_store, "staging") == []
    uploads = conn.client.list_multipart_uploads(Bucket=conn.bucket, Prefix=conn.root).get("Uploads", [])
    assert uploads == []
    assert s3_store.resolve() == kept.id and len(s3_store.read_bytes("kept.bin")) == 300 * 1024


def test_no_commit_is_quick_when_every_write_is_a_request(s3_store: S3Store) -> None:
    assert not isinstance(s3_store, SupportsQuickCommits)
    assert not isinstance(s3_store, SupportsLocalFiles)
