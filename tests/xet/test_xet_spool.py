"""How a stream reaches the local CAS: from memory, straight in, or through a spool file.

``spool_streams="auto"`` (the default) streams straight into the CAS only when that cannot keep
another process waiting on a slow client: the CAS is free and the first chunk came fast.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from artifactstore_xet import XetStore, content, session
from artifactstore_xet.cas_lock import cas_lock

import artifactstore
from artifactstore.engine import ContentInfo
from artifactstore.errors import InvalidInput

from .conftest import python_child
from .test_xet_lock import HOLDER

MIB = 1024 * 1024


class _Spools:
    """Records whether each upload of a store went through a spool file."""

    def __init__(self, store: XetStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        port = store.content_port
        spool = port._spool_and_upload

        def counting(stream: io.BufferedIOBase, head: bytes = b"") -> ContentInfo:
            self.calls += 1
            return spool(stream, head)  # type: ignore[arg-type]

        monkeypatch.setattr(port, "_spool_and_upload", counting)


@pytest.fixture
def auto_store(tmp_path: Path) -> Iterator[XetStore]:
    s = XetStore(tmp_path / "store", create=True, inline_threshold=1024)
    assert s.content_port.spool_streams == "auto"  # the default
    yield s
    s.close()


def _stream(data: bytes) -> io.BufferedReader:
    return io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]


def test_a_stream_shorter_than_one_chunk_is_uploaded_from_memory(
    auto_store: XetStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    spools = _Spools(auto_store, monkeypatch)
    data = os.urandom(content.UPLOAD_CHUNK - 1)
    auto_store.put_file("m.bin", _stream(data))  # type: ignore[arg-type]
    assert spools.calls == 0
    assert auto_store.read_bytes("m.bin") == data


def test_a_fast_stream_goes_straight_into_a_free_cas(auto_store: XetStore, monkeypatch: pytest.MonkeyPatch) -> None:
    spools = _Spools(auto_store, monkeypatch)
    data = os.urandom(content.UPLOAD_CHUNK + 3 * MIB)
    commit = auto_store.put_file("f.bin", _stream(data))  # type: ignore[arg-type]
    assert spools.calls == 0
    assert commit.new_bytes == len(data)
    assert auto_store.read_bytes("f.bin") == data
    assert not list(auto_store.content_port.directory.glob("spool-*"))


def test_a_slow_stream_is_spooled_even_when_the_cas_is_free(auto_store: XetStore, monkeypatch: pytest.MonkeyPatch) -> None:
    spools = _Spools(auto_store, monkeypatch)
    monkeypatch.setattr(content, "FAST_PRODUCER", 10**18)  # no producer is this fast
    data = os.urandom(content.UPLOAD_CHUNK + MIB)
    auto_store.put_file("s.bin", _stream(data))  # type: ignore[arg-type]
    assert spools.calls == 1
    assert auto_store.read_bytes("s.bin") == data
    assert not list(auto_store.content_port.directory.glob("spool-*"))


def test_a_stream_is_spooled_while_another_process_holds_the_cas(
    auto_store: XetStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    spools = _Spools(auto_store, monkeypatch)
    lock_path = auto_store.content_port.directory / "cas.lock"
    child = python_child(HOLDER, str(lock_path))
    data = os.urandom(content.UPLOAD_CHUNK + MIB)
    done = threading.Event()
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            auto_store.put_file("b.bin", _stream(data))  # type: ignore[arg-type]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "held"
        uploader = threading.Thread(target=upload)
        uploader.start()
        assert not done.wait(1.0)  # spooled, and now waiting for the other process's turn
        assert spools.calls == 1
        child.stdin.write("release\n")
        child.stdin.flush()
        assert child.wait(timeout=30) == 0
        uploader.join(60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert done.is_set() and errors == []
    assert auto_store.read_bytes("b.bin") == data


def test_spool_streams_true_always_spools_and_false_never(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(2 * MIB)
    for value, expected in (("true", 1), ("false", 0), ("auto", 0)):
        store = artifactstore.open(f"artifactstore+xet://{tmp_path}/{value}", create=True, spool_streams=value)
        assert isinstance(store, XetStore)
        spools = _Spools(store, monkeypatch)
        store.put_file("x.bin", _stream(data))  # type: ignore[arg-type]
        assert (value, spools.calls) == (value, expected)
        assert store.read_bytes("x.bin") == data
        store.close()
    with pytest.raises(InvalidInput, match="spool_streams='sometimes'"):
        artifactstore.open(f"artifactstore+xet://{tmp_path}/bad", create=True, spool_streams="sometimes")
    assert not (tmp_path / "bad").exists()


def test_hold_if_free_is_refused_while_another_process_holds_the_cas(tmp_path: Path) -> None:
    path = tmp_path / "cas.lock"
    lock = cas_lock(path)
    with lock.hold_if_free() as free, lock.hold_if_free() as joined:
        assert (free, joined) == (True, True)  # threads of one process share a hold
    child = python_child(HOLDER, str(path))
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "held"
        with lock.hold_if_free() as free:
            assert free is False
        child.stdin.write("release\n")
        child.stdin.flush()
        assert child.wait(timeout=30) == 0
        with lock.hold_if_free() as free:
            assert free is True
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.fixture
def one_upload_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(session.ENV_MAX_UPLOADS, "1")
    monkeypatch.setattr(session, "_slots", None)  # made afresh from the environment


@pytest.mark.usefixtures("one_upload_slot")
def test_upload_slots_limit_concurrent_uploads_of_a_process() -> None:
    inside = threading.Event()
    release = threading.Event()

    def first() -> None:
        with session.upload_slot():
            inside.set()
            release.wait(30)

    holder = threading.Thread(target=first)
    holder.start()
    assert inside.wait(30)
    entered = threading.Event()

    def second() -> None:
        with session.upload_slot():
            entered.set()

    waiter = threading.Thread(target=second)
    waiter.start()
    assert not entered.wait(0.5)  # the only slot is taken
    release.set()
    assert entered.wait(30)
    holder.join(30)
    waiter.join(30)


@pytest.mark.usefixtures("one_upload_slot")
def test_concurrent_streams_with_one_slot_all_arrive_one_at_a_time(
    auto_store: XetStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Streams that go straight in hold the CAS while they wait for the slot, and the slot's
    # holder then joins that hold: no thread may wait on another in a cycle.
    datas = [os.urandom(content.UPLOAD_CHUNK + MIB) for _ in range(3)]
    errors: list[BaseException] = []
    active, most = [0], [0]
    guard = threading.Lock()
    feed = content._upload_stream

    def counting(*args: object, **kwargs: object) -> object:
        with guard:
            active[0] += 1
            most[0] = max(most[0], active[0])
        try:
            return feed(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            with guard:
                active[0] -= 1

    monkeypatch.setattr(content, "_upload_stream", counting)

    def upload(i: int) -> None:
        try:
            auto_store.put_file(f"c{i}.bin", _stream(datas[i]))  # type: ignore[arg-type]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and not any(t.is_alive() for t in threads)
    assert most == [1]  # one hf-xet upload at a time
    assert [auto_store.read_bytes(f"c{i}.bin") for i in range(3)] == datas


def test_a_bad_upload_limit_is_refused_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(session.ENV_MAX_UPLOADS, raising=False)
    assert session.max_uploads() == session.DEFAULT_MAX_UPLOADS
    monkeypatch.setenv(session.ENV_MAX_UPLOADS, "3")
    assert session.max_uploads() == 3
    for bad in ("0", "-2", "many"):
        monkeypatch.setenv(session.ENV_MAX_UPLOADS, bad)
        with pytest.raises(InvalidInput, match=f"ARTIFACTSTORE_XET_MAX_UPLOADS={bad!r}"):
            session.max_uploads()
