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


def test_a_writer_that_timed_out_does_not_keep_the_lock_it_was_waiting_for(tmp_path) -> None:
    # The waiting is done by a helper thread blocked in flock(2); after the caller gives up,
    # that thread may still get the lock when the holder lets go - and must drop it at once.
    store = GitStore(tmp_path / "repo", create=True, lock_timeout=0.3)
    base = store.put_bytes("a.txt", b"a")
    holder = writer_lock(tmp_path / "repo", "refs/heads/main", timeout=5)
    holder.__enter__()
    try:
        with pytest.raises(LockTimeout):
            store.put_bytes("b.txt", b"b")
    finally:
        holder.__exit__(None, None, None)
    waiters = [t for t in threading.enumerate() if t.name == "artifactstore-writer-lock"]
    for t in waiters:
        t.join(10)
    assert not any(t.is_alive() for t in waiters)
    patient = GitStore(tmp_path / "repo", lock_timeout=5)
    with writer_lock(tmp_path / "repo", "refs/heads/main", timeout=0.5):
        pass  # free right away: the abandoned helper released it
    after = patient.put_bytes("c.txt", b"c")
    assert store.get_commit(after.id).parents == (base.id,)


def test_many_threads_in_many_stores_take_turns_on_the_writer_lock(tmp_path) -> None:
    # Separate store objects do not share the in-process queue, so every commit here goes
    # through the flock wait; none may be lost or time out.
    GitStore(tmp_path / "repo", create=True).put_bytes("seed", b"0")
    stores = [GitStore(tmp_path / "repo", lock_timeout=30) for _ in range(6)]
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for j in range(10):
                stores[i].put_bytes(f"t{i}/f{j}", b"%d-%d" % (i, j))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(list(stores[0].log())) == 61
    assert sorted(e.path for e in stores[0].list("t0")) == [f"t0/f{j}" for j in range(10)]
