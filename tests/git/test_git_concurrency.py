"""Several processes committing to one branch of one repository lose nothing."""

from __future__ import annotations

import textwrap

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


def test_git_gc_running_beside_two_writers_loses_nothing(tmp_path, git_env, git) -> None:
    # A platform team's cron job: `git gc` packs the loose objects and refs of a store that
    # MLflow's workers keep committing to. git's default prune keeps unreachable objects for
    # two weeks, so the objects of a commit in flight survive; refs it packs stay readable.
    path = tmp_path / "shared"
    GitStore(path, create=True).close()
    workers, commits = 2, 60
    children = [python_child(WRITER.format(path=str(path), worker=w, commits=commits), git_env) for w in range(workers)]
    collections = 0
    while any(child.poll() is None for child in children) or collections == 0:
        git(path, "gc", "--quiet")
        collections += 1
    outputs = [child.communicate(timeout=170)[0] for child in children]
    assert [child.returncode for child in children] == [0] * workers
    assert all(out.strip() == "done" for out in outputs)
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
