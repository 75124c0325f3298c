"""A table of bad inputs: each rejected with the right error, naming the input, and nothing written."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from artifactstore import (
    AlreadyExists,
    ArtifactStore,
    Conflict,
    Delete,
    HeadMoved,
    InvalidInput,
    InvalidPath,
    InvalidRefName,
    InvalidRevision,
    NotFound,
    Put,
)
from artifactstore.errors import NotADirectory

from .fixtures import StoreFixtures
from .helpers import RefSnapshot, assert_no_garbage, assert_nothing_written, big_size, seeded_bytes

FAKE_HEAD = "1234567" + "0" * 33
UPLOAD_SRC = "upload-src"


@dataclass
class Setup:
    """What every bad-input case starts from (see :func:`make_setup`)."""

    head: str
    big: bytes
    tmp: Path


@dataclass(frozen=True)
class BadInput:
    """One row: ``call(store, setup)`` must raise ``error`` with one of ``names`` in its message."""

    id: str
    call: Callable[[ArtifactStore, Setup], Any]
    error: type[BaseException]
    names: tuple[str, ...]


def _esc(text: str) -> str:
    """How ``{text!r}`` shows ``text`` inside a message, minus the quotes."""
    return repr(text)[1:-1]


def put(path: str) -> BadInput:
    return BadInput(f"path-{_esc(path)[:40]}", lambda s, _: s.put_bytes(path, b"data"), InvalidPath, (_esc(path)[:50],))


def branch(name: str) -> BadInput:
    return BadInput(f"branch-{_esc(name)}", lambda s, _: s.create_branch(name), InvalidRefName, (_esc(name),))


def revision(rev: str) -> BadInput:
    return BadInput(f"rev-{_esc(rev)}", lambda s, _: s.read_bytes("file.txt", rev=rev), InvalidRevision, (_esc(rev),))


BAD_INPUTS: list[BadInput] = [
    # ---- paths (artifactstore.validation rules)
    put(""),
    put("/abs/path"),
    put("a//b"),
    put("trailing/"),
    put("./here"),
    put("a/../b"),
    put(".."),
    put("back\\slash"),
    put("nul\x00byte"),
    put("new\nline"),
    put("del\x7fchar"),
    put("c:/drive"),
    put("stream:name"),
    put(".git/config"),
    put("sub/.GIT/x"),
    put("git~1/x"),
    put(".git./x"),
    put(".g\u200cit/hooks"),
    put("ends-with-space /x"),
    put("ends-with-dot."),
    put("x" * 256),
    put("/".join(["d" * 100] * 11)),
    put("lone-\ud800-surrogate"),
    BadInput("path-not-a-string", lambda s, _: s.put_bytes(42, b"x"), InvalidPath, ("42",)),  # type: ignore[arg-type]
    BadInput("read-path-dotdot", lambda s, _: s.read_bytes("a/../file.txt"), InvalidPath, ("a/../file.txt",)),
    BadInput("list-path-slash", lambda s, _: s.list("a/"), InvalidPath, ("a/",)),
    BadInput("stat-absolute", lambda s, _: s.stat("/file.txt"), InvalidPath, ("/file.txt",)),
    BadInput("log-path-bad", lambda s, _: list(s.log(path="a//b.txt")), InvalidPath, ("a//b.txt",)),
    BadInput("trailer-key-bad", lambda s, _: s.put_bytes("t", b"1", trailers={"MLflow Run": "x"}), InvalidInput, ("MLflow Run",)),
    BadInput("trailer-value-newline", lambda s, _: s.put_bytes("t", b"1", trailers={"K": "a\nb"}), InvalidInput, ("'K'",)),
    BadInput(
        "trailer-reserved", lambda s, _: s.put_bytes("t", b"1", trailers={"Artifactstore-New-Bytes": "0"}), InvalidInput,
        ("Artifactstore-New-Bytes",),
    ),
    BadInput("diff-prefix-bad", lambda s, _: s.diff("v1", "main", prefix="../a"), InvalidPath, ("../a",)),
    BadInput("upload-prefix-bad", lambda s, st: s.upload_dir(st.tmp, "bad/"), InvalidPath, ("bad/",)),
    # ---- clashes with the existing tree, or inside one commit
    BadInput("file-where-dir-must-be", lambda s, _: s.put_bytes("file.txt/x", b"1"), InvalidPath, ("file.txt",)),
    BadInput("dir-where-file-must-be", lambda s, _: s.put_bytes("a", b"1"), InvalidPath, ("'a'",)),
    BadInput("case-clash-file", lambda s, _: s.put_bytes("FILE.txt", b"1"), InvalidPath, ("FILE.txt",)),
    BadInput("case-clash-dir", lambda s, _: s.put_bytes("dir/y", b"1"), InvalidPath, ("dir",)),
    BadInput(
        "clash-inside-one-commit",
        lambda s, _: s.commit([Put("new/x", b"1"), Put("new", b"2")]),
        InvalidPath,
        ("new",),
    ),
    BadInput(
        "case-clash-inside-one-commit",
        lambda s, _: s.commit([Put("Case.txt", b"1"), Put("case.txt", b"2")]),
        InvalidPath,
        ("Case.txt", "case.txt"),
    ),
    BadInput(
        "big-file-under-a-file",
        lambda s, st: s.put_file("file.txt/big.bin", io.BytesIO(st.big)),
        InvalidPath,
        ("file.txt",),
    ),
    BadInput(
        "valid-put-then-invalid-put",
        lambda s, st: s.commit([Put("ok.bin", st.big), Put("bad/./x", b"2")]),
        InvalidPath,
        ("bad/./x",),
    ),
    # ---- branch and tag names (git check-ref-format, plus ours)
    branch(""),
    branch("-starts-with-dash"),
    branch("HEAD"),
    branch("a..b"),
    branch("has space"),
    branch("tilde~1"),
    branch("caret^"),
    branch("colon:x"),
    branch("ends.lock"),
    branch("dir/.hidden"),
    branch("trailing/"),
    branch("ends-with-dot."),
    branch("at@{1}"),
    branch("star*"),
    BadInput("tag-bad-name", lambda s, _: s.create_tag("bad tag"), InvalidRefName, ("bad tag",)),
    BadInput("tag-lock", lambda s, _: s.create_tag("v2.lock"), InvalidRefName, ("v2.lock",)),
    BadInput("commit-to-bad-branch", lambda s, _: s.put_bytes("x", b"1", branch="bad..name"), InvalidRefName, ("bad..name",)),
    BadInput("delete-bad-branch", lambda s, _: s.delete_branch("-x"), InvalidRefName, ("-x",)),
    BadInput("merge-into-bad-branch", lambda s, _: s.merge("other", into="a b"), InvalidRefName, ("a b",)),
    # ---- revisions
    revision("-rf"),
    revision("--all"),
    revision("main..other"),
    revision("a b"),
    revision("main@{1}"),
    revision("HEAD"),
    BadInput("diff-bad-revision", lambda s, _: s.diff("--cached", "main"), InvalidRevision, ("--cached",)),
    BadInput("log-bad-revision", lambda s, _: list(s.log("-p")), InvalidRevision, ("-p",)),
    BadInput("branch-from-bad-revision", lambda s, _: s.create_branch("x", rev="-x"), InvalidRevision, ("-x",)),
    # ---- things that do not exist
    BadInput("read-missing-file", lambda s, _: s.read_bytes("missing.txt"), NotFound, ("missing.txt",)),
    BadInput("delete-missing-file", lambda s, _: s.delete("missing.txt"), NotFound, ("missing.txt",)),
    BadInput("delete-missing-in-dir", lambda s, _: s.delete("a/missing"), NotFound, ("a/missing",)),
    BadInput("delete-case-differs", lambda s, _: s.delete("File.txt"), NotFound, ("File.txt",)),
    BadInput(
        "put-then-delete-missing",
        lambda s, st: s.commit([Put("new.bin", st.big), Delete("missing.txt")]),
        NotFound,
        ("missing.txt",),
    ),
    BadInput("unknown-branch-rev", lambda s, _: s.read_bytes("file.txt", rev="nosuch"), NotFound, ("nosuch",)),
    BadInput("unknown-commit-rev", lambda s, _: s.stat("file.txt", rev="0" * 40), NotFound, ("0" * 40,)),
    BadInput("branch-from-unknown-rev", lambda s, _: s.create_branch("x", rev="nosuch"), NotFound, ("nosuch",)),
    BadInput("delete-unknown-branch", lambda s, _: s.delete_branch("nosuch"), NotFound, ("nosuch",)),
    BadInput("delete-unknown-tag", lambda s, _: s.delete_tag("nosuch"), NotFound, ("nosuch",)),
    BadInput("merge-unknown-source", lambda s, _: s.merge("nosuch"), NotFound, ("nosuch",)),
    BadInput("download-missing", lambda s, st: s.download("missing", st.tmp / "out"), NotFound, ("missing",)),
    # ---- refs that exist already, heads that moved
    BadInput("create-existing-branch", lambda s, _: s.create_branch("other"), AlreadyExists, ("other",)),
    BadInput("create-existing-tag", lambda s, _: s.create_tag("v1"), AlreadyExists, ("v1",)),
    BadInput(
        "expect-head-mismatch",
        lambda s, _: s.commit([Put("x", b"1")], expect_head=FAKE_HEAD),
        HeadMoved,
        (FAKE_HEAD[:7],),
    ),
    BadInput(
        "expect-head-empty-but-branch-exists",
        lambda s, _: s.commit([Put("x", b"1")], expect_head=""),
        HeadMoved,
        ("main",),
    ),
    # ---- bad sources (builtin errors)
    BadInput("source-int", lambda s, _: s.put_bytes("x", 12345), ValueError, ("int",)),  # type: ignore[arg-type]
    BadInput("source-none", lambda s, _: s.commit([Put("x", None)]), ValueError, ("NoneType",)),  # type: ignore[arg-type]
    BadInput(
        "source-missing-file",
        lambda s, st: s.put_file("x", str(st.tmp / "no-such-file")),
        FileNotFoundError,
        ("no-such-file",),
    ),
    BadInput("source-is-a-directory", lambda s, st: s.put_file("x", st.tmp), IsADirectoryError, (UPLOAD_SRC,)),
    BadInput("upload-missing-dir", lambda s, st: s.upload_dir(st.tmp / "nope"), NotADirectory, ("nope",)),
]


def make_setup(store: ArtifactStore, tmp: Path) -> Setup:
    """main: file.txt, a/b.txt, Dir/x; branch ``other`` and tag ``v1`` at its head."""
    head = store.commit([Put("file.txt", b"hello"), Put("a/b.txt", b"b"), Put("Dir/x", b"x")], message="bad-input setup").id
    store.create_branch("other")
    store.create_tag("v1")
    src = tmp / UPLOAD_SRC
    src.mkdir()
    (src / "f.txt").write_bytes(b"f")
    return Setup(head=head, big=seeded_bytes(big_size(store), seed=99), tmp=src)


class BadInputTests(StoreFixtures):
    """Each bad input raises the right error class, names the input, and writes nothing."""

    @pytest.mark.parametrize("case", BAD_INPUTS, ids=[c.id for c in BAD_INPUTS])
    def test_bad_input_is_rejected_and_nothing_is_written(self, store: ArtifactStore, tmp_path: Path, case: BadInput) -> None:
        setup = make_setup(store, tmp_path)
        before = RefSnapshot.of(store)
        assert_no_garbage(store, "after the setup, before the bad input")
        with pytest.raises(case.error) as info:
            case.call(store, setup)
        message = str(info.value)
        assert any(name in message for name in case.names), (
            f"the {type(info.value).__name__} message does not name the bad input {case.names}: {message!r}"
        )
        assert "\n" not in message.strip(), f"messages are one sentence: {message!r}"
        assert_nothing_written(store, before, f"after rejecting {case.id}")
        assert store.read_bytes("file.txt") == b"hello"

    def test_the_table_is_large_enough(self) -> None:
        assert len(BAD_INPUTS) >= 40
        assert len({c.id for c in BAD_INPUTS}) == len(BAD_INPUTS), "case ids are unique"

    def test_errors_are_also_builtin_errors(self) -> None:
        assert issubclass(InvalidPath, ValueError)
        assert issubclass(InvalidRefName, ValueError)
        assert issubclass(InvalidRevision, ValueError)
        assert issubclass(NotFound, FileNotFoundError)
        assert issubclass(AlreadyExists, FileExistsError)
        assert issubclass(HeadMoved, Conflict)


__all__ = ["BAD_INPUTS", "BadInput", "BadInputTests", "Setup"]
