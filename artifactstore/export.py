"""Writing a whole tree, or a sub-path, at one revision to a local directory.

Every file is streamed to a temporary name beside its destination, hashed while it is
written, compared with the SHA-256 (and size) the tree records, and only then renamed into
place: an export that fails leaves no file with wrong bytes under its real name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import AlreadyExists, IntegrityError, IsADirectory, NotADirectory
from .store import COPY_CHUNK
from .validation import validate_path

if TYPE_CHECKING:
    from .store import ArtifactStore
    from .values import Entry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """What an export will write: the commit, the files and where each goes."""

    commit: str
    path: str
    files: tuple[tuple[Entry, Path], ...]

    @property
    def total_bytes(self) -> int:
        return sum(entry.size or 0 for entry, _ in self.files)


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What :func:`export` wrote: ``files`` files, ``bytes`` bytes of commit ``commit``."""

    commit: str
    path: str
    dest: str
    files: int
    bytes: int


def plan_export(store: ArtifactStore, dest: str | os.PathLike[str], *, rev: str | None = None, path: str = "",
                force: bool = False) -> ExportPlan:
    """Check the inputs and list what :func:`export` would write; nothing is written.

    Raises :class:`~artifactstore.errors.AlreadyExists` when ``dest`` is a non-empty
    directory and ``force`` is false, :class:`~artifactstore.errors.NotADirectory` when it
    is a file, and the store's errors for a bad ``rev`` or ``path``.
    """
    validate_path(path, allow_root=True, what="export path")
    root = Path(dest)
    if root.exists() and not root.is_dir():
        raise NotADirectory(f"export destination {str(root)!r} is a file; name a directory")
    if root.is_dir() and any(root.iterdir()) and not force:
        raise AlreadyExists(f"export destination {str(root)!r} is not empty; choose an empty directory or pass --force")
    commit = store.resolve(rev)
    entry = store.stat(path, rev=commit)
    if entry.kind == "file":
        files: tuple[tuple[Entry, Path], ...] = ((entry, root / entry.name),)
    else:
        cut = len(path) + 1 if path else 0
        files = tuple((item, root.joinpath(*item.path[cut:].split("/"))) for item in store.list(path, rev=commit, recursive=True))
    return ExportPlan(commit, path, files)


def export(
    store: ArtifactStore,
    dest: str | os.PathLike[str],
    *,
    rev: str | None = None,
    path: str = "",
    force: bool = False,
    on_bytes: Callable[[int], None] | None = None,
) -> ExportReport:
    """Write ``path`` (default: the whole tree) at revision ``rev`` below local directory ``dest``.

    A directory's files keep their paths relative to ``path``; a single file is written as
    ``dest/<its name>``. The revision is resolved once, so a branch moving meanwhile never
    mixes two commits. With ``force`` files already in ``dest`` are overwritten and other
    files there are left alone. ``on_bytes`` is called as bytes are written (progress bars).
    """
    plan = plan_export(store, dest, rev=rev, path=path, force=force)
    Path(dest).mkdir(parents=True, exist_ok=True)
    written = 0
    for entry, local in plan.files:
        written += write_verified(store, entry, local, rev=plan.commit, on_bytes=on_bytes)
    log.info("exported %d files (%d bytes) of %s at %s to %s", len(plan.files), written, path or "/", plan.commit, dest)
    return ExportReport(plan.commit, path, str(dest), len(plan.files), written)


def write_verified(
    store: ArtifactStore, entry: Entry, local: Path, *, rev: str, on_bytes: Callable[[int], None] | None = None
) -> int:
    """Stream one file to ``local`` through a temporary name, check its SHA-256 and size, rename."""
    if local.is_dir():
        raise IsADirectory(f"cannot export {entry.path!r}: {str(local)!r} is a directory")
    local.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{local.name}.", suffix=".part", dir=local.parent)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out, store.open(entry.path, rev=rev) as source:
            while chunk := source.read(COPY_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
        if digest.hexdigest() != entry.sha256 or size != entry.size:
            raise IntegrityError(
                f"{entry.path!r} read back as {size} bytes with SHA-256 {digest.hexdigest()}, "
                f"but the tree records {entry.size} bytes with {entry.sha256}; run 'artifactstore fsck'"
            )
        os.replace(tmp, local)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size


__all__ = ["ExportPlan", "ExportReport", "export", "plan_export", "write_verified"]
