"""git's lock-file protocol: live locks are waited for, stale ones detected, reported and recovered."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from artifactstore_git import GitStore
from artifactstore_git.locks import FileLock, LockOwner

from artifactstore.errors import LockTimeout

from .conftest import python_child

HOLD_LOCK = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from artifactstore_git.locks import FileLock
    gitdir = Path(sys.argv[1] if len(sys.argv) > 1 else {gitdir!r})
    lock = FileLock(gitdir / "refs" / "heads" / "main", gitdir=gitdir)
    lock.acquire()
    print("locked", os.getpid(), flush=True)
    time.sleep({hold})
    lock.release()
    print("released", flush=True)
    """
)


def _reopen(store: GitStore, **options: float) -> GitStore:
    return GitStore(store.layout.root, inline_threshold=1024, **options)  # type: ignore[arg-type]


def test_lock_of_killed_process_is_reported_with_its_pid_then_recovered(store, git_env, caplog) -> None:
    store.put_bytes("a.txt", b"before")
    child = python_child(HOLD_LOCK.format(gitdir=str(store.gitdir), hold=600), git_env)
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line[0] == "locked"
        pid = int(line[1])
        impatient = _reopen(store, lock_timeout=0.3)
        # Alive: waited for, then a timeout naming the owner.
        with pytest.raises(LockTimeout, match=f"pid {pid} on host") as info:
            impatient.put_bytes("b.txt", b"blocked")
        assert "still running" in str(info.value)
        os.kill(pid, signal.SIGKILL)  # kill -9: the lock file stays behind
        # Not reaped yet: the child is a zombie, which must count as dead too.
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}/stat").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]:
            assert time.monotonic() < deadline, "child did not die"
            time.sleep(0.01)
        assert (store.gitdir / "refs" / "heads" / "main.lock").exists()
        with caplog.at_level(logging.WARNING, logger="artifactstore_git.locks"):
            commit = impatient.put_bytes("b.txt", b"after")
        assert store.resolve("main") == commit.id
        assert not (store.gitdir / "refs" / "heads" / "main.lock").exists()
        warnings = [r.getMessage() for r in caplog.records if "stale lock" in r.getMessage()]
        assert len(warnings) == 1
        assert f"pid {pid}" in warnings[0]
        assert "dead" in warnings[0]
    finally:
        child.kill()
        child.wait()


KILLED_WHILE_COMMITTING = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from artifactstore_git.locks import FileLock
    gitdir = Path({gitdir!r})
    lock = FileLock(gitdir / "refs" / "heads" / "main", gitdir=gitdir)
    lock.acquire()
    # What FileLock.commit does before its syncfs and rename: the owner line gives way to the value.
    os.ftruncate(lock._fd, 0)
    os.pwrite(lock._fd, b"{value}\\n", 0)
    print("committing", os.getpid(), flush=True)
    time.sleep(600)
    """
)


def _has_user_xattrs(directory: Path) -> bool:
    probe = directory / "xattr-probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.artifactstore.probe", b"1")
    except (AttributeError, OSError):
        return False
    finally:
        probe.unlink()
    return True


def _kill_once(child: subprocess.Popen[str], stage: str) -> int:
    """SIGKILL ``child`` as soon as it prints ``<stage> <pid>``; its pid."""
    assert child.stdout is not None
    line = child.stdout.readline().split()
    assert line[0] == stage, line
    os.kill(int(line[1]), signal.SIGKILL)
    child.wait()
    return int(line[1])


def test_lock_of_writer_killed_while_committing_is_recovered_at_once(store, git_env, caplog) -> None:
    if not _has_user_xattrs(store.gitdir):
        pytest.skip("the filesystem under the test's store keeps no user extended attributes")
    # A writer killed between rewriting its lock file with the new value and renaming it (the
    # syncfs in between takes milliseconds): its owner line is gone from the file, but the
    # extended attribute still names it, so the next writer need not wait stale_after (120 s).
    store.put_bytes("a.txt", b"before")
    child = python_child(KILLED_WHILE_COMMITTING.format(gitdir=str(store.gitdir), value="ab" * 20), git_env)
    try:
        pid = _kill_once(child, "committing")
        assert (store.gitdir / "refs" / "heads" / "main.lock").read_bytes() == b"ab" * 20 + b"\n"
        impatient = _reopen(store, lock_timeout=2.0)
        with caplog.at_level(logging.WARNING, logger="artifactstore_git.locks"):
            commit = impatient.put_bytes("b.txt", b"after")
        assert store.resolve("main") == commit.id
        warnings = [r.getMessage() for r in caplog.records if "stale lock" in r.getMessage()]
        assert len(warnings) == 1 and f"pid {pid}" in warnings[0] and "dead" in warnings[0], warnings
    finally:
        child.kill()
        child.wait()


KILLED_WHILE_COMMITTING_WITHOUT_XATTRS = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import artifactstore_git.locks as L
    L._set_owner_xattr = lambda fd, owner: False  # as on a filesystem without user xattrs
    def stop(self, fd):  # where FileLock.commit makes the new value durable, before the rename
        print("committing", os.getpid(), flush=True)
        time.sleep(600)
    L.FileLock._make_durable = stop
    gitdir = Path({gitdir!r})
    lock = L.FileLock(gitdir / "refs" / "heads" / "main", gitdir=gitdir)
    lock.acquire()
    lock.commit(b"{value}\\n")
    """
)


