"""Optional protocols: what some stores offer a server beyond the store contract.

:class:`~artifactstore.ArtifactStore` is the store contract and nothing else. A consumer
that can use more (the MLflow server sends files straight from disk, and commits a small
upload on its event loop's thread) checks for it with ``isinstance(store, SupportsX)``;
the protocols are runtime-checkable, so a store offers one by having its methods. A
consumer must work with stores that offer none of them.

Among the built-in backends, git offers both; memory and xet offer
:class:`SupportsQuickCommits` (xet for the files it keeps as git objects); s3 offers
neither, since every s3 write is a network request.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

from .values import Commit, Operation


@runtime_checkable
class SupportsLocalFiles(Protocol):
    """A store some of whose files are ordinary files on this machine, which a server may send as they are."""

    def local_path(self, path: str, *, rev: str | None = None) -> Path | None:
        """A local file holding exactly the bytes of the file at ``path``, or ``None``.

        ``None`` means the file has no such file of its own (git: a small file kept in a git
        object); the caller then reads it with :meth:`~artifactstore.ArtifactStore.open`.
        The file's size is checked against the store's record, its SHA-256 is not
        recomputed (that is what ``open`` and ``fsck`` do), so a caller that must verify
        every byte uses ``open``. The file is shared and read-only, and vanishes only when
        ``gc`` reclaims content no commit references. Raises
        :class:`~artifactstore.errors.IsADirectory` for a directory and
        :class:`~artifactstore.errors.NotFound` for a missing path.
        """
        ...


@runtime_checkable
class SupportsQuickCommits(Protocol):
    """A store whose small commits are local work that a caller may make without waiting on others."""

    def commits_quickly(self, data: bytes) -> bool:
        """Whether committing one file holding ``data`` needs no network and no turn behind another process.

        A hint, read without taking any lock: the answer may be out of date by the time
        the commit is made, which :meth:`commit_without_waiting` then reports.
        """
        ...

    def commit_without_waiting(
        self, changes: Iterable[Operation], *, branch: str | None = None, message: str | None = None
    ) -> Commit:
        """:meth:`~artifactstore.ArtifactStore.commit`, but never waiting for ``gc``'s deletes.

        Where the commit would wait for them it raises
        :class:`~artifactstore.errors.WouldWait` before anything is stored. It may still
        wait briefly for the branch's writer lock, which other writers hold only for their
        ref swaps.
        """
        ...


__all__ = ["SupportsLocalFiles", "SupportsQuickCommits"]
