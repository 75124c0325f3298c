"""The abstract interface every backend implements: :class:`ArtifactStore`.

Reads take ``rev`` (a branch, a tag or a commit id, optionally followed by ``~N`` / ``^``
first-parent steps); ``None`` means the store's default branch (``main`` unless the URI
chose another). Every write is exactly one atomic commit on one branch: readers see the
old tree or the new one, never a mix, and a crash before the branch moves leaves only
unreachable garbage that :meth:`gc` reclaims.

How backends differ is declared in capability class attributes, which the conformance
suite reads to skip what a backend does not claim:

``persistent``
    Data outlives the process (false only for :class:`~artifactstore.MemoryStore`).
``cross_process``
    Several processes, possibly on several machines, may write one store at the same
    time without losing commits (git and xet: lock files; s3: conditional PUTs).
``chunk_dedup``
    Content is deduplicated below file level, so a checkpoint that changed 10% stores
    about 10% new bytes (xet). Every backend deduplicates identical files.
``bounded_memory``
    Large files stream through a fixed-size buffer; a 256 MiB file never sits in memory
    (false for the memory backend, which keeps content in memory by design).

What only a server needs (sending a file straight from disk, committing on an event
loop's thread) is not part of this contract: see :mod:`artifactstore.protocols`.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from .errors import IsADirectory, NotADirectory, NotFound
from .validation import validate_path
from .values import (
    Change,
    Commit,
    Delete,
    Entry,
    FsckReport,
    GCReport,
    Operation,
    Put,
    Source,
    StoreStats,
)

if TYPE_CHECKING:
    from typing_extensions import Self

DEFAULT_BRANCH = "main"
#: The capability class attributes, as the conformance suite and ``artifactstore backends`` name them.
CAPABILITIES = ("persistent", "cross_process", "chunk_dedup", "bounded_memory")
COPY_CHUNK = 1024 * 1024


class ArtifactStore(ABC):
    """A versioned tree of files with branches, tags, history, diff and merge.

    Implementers: subclass :class:`artifactstore.engine.EngineStore` and supply its three
    ports rather than implementing this class from scratch; the engine gives every method
    the semantics the conformance suite checks.
    """

    #: Backend name, used in ``artifactstore+<name>://`` URIs and in the plugin registry.
    name: ClassVar[str]
    persistent: ClassVar[bool] = True
    cross_process: ClassVar[bool] = False
    chunk_dedup: ClassVar[bool] = False
    bounded_memory: ClassVar[bool] = True

    default_branch: str = DEFAULT_BRANCH

    # ----------------------------------------------------------------- plugin side
    @classmethod
    def split_root(cls, netloc: str, path: str) -> tuple[str, str]:
        """Split a URI's location into ``(store location, path inside the store)``.

        MLflow appends ``<experiment>/<run>/artifacts`` to an artifact root, so a backend
        must find where its store ends when the URI has no ``@branch`` marker. The default
        treats the whole location as the store; backends override (git walks up to the
        repository, memory takes the netloc).
        """
        return netloc + path, ""

    @classmethod
    @abstractmethod
    def from_location(
        cls, location: str, *, branch: str | None = None, create: bool = False, options: Mapping[str, Any] | None = None
    ) -> Self:
        """Open (or with ``create``, create) the store at ``location``.

        ``location`` is what follows ``artifactstore+<name>://`` up to the branch marker.
        ``options`` come from the named-store configuration file. Raises
        :class:`~artifactstore.errors.NotFound` when the store does not exist and
        ``create`` is false.
        """

    @property
    @abstractmethod
    def uri(self) -> str:
        """The ``artifactstore+<name>://`` URI that reopens this store."""

    # ----------------------------------------------------------------- reads
    @abstractmethod
    def open(self, path: str, *, rev: str | None = None) -> BinaryIO:
        """Open the file at ``path`` for binary reading; the stream is seekable.

        Reading the stream to its end verifies the content's SHA-256 and raises
        :class:`~artifactstore.errors.IntegrityError` on a mismatch. Backends with a
        remote content store (s3, xet) fetch only the ranges read after a ``seek()``.
        """

    @abstractmethod
    def stat(self, path: str, *, rev: str | None = None) -> Entry:
        """Describe the file or directory at ``path`` ("" is the root)."""

    @abstractmethod
    def list(self, path: str = "", *, rev: str | None = None, recursive: bool = False) -> builtins.list[Entry]:
        """List a directory, sorted by path: one level, or every file below it with ``recursive``.

        Recursive listings contain files only (directories are implied by their paths).
        """

    # ----------------------------------------------------------------- writes
    @abstractmethod
    def commit(
        self,
        changes: Iterable[Operation],
        *,
        branch: str | None = None,
        message: str | None = None,
        expect_head: str | None = None,
        author: str | None = None,
        trailers: Mapping[str, str] | None = None,
    ) -> Commit:
        """Apply puts and deletes to ``branch`` as one atomic commit and return it.

        All or nothing: every path is validated, and every delete target checked, before
        any byte is stored. When another writer moved the branch meanwhile, the change is
        re-applied onto the new head if it touches other paths; if the same path was changed
        differently, :class:`~artifactstore.errors.Conflict` is raised. With ``expect_head``
        (a commit id, or ``""`` for "the branch must not exist yet") the commit is made only
        if the branch still points there, else :class:`~artifactstore.errors.HeadMoved`.
        A missing branch is created by its first commit.

        ``trailers`` are recorded as git trailers (``Key: value`` lines at the end of the
        message) and come back in :attr:`Commit.trailers`; :meth:`log` can select by them.
        A key is letters, digits and ``-`` (keys starting ``Artifactstore-`` are the
        store's own); a value is one line of text.
        """

    # ----------------------------------------------------------------- history
    @abstractmethod
    def resolve(self, rev: str | None = None) -> str:
        """Return the full commit id that ``rev`` names."""

    @abstractmethod
    def get_commit(self, rev: str | None = None) -> Commit:
        """Return the commit that ``rev`` names."""

    @abstractmethod
    def log(
        self,
        rev: str | None = None,
        *,
        path: str | None = None,
        limit: int | None = None,
        trailers: Mapping[str, str] | None = None,
    ) -> Iterator[Commit]:
        """Yield commits reachable from ``rev``, newest first.

        With ``path``, only commits that changed that file or anything below that directory.
        With ``trailers``, only commits that carry every one of those trailers with exactly
        that value (keys compare case-insensitively), e.g. ``{"MLflow-Run": run_id}``.
        ``limit`` counts the commits yielded.
        """

    @abstractmethod
    def diff(self, a: str, b: str | None = None, *, prefix: str | None = None) -> builtins.list[Change]:
        """Files added, modified and deleted going from revision ``a`` to ``b``, sorted by path."""

    # ----------------------------------------------------------------- refs
    @abstractmethod
    def branches(self) -> dict[str, str]:
        """Map each branch name to its head commit id."""

    @abstractmethod
    def create_branch(self, name: str, *, rev: str | None = None) -> str:
        """Create branch ``name`` at ``rev`` (default: the default branch's head); return the commit id."""

    @abstractmethod
    def delete_branch(self, name: str) -> None:
        """Delete a branch. Its commits stay until no ref reaches them and :meth:`gc` runs."""

    @abstractmethod
    def tags(self) -> dict[str, str]:
        """Map each tag name to the commit id it marks."""

    @abstractmethod
    def create_tag(self, name: str, *, rev: str | None = None) -> str:
        """Mark ``rev`` with tag ``name``; tags never move. Return the commit id."""

    @abstractmethod
    def delete_tag(self, name: str) -> None:
        """Delete a tag."""

    @abstractmethod
    def merge(self, source: str, *, into: str | None = None, message: str | None = None) -> Commit:
        """Merge revision ``source`` into branch ``into``; return the new head commit.

        Fast-forwards when ``into`` is an ancestor of ``source``, returns the current head
        when ``source`` is already merged, and otherwise makes a three-way merge at the tree
        level. A path changed differently on both sides raises
        :class:`~artifactstore.errors.Conflict` naming every such path; nothing is written.
        """

    # ----------------------------------------------------------------- maintenance
    @abstractmethod
    def gc(self, *, dry_run: bool = False, grace_seconds: float = 3600.0) -> GCReport:
        """Remove objects and content that no branch or tag reaches.

        Only data older than ``grace_seconds`` is removed, so a commit being written
        concurrently (its content is stored before its ref moves) is never collected.
        """

    @abstractmethod
    def fsck(self) -> FsckReport:
        """Re-hash every reachable object and file; report problems, repair nothing."""

    @abstractmethod
    def stats(self, rev: str | None = None) -> StoreStats:
        """Logical bytes of every file reachable from any ref versus bytes stored."""

    # ----------------------------------------------------------------- concrete defaults
    def read_bytes(self, path: str, *, rev: str | None = None) -> bytes:
        """Return the whole file. Verifies its SHA-256."""
        with self.open(path, rev=rev) as f:
            return f.read()

    def exists(self, path: str, *, rev: str | None = None) -> bool:
        """True when a file or directory exists at ``path``."""
        try:
            self.stat(path, rev=rev)
        except (NotFound, NotADirectory):
            return False
        return True

    def download(self, path: str, dest: str | os.PathLike[str], *, rev: str | None = None) -> Path:
        """Write the file or directory at ``path`` to local ``dest`` and return ``dest``.

        Each file is written to a temporary name beside its destination, verified, then
        renamed, so an interrupted download never leaves a truncated file under the real name.

        Note for implementers: this default makes one :meth:`open` per file.
        """
        dest = Path(dest)
        entry = self.stat(path, rev=rev)
        if entry.kind == "file":
            self._download_file(path, dest, rev=rev)
            return dest
        dest.mkdir(parents=True, exist_ok=True)
        resolved = self.resolve(rev)
        for item in self.list(path, rev=resolved, recursive=True):
            relative = item.path[len(path) + 1 :] if path else item.path
            self._download_file(item.path, dest / relative, rev=resolved)
        return dest

    def _download_file(self, path: str, dest: Path, *, rev: str | None) -> None:
        if dest.is_dir():
            raise IsADirectory(f"download destination {str(dest)!r} is a directory; name the file to write")
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out, self.open(path, rev=rev) as src:
                shutil.copyfileobj(src, out, COPY_CHUNK)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def put_bytes(
        self, path: str, data: bytes, *, branch: str | None = None, message: str | None = None, **kwargs: Any
    ) -> Commit:
        """Write ``data`` at ``path`` as one commit."""
        return self.commit([Put(path, data)], branch=branch, message=message or f"put {path}", **kwargs)

    def put_file(
        self,
        path: str,
        source: Source,
        *,
        branch: str | None = None,
        message: str | None = None,
        **kwargs: Any,
    ) -> Commit:
        """Write a local file (or a readable binary stream) at ``path`` as one commit, streaming it."""
        return self.commit([Put(path, source)], branch=branch, message=message or f"put {path}", **kwargs)

    def upload_dir(
        self,
        local_dir: str | os.PathLike[str],
        prefix: str = "",
        *,
        branch: str | None = None,
        message: str | None = None,
        **kwargs: Any,
    ) -> Commit:
        """Write every file below ``local_dir`` under ``prefix`` as one atomic commit.

        Symbolic links are followed; empty directories are not recorded (git has no empty
        trees).
        """
        root = Path(local_dir)
        if not root.is_dir():
            raise NotADirectory(f"upload source {str(root)!r} is not a directory")
        if prefix:
            validate_path(prefix, what="destination prefix")
        puts = [
            Put(f"{prefix}/{rel}" if prefix else rel, str(file))
            for rel, file in sorted(_walk_files(root))
        ]
        where = prefix or "/"
        return self.commit(
            puts, branch=branch, message=message or f"upload {len(puts)} files to {where}", **kwargs
        )

    def delete(self, path: str, *, branch: str | None = None, message: str | None = None, **kwargs: Any) -> Commit:
        """Delete the file or directory at ``path`` as one commit. History keeps it."""
        return self.commit([Delete(path)], branch=branch, message=message or f"delete {path}", **kwargs)

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release files, locks and connections. The default does nothing."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uri}>"


def _walk_files(root: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        base = Path(dirpath)
        rel_dir = base.relative_to(root).as_posix()
        for filename in sorted(filenames):
            rel = filename if rel_dir == "." else f"{rel_dir}/{filename}"
            yield rel, base / filename


def as_stream(source: Source) -> tuple[BinaryIO, bool]:
    """Open a :data:`Source` as a binary stream; the flag says whether the caller must close it."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source)), True
    if isinstance(source, (str, os.PathLike)):
        return open(source, "rb"), True
    if hasattr(source, "read"):
        return source, False
    raise TypeError(f"cannot read artifact content from {type(source).__name__}; pass bytes, a path or a binary stream")


__all__ = ["DEFAULT_BRANCH", "ArtifactStore", "as_stream"]
