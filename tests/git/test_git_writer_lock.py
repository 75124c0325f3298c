"""The per-ref writer lock: committers queue on it, and a killed holder never blocks anyone."""

from __future__ import annotations

import signal
import textwrap
import threading

import pytest
from artifactstore_git import GitStore
from artifactstore_git.locks import writer_lock

from artifactstore.errors import LockTimeout

from .conftest import python_child

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from artifactstore_git.locks import writer_lock
    with writer_lock(Path({path!r}), "refs/heads/main", timeout=5):
        print("held", flush=True)
        time.sleep(60)
    """
)


def test_a_commit_waits_for_the_writer_lock_then_lands(tmp_path) -> None:
    store = GitStore(tmp_path / "repo", create=True)
    first = store.put_bytes("a.txt", b"a")
    done: list[str] = []
    with writer_lock(tmp_path / "repo", "refs/heads/main", timeout=5):
        worker = threading.Thread(target=lambda: done.append(store.put_bytes("b.txt", b"b").id))
        worker.start()
        worker.join(0.5)
        assert worker.is_alive(), "the commit went ahead while another writer held the lock"
        assert store.resolve("main") == first.id
    worker.join(10)
    assert not worker.is_alive()
    assert store.resolve("main") == done[0]
    assert store.get_commit(done[0]).parents == (first.id,)


def test_a_killed_holder_releases_the_writer_lock(tmp_path, git_env) -> None:
    path = tmp_path / "repo"
    GitStore(path, create=True).close()
    child = python_child(HOLDER.format(path=str(path)), git_env)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    store = GitStore(path, lock_timeout=2)
    commit = store.put_bytes("after.txt", b"x")
    assert store.resolve("main") == commit.id


def test_a_live_holder_makes_a_commit_time_out_naming_the_ref(tmp_path) -> None:
    store = GitStore(tmp_path / "repo", create=True, lock_timeout=0.3)
    base = store.put_bytes("a.txt", b"a")
    with writer_lock(tmp_path / "repo", "refs/heads/main", timeout=5), pytest.raises(LockTimeout, match="refs/heads/main"):
        store.put_bytes("b.txt", b"b")
    assert store.resolve("main") == base.id
    assert [e.path for e in store.list()] == ["a.txt"]
