"""The three ports a backend supplies to the commit engine.

The engine (:class:`artifactstore.engine.EngineStore`) writes git's object model — blobs,
trees, commits — and needs only these three narrow services from a backend:

* :class:`ObjectPort` stores immutable git objects by their SHA-1 hex id;
* :class:`RefPort` maps ref names (``refs/heads/main``, ``refs/tags/v1``) to commit ids
  with an atomic compare-and-swap;
* :class:`ContentPort` stores file bytes above the inline threshold by SHA-256.

Every method may be called from several threads at once. Ids are lower-case hex ``bytes``
for objects (dulwich's convention) and ``str`` for SHA-256 content ids.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .gcguard import SharedExclusiveLock


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A git object in raw form: ``type_num`` is dulwich's (1 commit, 2 tree, 3 blob, 4 tag)."""

    id: bytes
    type_num: int
    data: bytes


class ObjectPort(ABC):
    """Immutable git objects addressed by SHA-1.

    The engine verifies every object it reads against its id, so a port returns bytes as
    stored and need not check them.
    """

    @abstractmethod
    def read(self, oid: bytes) -> tuple[int, bytes]:
        """Return ``(type_num, raw data)`` of object ``oid``; raise ``KeyError`` if absent."""

    @abstractmethod
    def write(self, objects: Iterable[StoredObject]) -> None:
        """Store objects; writing an object that exists already is a no-op.

        When this returns the objects must be durable (a crash after it may not lose them),
        unless the store's :class:`RefPort` makes them durable before it next moves a ref: the
        engine always writes a commit's objects before the ref swap that publishes them, and
        writes nothing else that names an object (git and xet: one ``syncfs`` at the ref swap).
        """

    @abstractmethod
    def contains(self, oid: bytes) -> bool:
        """True when object ``oid`` is stored."""

    @abstractmethod
    def iter_ids(self) -> Iterator[tuple[bytes, float]]:
        """Yield ``(id, modification time)`` of every stored object (for gc and fsck)."""

    @abstractmethod
    def delete(self, oids: Iterable[bytes]) -> None:
        """Remove objects (gc only). Missing ids are ignored."""


class RefPort(ABC):
    """Named pointers to commits with an atomic compare-and-swap."""

    @abstractmethod
    def get(self, name: str) -> bytes | None:
        """Return the commit id ``name`` points to, or ``None``."""

    @abstractmethod
    def compare_and_swap(self, name: str, old: bytes | None, new: bytes | None) -> bool:
        """Atomically set ``name`` to ``new`` if it currently is ``old``.

        ``old=None`` means "must not exist" and ``new=None`` deletes. Return ``False`` when
        the current value differs (the caller re-reads and retries); raise on I/O errors.
        Once this returns ``True`` the new value must survive a crash; a swap made while this
        thread holds :meth:`writer_lock` of ``name`` may instead become durable when that lock
        is released (git: the directory fsync of the rename runs after other writers may go on).
        """

    @abstractmethod
    def list(self, prefix: str) -> dict[str, bytes]:
        """Every ref whose name starts with ``prefix`` (e.g. ``refs/heads/``), full names as keys."""

    def writer_lock(self, name: str) -> AbstractContextManager[object]:
        """Held by the engine while it builds a commit for ``name`` and swaps it in.

        Optional. The default takes nothing, and racing writers are settled by
        :meth:`compare_and_swap` alone: the loser re-reads the head and builds its commit
        again (S3, memory). A backend whose writers share a machine (git, xet) returns an
        OS lock here so that they queue instead of rebuilding; the lock must be released when
        its holder dies, and it never replaces the compare-and-swap, which still guards
        against writers that do not take it (git itself, another host). A swap made under it
        is durable once the context exits, and not necessarily before: the engine reports a
        commit done only after that.
        """
        return contextlib.nullcontext()

    def gc_guard(self, *, exclusive: bool) -> AbstractContextManager[object]:
        """Held shared by the engine for the whole of every write, exclusively by gc while it deletes.

        See :mod:`artifactstore.engine.gcguard`: with it, a commit that reuses an object or a
        file gc found dead either lands before gc deletes (and gc, walking again, spares it)
        or waits until gc is done (and stores it again). The default guards the threads of
        one process (memory; S3, whose writers elsewhere gc cannot see: for them only gc's
        grace period protects what they reuse). A backend whose processes share a machine
        (git, xet) returns an OS lock that every process takes, released when its holder dies.
        """
        lock: SharedExclusiveLock | None = self.__dict__.get("_gc_guard_lock")
        if lock is None:
            lock = self.__dict__.setdefault("_gc_guard_lock", SharedExclusiveLock())
        return lock.exclusive() if exclusive else lock.shared()


@dataclass(frozen=True, slots=True)
class ContentInfo:
    """What a pointer blob records about one piece of content.

    ``extra`` holds backend-specific keys written into the pointer (xet's file hash); keys
    are lower-case ``[a-z0-9-]``. ``new_bytes`` is how many bytes the store did not hold
    before this write (0 when deduplicated); it is not recorded in the pointer.
    """

    sha256: str
    size: int
    extra: Mapping[str, str] = field(default_factory=dict)
    new_bytes: int = 0


class ContentPort(ABC):
    """File bytes addressed by SHA-256, written by streaming."""

    @abstractmethod
    def write(self, stream: BinaryIO, *, size_hint: int | None = None, local_path: str | None = None) -> ContentInfo:
        """Store everything ``stream`` yields, return its :class:`ContentInfo`.

        Read the stream in bounded chunks; never hold it whole. ``local_path``, when given,
        names a local file with the same bytes that the port may read directly instead
        (hf-xet uploads from a path; s3 can hash before uploading). Content that is already
        stored is deduplicated (``new_bytes == 0``). Durable when this returns.
        """

    @abstractmethod
    def open(self, info: ContentInfo) -> BinaryIO:
        """A seekable binary stream over the content. The engine verifies the SHA-256."""

    def local_file(self, info: ContentInfo) -> Path | None:
        """The file on this machine that holds (or should hold) exactly the content's bytes, or ``None``.

        Only a backend that keeps each content as one ordinary, never-modified file returns
        one (git's LFS object); the default, for content kept in chunks or remotely (xet, s3,
        memory), is ``None``. The engine stats the file, so a missing one need not be looked
        for here. The caller must not write to it.
        """
        return None

    @abstractmethod
    def contains(self, info: ContentInfo) -> bool:
        """True when the content is stored."""

    @abstractmethod
    def iter_ids(self) -> Iterator[tuple[str, int, float]]:
        """Yield ``(sha256, stored size, modification time)`` of every stored content."""

    @abstractmethod
    def delete(self, sha256s: Iterable[str]) -> None:
        """Remove content (gc only). Missing ids are ignored."""

    def sweep_staging(self, older_than: float) -> int:
        """Remove staging data (temporary files, unfinished uploads) last touched before ``older_than``.

        Called by gc; a writer killed mid-upload leaves such data behind. Return how many
        items were removed. The default has no staging area.
        """
        return 0

    def stored_bytes(self) -> int:
        """Bytes the content store occupies (after chunk dedup where the store has it)."""
        return sum(size for _, size, _ in self.iter_ids())


__all__ = ["ContentInfo", "ContentPort", "ObjectPort", "RefPort", "StoredObject"]
