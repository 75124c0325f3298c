"""Commit objects: building them, and reading them back as :class:`~artifactstore.Commit` values.

A commit's message is its text, then one paragraph of git trailers (``Key: value`` lines):
the caller's, then the engine's byte counts (``Artifactstore-Logical-Bytes`` /
``Artifactstore-New-Bytes``) when the commit wrote files. The value read back carries the
text, the caller's trailers and the counts separately. As in git, the trailer paragraph is
the last paragraph of a message with more than one, when every line of it is a trailer.
"""

from __future__ import annotations

import functools
import getpass
import os
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from dulwich.objects import Commit as GitCommit
from dulwich.objects import ObjectID

from ..errors import InvalidInput, InvalidRevision
from ..values import Commit, Operation, Put

_AUTHOR = re.compile(r"^[^<>\n]+ <[^<>\n]*>$")
_TRAILER_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*): ?(.*)$")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
LOGICAL_BYTES = "Artifactstore-Logical-Bytes"
NEW_BYTES = "Artifactstore-New-Bytes"
RESERVED_PREFIX = "artifactstore-"


@dataclass(frozen=True, slots=True)
class CommitMessage:
    """A commit message taken apart: the text, the caller's trailers, the engine's byte counts."""

    text: str
    trailers: tuple[tuple[str, str], ...] = ()
    logical_bytes: int | None = None
    new_bytes: int | None = None

    @classmethod
    def parse(cls, raw: str) -> CommitMessage:
        """Take apart a message as :meth:`format` writes it (and as git reads trailers)."""
        body = raw.rstrip("\n")
        text, sep, last = body.rpartition("\n\n")
        lines = last.split("\n") if sep else []
        matches = [_TRAILER_LINE.match(line) for line in lines]
        if not lines or not all(matches):
            return cls(body)
        trailers: list[tuple[str, str]] = []
        logical = new = None
        for match in matches:
            assert match is not None
            key, value = match.group(1), match.group(2)
            if key == LOGICAL_BYTES and value.isdigit():
                logical = int(value)
            elif key == NEW_BYTES and value.isdigit():
                new = int(value)
            else:
                trailers.append((key, value))
        return cls(text.rstrip("\n"), tuple(trailers), logical, new)

    def format(self) -> str:
        """The message's text, then one paragraph of trailers (the byte counts last)."""
        lines = [f"{key}: {value}" for key, value in self.trailers]
        if self.logical_bytes is not None:
            lines += [f"{LOGICAL_BYTES}: {self.logical_bytes}", f"{NEW_BYTES}: {self.new_bytes or 0}"]
        return self.text + ("\n\n" + "\n".join(lines) if lines else "") + "\n"

    def has(self, wanted: Mapping[str, str]) -> bool:
        """Whether every ``key: value`` of ``wanted`` is among the trailers (keys case-insensitive)."""
        mine = {(key.lower(), value) for key, value in self.trailers}
        return all((key.lower(), value) in mine for key, value in wanted.items())


def check_trailers(trailers: Mapping[str, str] | None, *, reserved_ok: bool = False) -> tuple[tuple[str, str], ...]:
    """``trailers`` checked: keys of letters, digits and ``-``, values of one line."""
    if trailers is None:
        return ()
    if not isinstance(trailers, Mapping):
        raise InvalidInput(f"trailers must be a mapping of key to value, got {type(trailers).__name__}")
    checked = []
    for key, value in trailers.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise InvalidInput(f"trailer key {key!r} must be letters, digits and '-', starting with a letter or digit")
        if not reserved_ok and key.lower().startswith(RESERVED_PREFIX):
            raise InvalidInput(f"trailer key {key!r} is reserved for the store's own trailers; choose another name")
        if not isinstance(value, str) or not value.strip() or any(c in value for c in "\r\n\x00"):
            raise InvalidInput(f"trailer {key!r} needs a value of one non-empty line of text, got {value!r}")
        checked.append((key, value.strip()))
    return tuple(checked)


def commit_value(commit: GitCommit) -> Commit:
    """The :class:`~artifactstore.Commit` a git commit object stands for."""
    message = CommitMessage.parse(commit.message.decode("utf-8", "replace"))
    tz = timezone(timedelta(seconds=commit.commit_timezone))
    return Commit(
        id=commit.id.decode(),
        tree=commit.tree.decode(),
        parents=tuple(p.decode() for p in commit.parents),
        message=message.text,
        author=commit.author.decode("utf-8", "replace"),
        time=datetime.fromtimestamp(commit.commit_time, tz),
        logical_bytes=message.logical_bytes,
        new_bytes=message.new_bytes,
        trailers=message.trailers,
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
    "CommitMessage",
    "author_line",
    "check_trailers",
    "commit_message",
    "commit_value",
    "expected_head",
    "make_commit",
    "short",
]
