"""Stale locks: a lock left by a killed process is detected, named by its owner's pid, and removed.

git and xet update refs under git's lock-file protocol (``<ref>.lock`` holding an owner line,
see ``artifactstore_git/locks.py``). A writer is SIGKILLed while it holds the ref lock; the
next writer must find the lock, log a warning naming the dead owner's pid, remove it and
commit - without waiting for ``lock_timeout``. A lock with no owner line (as git's own, or
one whose writer died before recording itself) is removed once older than
``stale_lock_seconds``. The xet CAS lock is an ``flock``: the kernel drops it with its
process, so a writer killed mid-upload (holding it) leaves nothing that blocks the next.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
from artifactstore_conformance import check_invariants, inspect_store
from artifactstore_git.locks import LockOwner

from artifactstore.conformance_target import ConformanceTarget
from artifactstore.errors import LockTimeout

from .conftest import FaultTable, make_payload, open_store, run_child

LOCAL = ("git", "xet")


def _ref_lock(store: Any) -> Path:
    return Path(store.layout.commondir) / "refs" / "heads" / "main.lock"


@pytest.mark.parametrize("backend", LOCAL)
def test_lock_of_writer_killed_inside_it_is_recovered_naming_the_pid(
    backend: str, targets: dict[str, ConformanceTarget], tmp_path: Path, caplog: pytest.LogCaptureFixture, fault_table: FaultTable
) -> None:
    uri = targets[backend].new_store_uri(tmp_path)
    store = open_store(uri)
    base = store.put_bytes("a.txt", b"before").id
    store.close()
    new = make_payload(tmp_path / "new", 100, seed=5)

    child = run_child(uri, [("b.txt", "bytes", str(new))], extra_env={"DIE_HOLDING_REF_LOCK": "1"})
    assert child.killed, child.stdout + child.stderr
    assert "LOCKED" in child.stdout
    store = open_store(uri, lock_timeout=5)
    lock = _ref_lock(store)
    owner = LockOwner.parse(lock.read_bytes())
    assert owner is not None and owner.is_dead() is True
    assert store.resolve("main") == base, "the killed writer's ref must not have moved"

    with caplog.at_level(logging.WARNING, logger="artifactstore_git.locks"):
        after = store.put_bytes("c.txt", b"after").id
    warnings = [r.getMessage() for r in caplog.records if "stale lock" in r.getMessage()]
    report = inspect_store(store, [base, after])
    store.close()
    found = sum(c in report.reachable_commits for c in (base, after))
    fault_table.add("stale lock: writer killed holding the ref lock", backend, acknowledged=2, found=found)
    problems = report.problems
    assert problems == []
    assert not lock.exists()
    # Recovered, not timed out: a dead owner's lock is removed at once (lock_timeout=5 would raise).
    assert len(warnings) == 1 and f"pid {owner.pid}" in warnings[0] and "dead" in warnings[0], warnings


@pytest.mark.parametrize("backend", LOCAL)
def test_unrecorded_lock_is_removed_once_stale(
    backend: str, targets: dict[str, ConformanceTarget], tmp_path: Path, caplog: pytest.LogCaptureFixture, fault_table: FaultTable
) -> None:
    uri = targets[backend].new_store_uri(tmp_path)
    store = open_store(uri, lock_timeout=0.5, stale_lock_seconds=60)
    base = store.put_bytes("a.txt", b"before").id
    lock = _ref_lock(store)
    lock.write_bytes(b"")  # what git, or a writer killed between create and write, leaves
    # Fresh and without an owner: it may belong to a live git process, so we wait and give up.
    with pytest.raises(LockTimeout, match="did not record itself") as info:
        store.put_bytes("b.txt", b"blocked")
    assert str(lock) in str(info.value)
    old = time.time() - 120
    os.utime(lock, (old, old))
    with caplog.at_level(logging.WARNING, logger="artifactstore_git.locks"):
        after = store.put_bytes("b.txt", b"after").id
    problems = check_invariants(store, [base, after])
    store.close()
    fault_table.add("stale lock: unrecorded lock older than stale_lock_seconds", backend, acknowledged=2, found=2)
    assert problems == []
    assert not lock.exists()
    assert any("stale lock" in r.getMessage() and "unrecorded" in r.getMessage() for r in caplog.records)


def _kill_streaming_uploader(
    targets: dict[str, ConformanceTarget], tmp_path: Path, *, seed: int, **options: Any
) -> tuple[str, str, Path]:
    """A xet store with one commit, and a child killed half-way through streaming a file into it.

    Returns the store's URI, the commit made before, and the file the child was uploading.
    """
    uri = targets["xet"].new_store_uri(tmp_path)
    store = open_store(uri)
    base = store.put_bytes("a.txt", b"before").id
    store.close()
    big = make_payload(tmp_path / "big", 64 * 1024, seed=seed)
    child = run_child(uri, [("big.bin", "stream", str(big))], fault="mid-upload:2", options=options)
    assert child.killed, child.stdout + child.stderr
    return uri, base, big


def test_xet_cas_lock_of_killed_uploader_does_not_block(
    targets: dict[str, ConformanceTarget], tmp_path: Path, fault_table: FaultTable
) -> None:
    # Without spooling, mid-upload on xet dies inside XetContentPort._upload, i.e. holding the
    # CAS flock and with hf-xet's database open.
    uri, base, big = _kill_streaming_uploader(targets, tmp_path, seed=6, spool_streams=False)
    store = open_store(uri, cas_lock_timeout=20)
    assert (Path(store.layout.commondir) / "xet" / "cas.lock").exists()  # type: ignore[attr-defined]
    after = store.put_file("big.bin", str(big)).id
    assert store.read_bytes("big.bin") == big.read_bytes()
    problems = check_invariants(store, [base, after])
    store.close()
    fault_table.add("stale lock: uploader killed holding the xet CAS lock", "xet", acknowledged=2, found=2)
    assert problems == []


def test_xet_spool_of_killed_uploader_blocks_nothing_and_gc_removes_it(
    targets: dict[str, ConformanceTarget], tmp_path: Path, fault_table: FaultTable
) -> None:
    # Spooling reads the stream before the CAS lock is taken: killed there, the uploader leaves
    # a spool file and no lock held. (The default, "auto", streams a fast local file straight in.)
    uri, base, big = _kill_streaming_uploader(targets, tmp_path, seed=7, spool_streams=True)
    store = open_store(uri, cas_lock_timeout=5)
    spools = list((Path(store.layout.commondir) / "xet").glob("spool-*"))  # type: ignore[attr-defined]
    assert len(spools) == 1
    after = store.put_file("big.bin", str(big)).id
    assert store.read_bytes("big.bin") == big.read_bytes()
    store.gc(grace_seconds=0)
    assert not spools[0].exists()
    problems = check_invariants(store, [base, after])
    store.close()
    fault_table.add("stale spool: uploader killed while spooling a xet stream", "xet", acknowledged=2, found=2)
    assert problems == []