def test_without_xattrs_a_writer_killed_while_committing_leaves_a_lock_naming_it(store, git_env, caplog) -> None:
    # Without extended attributes the new value goes through a side file, so the lock file
    # keeps the owner line that lets the next writer recover it at once.
    before = store.put_bytes("a.txt", b"before").id
    child = python_child(KILLED_WHILE_COMMITTING_WITHOUT_XATTRS.format(gitdir=str(store.gitdir), value="ab" * 20), git_env)
    try:
        pid = _kill_once(child, "committing")
        owner = LockOwner.parse((store.gitdir / "refs" / "heads" / "main.lock").read_bytes())
        assert owner is not None and owner.pid == pid
        assert store.resolve("main") == before  # the side file never replaced the ref
        impatient = _reopen(store, lock_timeout=2.0)
        with caplog.at_level(logging.WARNING, logger="artifactstore_git.locks"):
            commit = impatient.put_bytes("b.txt", b"after")
        assert store.resolve("main") == commit.id
        assert commit.parents == (before,)
        warnings = [r.getMessage() for r in caplog.records if "stale lock" in r.getMessage()]
        assert len(warnings) == 1 and f"pid {pid}" in warnings[0] and "dead" in warnings[0], warnings
    finally:
        child.kill()
        child.wait()


def test_without_xattrs_commits_leave_only_the_ref(store, git, monkeypatch) -> None:
    import artifactstore_git.locks as locks

    monkeypatch.setattr(locks, "_set_owner_xattr", lambda fd, owner: False)
    ids = [store.put_bytes(f"f{i}.txt", f"{i}".encode()).id for i in range(3)]
    store.create_branch("exp", rev=ids[0])
    store.delete("f0.txt")
    assert git(store.gitdir, "rev-parse", "main").strip() == store.resolve("main")
    assert git(store.gitdir, "rev-parse", "exp").strip() == ids[0]
    assert (store.gitdir / "refs" / "heads" / "main").read_bytes() == store.resolve("main").encode() + b"\n"
    assert sorted(p.name for p in (store.gitdir / "refs" / "heads").iterdir()) == ["exp", "main"]
    assert git(store.gitdir, "fsck", "--full", "--strict", "--no-dangling") == ""


def test_live_lock_is_waited_for(store, git_env) -> None:
    store.put_bytes("a.txt", b"before")
    child = python_child(HOLD_LOCK.format(gitdir=str(store.gitdir), hold=0.5), git_env)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().startswith("locked")
        commit = _reopen(store, lock_timeout=20).put_bytes("b.txt", b"after the wait")
        assert child.wait(timeout=20) == 0
        assert store.resolve() == commit.id
        assert [c.message for c in store.log()][:1] == ["put b.txt"]
    finally:
        child.kill()
        child.wait()


