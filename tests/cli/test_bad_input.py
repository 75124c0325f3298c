"""Bad input on the command line: one line naming the input, exit 1 (2 for usage), nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

import artifactstore

from .conftest import Invoke

BAD_PATHS = [
    "a//b",
    "/abs",
    "../up",
    "a/./b",
    "trail/",
    "a/.git/x",
    "a/.GIT",
    "git~1/x",
    "c:x",
    "back\\slash",
    "dot.",
    "space ",
    "tab\tname",
]
BAD_REFS = ["bad..name", "HEAD", "has space", "x.lock", "-dash", "a/", "tilde~1", "q?", "star*", "@"]
BAD_REVS = ["a..b", "-x", "no such"]


@pytest.fixture
def seeded(mem_store: artifactstore.ArtifactStore, tmp_path: Path) -> artifactstore.ArtifactStore:
    mem_store.put_bytes("keep/a.txt", b"a")
    mem_store.create_tag("v1")
    (tmp_path / "f.txt").write_text("f")
    return mem_store


def _state(store: artifactstore.ArtifactStore) -> tuple[dict[str, str], dict[str, str]]:
    return store.branches(), store.tags()


def _names(stderr: str, bad: str) -> bool:
    return stderr.startswith("error: ") and (repr(bad) in stderr or bad in stderr) and stderr.count("\n") == 1


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_put_and_rm_reject_bad_paths(cli: Invoke, seeded: artifactstore.ArtifactStore, tmp_path: Path, bad: str) -> None:
    before = _state(seeded)
    run = cli("put", seeded.uri, str(tmp_path / "f.txt"), bad, expect=1)
    assert _names(run.stderr, bad), run.stderr
    run = cli("rm", seeded.uri, bad, expect=1)
    assert _names(run.stderr, bad), run.stderr
    assert _state(seeded) == before


@pytest.mark.parametrize("bad", BAD_REFS)
def test_writes_reject_bad_branch_and_tag_names(cli: Invoke, seeded: artifactstore.ArtifactStore, tmp_path: Path, bad: str) -> None:
    before = _state(seeded)
    for args in (
        ("put", seeded.uri, str(tmp_path / "f.txt"), "-b", bad),
        ("rm", seeded.uri, "keep/a.txt", "-b", bad),
        ("branch", seeded.uri, bad),
        ("tag", seeded.uri, bad),
        ("merge", seeded.uri, "main", "--into", bad),
    ):
        run = cli(*args, expect=None)
        if bad.startswith("-") and args[0] in ("branch", "tag"):
            # click reads "-dash" as "-d ash": a delete of a branch that does not exist.
            assert run.exit_code in (1, 2), run.stderr
            continue
        assert run.exit_code == 1, (args, run.stdout, run.stderr)
        assert _names(run.stderr, bad), (args, run.stderr)
    assert _state(seeded) == before


@pytest.mark.parametrize("bad", BAD_REVS)
def test_reads_reject_bad_revisions(cli: Invoke, seeded: artifactstore.ArtifactStore, bad: str) -> None:
    before = _state(seeded)
    for args in (
        ("cat", seeded.uri, "keep/a.txt", "-r", bad),
        ("ls", seeded.uri, "-r", bad),
        ("log", seeded.uri, "-r", bad),
        ("branch", seeded.uri, "new", "--from", bad),
        ("tag", seeded.uri, "v2", bad),
    ):
        run = cli(*args, expect=None)
        if bad.startswith("-") and args[0] == "tag":
            assert run.exit_code == 2  # a positional that looks like an option is a usage error
            continue
        assert run.exit_code == 1, (args, run.stdout, run.stderr)
        assert _names(run.stderr, bad), (args, run.stderr)
    assert _state(seeded) == before


@pytest.mark.parametrize(
    "uri",
    ["artifactstore+nosuch://x", "http://example.com/x", "artifactstore+memory://x@bad..branch", "artifactstore+memory://x/a//b"],
)
def test_bad_uris_are_named(cli: Invoke, uri: str) -> None:
    run = cli("ls", uri, expect=1)
    assert run.stderr.startswith("error: ")
    assert any(part in run.stderr for part in (uri, "nosuch", "bad..branch", "a//b")), run.stderr
