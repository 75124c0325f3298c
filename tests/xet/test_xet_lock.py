"""The CAS lock: one process at a time, threads of one process together, gc alone."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from artifactstore_xet.cas_lock import cas_lock

from artifactstore.errors import LockTimeout

from .conftest import python_child

HOLDER = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""


def test_another_process_holding_the_cas_makes_us_wait_then_time_out(tmp_path: Path) -> None:
    path = tmp_path / "cas.lock"
    child = python_child(HOLDER, str(path))
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "held"
        lock = cas_lock(path)
        with pytest.raises(LockTimeout, match="cas.lock"), lock.hold(timeout=0.2):
            pass
        child.stdin.write("release\n")
        child.stdin.flush()
        assert child.wait(timeout=30) == 0
        with lock.hold(timeout=30):
            pass  # free again once the other process let go
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_threads_of_one_process_share_the_lock_and_an_exclusive_hold_waits(tmp_path: Path) -> None:
    lock = cas_lock(tmp_path / "cas.lock")
    assert cas_lock(tmp_path / "cas.lock") is lock  # one instance per file and process
    inside = threading.Barrier(2, timeout=30)
    release = threading.Event()
    errors: list[BaseException] = []

    def shared() -> None:
        try:
            with lock.hold(timeout=30):
                inside.wait()  # both threads are inside at the same time
                release.wait(30)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=shared) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        with pytest.raises(LockTimeout), lock.hold(timeout=0.2, exclusive=True):
            pass  # the gc rebuild may not start while transfers are running
    finally:
        release.set()
        for t in threads:
            t.join(30)
    assert not errors
    # nor may a transfer start during the rebuild
    with lock.hold(timeout=30, exclusive=True), pytest.raises(LockTimeout), lock.hold(timeout=0.2):
        pass


DIRECT_HF_XET = r"""
import sys, hf_xet
session = hf_xet.XetSession(config=hf_xet.XetConfig().with_config({"telemetry.enabled": False}))
group = session.new_download_stream_group(endpoint="local://" + sys.argv[1])  # opens the CAS database
print("open", flush=True)
sys.stdin.readline()
"""


def test_a_process_using_hf_xet_directly_gives_a_lock_timeout_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import artifactstore_xet.session as session
    from artifactstore_xet import XetStore

    store = XetStore(tmp_path / "s", create=True, inline_threshold=10)
    store.put_bytes("a.bin", b"x" * 1000)  # creates the CAS
    monkeypatch.setattr(session, "REOPEN_SECONDS", 0.3)
    child = python_child(DIRECT_HF_XET, str(store.content_port.embedded_dir))
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "open", child.stderr.read() if child.stderr else ""
        with pytest.raises(LockTimeout, match="Xet CAS database"):
            store.put_bytes("b.bin", b"y" * 1000)
        child.stdin.write("done\n")
        child.stdin.flush()
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    store.put_bytes("b.bin", b"y" * 1000)
    assert store.read_bytes("b.bin") == b"y" * 1000