def test_lock_without_owner_record_is_stale_only_after_the_timeout(store, caplog) -> None:
    store.put_bytes("a.txt", b"x")
    lock_path = store.gitdir / "refs" / "heads" / "main.lock"
    lock_path.write_bytes(b"")  # what git (or a process killed right after creating it) leaves
    impatient = _reopen(store, lock_timeout=0.2, stale_lock_seconds=60)
    with pytest.raises(LockTimeout, match="did not record itself") as info:
        impatient.put_bytes("b.txt", b"y")
    assert "stale after 60 s" in str(info.value)
    old = time.time() - 120
    os.utime(lock_path, (old, old))
    with caplog.at_level(logging.WARNING, logger="artifactstore_git.locks"):
        impatient.put_bytes("b.txt", b"y")
    assert impatient.read_bytes("b.txt") == b"y"
    assert any("stale lock" in r.getMessage() and "old" in r.getMessage() for r in caplog.records)


def test_lock_of_another_host_is_not_judged_by_pid(store) -> None:
    store.put_bytes("a.txt", b"x")
    owner = LockOwner(pid=1, host="elsewhere.invalid", boot="-", start="-", nonce="00")
    (store.gitdir / "refs" / "heads" / "main.lock").write_bytes(owner.line())
    with pytest.raises(LockTimeout, match="pid 1 on host elsewhere.invalid"):
        _reopen(store, lock_timeout=0.2, stale_lock_seconds=60).put_bytes("b.txt", b"y")
    assert store.read_bytes("a.txt") == b"x"
    assert not store.exists("b.txt")


def test_git_respects_our_lock_and_we_respect_gits(store, git) -> None:
    first = store.put_bytes("a.txt", b"1").id
    second = store.put_bytes("a.txt", b"2").id
    with FileLock(store.gitdir / "refs" / "heads" / "main", gitdir=store.gitdir):
        proc = subprocess.run(
            ["git", "-C", str(store.gitdir), "update-ref", "refs/heads/main", first, second],
            capture_output=True,
            text=True,
        )
        assert proc.returncode != 0
        assert "main.lock" in proc.stderr
    git(store.gitdir, "update-ref", "refs/heads/main", first, second)
    assert store.resolve() == first
    assert not (store.gitdir / "refs" / "heads" / "main.lock").exists()


def test_two_breakers_never_remove_a_fresh_lock(store) -> None:
    # The first recovers the stale lock and takes it; the second, which judged the same stale
    # snapshot, must see the file changed and leave the new owner's lock alone.
    target = store.gitdir / "refs" / "heads" / "main"
    (store.gitdir / "refs" / "heads" / "main.lock").write_bytes(
        LockOwner(pid=2**22 + 7, host=os.uname().nodename, boot="-", start="-", nonce="aa").line()
    )
    from artifactstore_git.locks import _Snapshot

    stale = _Snapshot.take(target.with_name("main.lock"))
    assert stale is not None
    first = FileLock(target, gitdir=store.gitdir, timeout=5)
    first.acquire()
    try:
        second = FileLock(target, gitdir=store.gitdir, timeout=5)
        assert second._recover_if_stale(stale) is True  # "try again", having removed nothing
        assert LockOwner.parse(target.with_name("main.lock").read_bytes()) is not None
        assert target.with_name("main.lock").exists()
    finally:
        first.release()


def test_the_compact_owner_fits_an_inode_and_judges_like_the_full_line() -> None:
    me = LockOwner.me()
    compact = me.compact()
    assert len(compact) < 64, compact  # in-inode on ext4; a longer value took an xattr block
    back = LockOwner.from_compact(compact)
    assert back is not None and (back.pid, back.host, back.boot, back.start) == (me.pid, me.host, me.boot, me.start)
    assert back.is_dead() is False
    elsewhere = LockOwner(me.pid, "another-host", me.boot, me.start, "-")
    assert LockOwner.from_compact(elsewhere.compact()).is_dead() is None  # type: ignore[union-attr]
    earlier_boot = LockOwner(me.pid, me.host, "0" * 32, me.start, "-")
    assert LockOwner.from_compact(earlier_boot.compact()).is_dead() is True  # type: ignore[union-attr]
    assert LockOwner.from_compact(b"ab" * 20 + b"\n") is None
