"""Frozen value types shared by the interface, the engine and every backend."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Literal, Union

EntryKind = Literal["file", "dir"]
ChangeKind = Literal["added", "modified", "deleted"]
#: What a :class:`Put` may carry: raw bytes, a local file path, or a readable binary stream.
Source = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", BinaryIO]


@dataclass(frozen=True, slots=True)
class Entry:
    """A file or directory as seen at one revision.

    ``size`` and ``sha256`` are set for files and ``None`` for directories. ``path`` is the
    logical artifact path ("" is the root directory).
    """

    path: str
    kind: EntryKind
    size: int | None = None
    sha256: str | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Commit:
    """One commit. ``time`` is timezone-aware. ``parents`` is empty for a root commit.

    ``logical_bytes`` is the size of every file the commit wrote and ``new_bytes`` how much
    of it the store did not already hold (a file stored before, under any path, adds 0; on
    xet only new chunks count). Both are ``None`` when the commit wrote no file, e.g. a pure
    delete or a merge.

    ``trailers`` are the commit's machine-readable ``Key: value`` lines (git trailers), in
    their order, given to :meth:`~artifactstore.ArtifactStore.commit`; ``message`` is the
    text without them. The MLflow adapter records ``MLflow-Experiment``, ``MLflow-Run`` or
    ``MLflow-Logged-Model`` and ``MLflow-Artifact-Path`` there.
    """

    id: str
    tree: str
    parents: tuple[str, ...]
    message: str
    author: str
    time: datetime
    logical_bytes: int | None = None
    new_bytes: int | None = None
    trailers: tuple[tuple[str, str], ...] = ()

    def trailer(self, key: str) -> str | None:
        """The value of the last trailer named ``key`` (case-insensitive, as git compares them), or ``None``."""
        wanted = key.lower()
        found = None
        for name, value in self.trailers:
            if name.lower() == wanted:
                found = value
        return found


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two revisions: ``old`` is ``None`` when added, ``new`` when deleted."""

    kind: ChangeKind
    path: str
    old: Entry | None = None
    new: Entry | None = None


@dataclass(frozen=True, slots=True)
class Put:
    """Write ``source`` at ``path``; replaces an existing file."""

    path: str
    source: Source


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove the file or the whole directory at ``path``."""

    path: str


Operation = Put | Delete


@dataclass(frozen=True, slots=True)
class GCReport:
    """What :meth:`ArtifactStore.gc` removed (or, with ``dry_run``, would remove)."""

    objects_removed: int
    content_removed: int
    bytes_freed: int
    dry_run: bool


@dataclass(frozen=True, slots=True)
class FsckReport:
    """What :meth:`ArtifactStore.fsck` found. ``ok`` is true when ``problems`` is empty."""

    objects_checked: int
    content_checked: int
    problems: tuple[str, ...] = field(default_factory=tuple)
    unreachable_objects: int = 0
    unreachable_content: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Logical versus stored bytes of file content (see ``artifactstore stats``)."""

    files: int
    logical_bytes: int
    stored_bytes: int

    @property
    def dedup_ratio(self) -> float:
        return self.logical_bytes / self.stored_bytes if self.stored_bytes else 1.0


__all__ = [
    "Change",
    "ChangeKind",
    "Commit",
    "Delete",
    "Entry",
    "EntryKind",
    "FsckReport",
    "GCReport",
    "Operation",
    "Put",
    "Source",
    "StoreStats",
]
