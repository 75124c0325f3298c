"""Commit objects: building them, and reading them back as :class:`~artifactstore.Commit` values.

A commit's message ends with the engine's trailer of byte counts
(``Artifactstore-Logical-Bytes`` / ``Artifactstore-New-Bytes``) when it wrote files; the
value read back carries the counts and the message without the trailer.
"""

from __future__ import annotations

import functools
import getpass
import os
import re
import socket
import time
from datetime import datetime, timedelta, timezone

from dulwich.objects import Commit as GitCommit
from dulwich.objects import ObjectID

from ..errors import InvalidInput, InvalidRevision
from ..values import Commit, Operation, Put

_TRAILER = re.compile(r"\n\nArtifactstore-Logical-Bytes: (\d+)\nArtifactstore-New-Bytes: (\d+)\n?$")
_AUTHOR = re.compile(r"^[^<>\n]+ <[^<>\n]*>$")


def byte_trailer(logical: int | None, new: int) -> str:
    """The trailer recording a commit's logical and new bytes ("" for a commit of deletes only)."""
    return f"\n\nArtifactstore-Logical-Bytes: {logical}\nArtifactstore-New-Bytes: {new}\n" if logical is not None else ""


def commit_value(commit: GitCommit) -> Commit:
    """The :class:`~artifactstore.Commit` a git commit object stands for."""
    message = commit.message.decode("utf-8", "replace")
    logical = new = None
    match = _TRAILER.search(message)
    if match:
        logical, new = int(match.group(1)), int(match.group(2))
        message = message[: match.start()]
    tz = timezone(timedelta(seconds=commit.commit_timezone))
    return Commit(
        id=commit.id.decode(),
        tree=commit.tree.decode(),
        parents=tuple(p.decode() for p in commit.parents),
        message=message.rstrip("\n"),
        author=commit.author.decode("utf-8", "replace"),
        time=datetime.fromtimestamp(commit.commit_time, tz),
        logical_bytes=logical,
        new_bytes=new,
    )


def make_commit(tree: bytes, parents: list[bytes], author: bytes, message: str) -> GitCommit:
    """A new commit object made now by ``author`` (an :func:`author_line`)."""
    commit = GitCommit()
    commit.tree = tree
    commit.parents = [ObjectID(p) for p in parents]
    commit.author = commit.committer = author
    now = int(time.time())
    offset = -time.altzone if time.daylight and time.localtime(now).tm_isdst > 0 else -time.timezone
    commit.author_time = commit.commit_time = now
    commit.author_timezone = commit.commit_timezone = offset
    commit.encoding = b"UTF-8"
    commit.message = message.encode("utf-8") if message.endswith("\n") else (message + "\n").encode("utf-8")
    return commit


def author_line(author: str | None) -> bytes:
    """``author`` checked, else ``$ARTIFACTSTORE_AUTHOR``, else the user at this host."""
    if author is None:
        author = os.environ.get("ARTIFACTSTORE_AUTHOR") or _default_author()
    if not isinstance(author, str) or not _AUTHOR.match(author):
        raise InvalidInput(f"author {author!r} must look like 'Name <email>'")
    return author.encode("utf-8")


@functools.cache
def _default_author() -> str:
    # Once per process: getpass reads the password database and the host name costs a
    # system call, on every commit otherwise.
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "artifactstore"
    host = socket.gethostname() or "localhost"
    return f"{user} <{user}@{host}>"


def commit_message(message: str | None, changes: list[Operation]) -> str:
    """``message`` checked, or one made up from ``changes`` when it is empty."""
    if message is None or message == "":
        if len(changes) == 1:
            change = changes[0]
            verb = "put" if isinstance(change, Put) else "delete"
            return f"{verb} {getattr(change, 'path', '?')}"
        return f"{len(changes)} changes"
    if not isinstance(message, str) or "\x00" in message:
        raise InvalidInput(f"commit message {message!r} must be a string without NUL characters")
    return message


def expected_head(expect_head: str | None) -> str | None:
    """``expect_head`` checked: ``None``, ``""`` (the branch must not exist) or a full commit id."""
    if expect_head is None or expect_head == "":
        return expect_head
    if not isinstance(expect_head, str) or not re.fullmatch(r"[0-9a-f]{40}", expect_head):
        raise InvalidRevision(f"expect_head {expect_head!r} must be a full 40-character commit id or ''")
    return expect_head


def short(oid: bytes | None) -> str:
    """A commit id abbreviated for messages."""
    return oid.decode()[:12] if oid else "(no commit)"


__all__ = [
    "author_line",
    "byte_trailer",
    "commit_message",
    "commit_value",
    "expected_head",
    "make_commit",
    "short",
]
