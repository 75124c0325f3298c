"""Several processes committing to one branch of one repository lose nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest
from artifactstore_git import GitStore

from .conftest import python_child

WRITER = textwrap.dedent(
    """
    import sys
    from artifactstore_git import GitStore
    store = GitStore({path!r}, inline_threshold=64)
    worker = int(sys.argv[1]) if len(sys.argv) > 1 else {worker}
    for i in range({commits}):
        data = (f"worker {{worker}} commit {{i}} " * (1 + i % 5)).encode()
        store.put_bytes(f"w{{worker}}/{{i:03d}}.txt", data, message=f"worker {{worker}} commit {{i}}")
    print("done", flush=True)
    """
)


#: Prepended to a child's code: its locks behave as on a filesystem without user extended attributes.
NO_XATTRS = "import artifactstore_git.locks as L; L._set_owner_xattr = lambda fd, owner: False\n"


@pytest.mark.parametrize("xattrs", [True, False], ids=["owner-in-xattr", "no-xattrs"])
def test_four_processes_times_fifty_commits_make_two_hundred(tmp_path, git_env, git, xattrs: bool) -> None:
    path = tmp_path / "shared"
    GitStore(path, create=True).close()
    workers, commits = 4, 50
    code = ("" if xattrs else NO_XATTRS) + WRITER
    children = [python_child(code.format(path=str(path), worker=w, commits=commits), git_env) for w in range(workers)]
    outputs = [child.communicate(timeout=170)[0] for child in children]
    assert [child.returncode for child in children] == [0] * workers
    assert all(out.strip() == "done" for out in outputs)
    store = GitStore(path)
    log = list(store.log())
    assert len(log) == workers * commits
    assert git(path, "rev-list", "--count", "main").strip() == str(workers * commits)
    files = store.list(recursive=True)
    assert len(files) == workers * commits
    for w in range(workers):
        assert store.read_bytes(f"w{w}/049.txt") == (f"worker {w} commit 49 " * 5).encode()
    assert sorted(c.message for c in log) == sorted(f"worker {w} commit {i}" for w in range(workers) for i in range(commits))
    assert not list((path / "refs" / "heads").glob("*.lock"))
    assert git(path, "for-each-ref", "--format=%(refname)").split() == ["refs/heads/main"]
    assert git(path, "fsck", "--full", "--no-dangling") == ""


#: Reads every file at the head (from the first commit on) until ``stop`` exists, checking each against WRITER's.
READER = textwrap.dedent(
    """
    import os, re
    from artifactstore.errors import RevisionNotFound
    from artifactstore_git import GitStore
    store = GitStore({path!r})
    reads = 0
    while not os.path.exists({stop!r}):
        try:
            entries = store.list(recursive=True)
        except RevisionNotFound:
            if reads:
                raise  # the branch had commits: it must not vanish while git packs its ref
            continue
        for entry in entries:
            w, i = map(int, re.fullmatch(r"w(\\d+)/(\\d+)\\.txt", entry.path).groups())
            assert store.read_bytes(entry.path) == (f"worker {{w}} commit {{i}} " * (1 + i % 5)).encode(), entry.path
            reads += 1
    print("read", reads, flush=True)
    """
)


def test_git_gc_running_beside_two_writers_and_a_reader_loses_nothing(tmp_path, git_env, git) -> None:
    # A platform team's cron job: `git gc` packs the loose objects and refs of a store that
    # MLflow's workers keep committing to and serving. git's default prune keeps unreachable
    # objects for two weeks, so the objects of a commit in flight survive; refs it packs and
    # objects it moves into packs stay readable.
    path, stop = tmp_path / "shared", tmp_path / "stop"
    GitStore(path, create=True).close()
    workers, commits = 2, 60
    children = [python_child(WRITER.format(path=str(path), worker=w, commits=commits), git_env) for w in range(workers)]
    reader = python_child(READER.format(path=str(path), stop=str(stop)), git_env)
    collections = 0
    while any(child.poll() is None for child in children) or collections == 0:
        git(path, "gc", "--quiet")
        collections += 1
    stop.touch()
    outputs = [child.communicate(timeout=170)[0] for child in children]
    assert [child.returncode for child in children] == [0] * workers
    assert all(out.strip() == "done" for out in outputs)
    read = reader.communicate(timeout=170)[0].split()
    assert reader.returncode == 0 and read[0] == "read" and int(read[1]) > 0, read
    assert collections >= 2, "the writers finished before a second git gc started"
    assert list(path.glob("objects/pack/*.pack")), "git gc packed nothing"
    store = GitStore(path)
    assert len(list(store.log())) == workers * commits
    assert git(path, "rev-list", "--count", "main").strip() == str(workers * commits)
    for w in range(workers):
        for i in (0, commits // 2, commits - 1):
            assert store.read_bytes(f"w{w}/{i:03d}.txt") == (f"worker {w} commit {i} " * (1 + i % 5)).encode()
    assert store.fsck().ok
    assert git(path, "fsck", "--full", "--no-dangling") == ""


#: Holds the gc guard as a write does, says so, and keeps it until told (or killed).
GUARD_HOLDER = textwrap.dedent(
    """
    import sys
    from artifactstore_git import GitStore
    store = GitStore({path!r})
    with store.writing():
        print("held", flush=True)
        sys.stdin.readline()
    print("released", flush=True)
    """
)


@pytest.mark.parametrize("ending", ["finishes", "is-killed"])
def test_gc_deletes_only_once_writes_in_other_processes_are_done(tmp_path, git_env, ending: str) -> None:
    path = tmp_path / "shared"
    store = GitStore(path, create=True)
    store.put_bytes("keep.txt", b"keep")
    store.create_branch("old")
    store.put_bytes("old.txt", b"unreachable soon", branch="old")
    store.delete_branch("old")
    child = subprocess.Popen(
        [sys.executable, "-c", GUARD_HOLDER.format(path=str(path))],
        env=git_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "held"
    reports: list[object] = []
    collector = threading.Thread(target=lambda: reports.append(store.gc(grace_seconds=0)))
    collector.start()
    collector.join(0.5)
    assert collector.is_alive(), "gc deleted while another process was writing"
    if ending == "finishes":
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "released"
    else:
        child.kill()
    collector.join(30)
    assert not collector.is_alive()
    child.wait(30)
    assert reports and reports[0].objects_removed >= 3  # the commit, its tree and the blob
    assert store.read_bytes("keep.txt") == b"keep"


#: Makes content unreachable, then commits it again, over and over, while the test runs gc.
REUSER = textwrap.dedent(
    """
    import random, time
    from artifactstore_git import GitStore
    store = GitStore({path!r}, inline_threshold=64)
    for i in range({rounds}):
        data = (f"round {{i}} " * (1 + i % 20)).encode()
        store.create_branch(f"t{{i}}")
        store.put_bytes(f"f{{i}}.txt", data, branch=f"t{{i}}")
        store.delete_branch(f"t{{i}}")
        time.sleep(random.uniform(0, 0.01))
        store.put_bytes(f"f{{i}}.txt", data)
    print("done", flush=True)
    """
)


def test_commits_reusing_what_gc_finds_dead_in_another_process_lose_nothing(tmp_path, git_env) -> None:
    path = tmp_path / "shared"
    store = GitStore(path, create=True)
    store.put_bytes("keep.txt", b"keep")
    rounds = 60
    child = python_child(REUSER.format(path=str(path), rounds=rounds), git_env)
    collections = 0
    while child.poll() is None:
        store.gc(grace_seconds=0)
        collections += 1
    assert child.communicate(timeout=60)[0].strip() == "done"
    assert collections >= 2
    for i in range(rounds):
        assert store.read_bytes(f"f{i}.txt") == (f"round {i} " * (1 + i % 20)).encode()
    assert store.fsck().ok, store.fsck().problems
