"""Mixins with which an engine backend offers the optional protocols of :mod:`artifactstore.protocols`.

A backend lists them before :class:`~artifactstore.engine.EngineStore` in its bases, only
when the protocol's promise holds for it::

    class GitStore(LocalFiles, QuickCommits, EngineStore): ...
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..errors import IntegrityError
from ..values import Commit, Operation
from .gcguard import without_waiting
from .reads import EngineReads, content_missing
from .writes import EngineWrites


class LocalFiles(EngineReads):
    """:class:`~artifactstore.protocols.SupportsLocalFiles` for a content port with one local file per content.

    The file is what the content port's :meth:`~artifactstore.engine.ContentPort.local_file`
    names; files kept inline as git blobs have none.
    """

    def local_path(self, path: str, *, rev: str | None = None) -> Path | None:
        info = self.find_file(path, rev)
        local = self.content.local_file(info.pointer) if info.pointer is not None else None
        if local is None:
            return None
        try:
            found = local.stat().st_size
        except FileNotFoundError:
            raise content_missing(info.sha256, path) from None
        if found != info.size:
            raise IntegrityError(
                f"content of {path!r} ({info.sha256[:12]}) in {str(local)!r} holds {found} bytes, not the "
                f"{info.size} its pointer records; run 'artifactstore fsck'"
            )
        return local


class QuickCommits(EngineWrites):
    """:class:`~artifactstore.protocols.SupportsQuickCommits`; the backend says which commits are quick.

    The default :meth:`commits_quickly` answers true for everything; override it where a
    commit may wait on another process or the network.
    """

    def commits_quickly(self, data: bytes) -> bool:
        return True

    def commit_without_waiting(
        self, changes: Iterable[Operation], *, branch: str | None = None, message: str | None = None
    ) -> Commit:
        with without_waiting():
            return self.commit(changes, branch=branch, message=message)


__all__ = ["LocalFiles", "QuickCommits"]
