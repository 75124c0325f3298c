"""Large-file content in the Git LFS layout: ``<gitdir>/lfs/objects/<aa>/<bb>/<sha256>``.

This is where ``git lfs`` keeps its local object cache, so ``git lfs`` tools see the files
the pointer blobs in our trees refer to. A write streams into ``<gitdir>/lfs/tmp/`` while
hashing (never holding the file in memory), fsyncs, and renames into place; content that
is already stored is deduplicated (its mtime is freshened, so a concurrent gc's grace
period protects it).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from artifactstore.engine import ContentInfo, ContentPort, remove_files_older_than
from artifactstore.errors import NotFound

from ._io import write_all
from .durability import fsync_path, start_writeback

log = logging.getLogger(__name__)

CHUNK = 4 * 1024 * 1024
#: Written bytes after which their writeback starts (so the final fsync has little left).
WRITEBACK_BYTES = 16 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class LfsContentPort(ContentPort):
    """Content files in the repository's Git LFS object directory."""

    def __init__(self, commondir: Path, *, fsync: bool = True) -> None:
        self._objects = commondir / "lfs" / "objects"
        self._tmp = commondir / "lfs" / "tmp"
        self._fsync = fsync

    def path_of(self, sha256: str) -> Path:
        """Where content ``sha256`` is (or would be) stored."""
        if not _SHA256.match(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self._objects / sha256[:2] / sha256[2:4] / sha256

    def sweep_staging(self, older_than: float) -> int:
        """Remove staging files of uploads that were killed (none younger than ``older_than``)."""
        try:
            candidates = list(self._tmp.iterdir())
        except FileNotFoundError:
            return 0
        return remove_files_older_than(candidates, older_than)

    def write(self, stream: BinaryIO, *, size_hint: int | None = None, local_path: str | None = None) -> ContentInfo:
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="artifactstore-", dir=self._tmp)
        digest = hashlib.sha256()
        size = flushed = 0
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                buffer = bytearray(CHUNK)
                view = memoryview(buffer)
                readinto = getattr(stream, "readinto", None)
                while True:
                    if readinto is not None:
                        n = readinto(view)
                        if not n:
                            break
                        chunk = view[:n]
                    else:
                        data = stream.read(CHUNK)
                        if not data:
                            break
                        chunk = memoryview(data)
                    digest.update(chunk)
                    write_all(out.fileno(), chunk, what=f"LFS staging file {tmp}")
                    size += len(chunk)
                    if self._fsync and size - flushed >= WRITEBACK_BYTES:
                        start_writeback(out.fileno(), flushed, size - flushed)
                        flushed = size
                if self._fsync:
                    os.fsync(out.fileno())
            sha = digest.hexdigest()
            dest = self.path_of(sha)
            try:
                os.utime(dest)
            except FileNotFoundError:
                pass
            else:
                os.unlink(tmp)
                return ContentInfo(sha256=sha, size=size, new_bytes=0)
            os.chmod(tmp, 0o444)
            created: list[Path] = []
            for _attempt in range(3):
                created += _makedirs(dest.parent)
                try:
                    os.replace(tmp, dest)
                    break
                except FileNotFoundError:
                    continue  # a concurrent gc removed the emptied fan-out directory; make it again
            else:
                raise OSError(f"cannot store content {sha} under {str(self._objects)!r}: its directory keeps vanishing")
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        if self._fsync:
            for directory in [dest.parent, *created]:
                fsync_path(directory)
        return ContentInfo(sha256=sha, size=size, new_bytes=size)

    def open(self, info: ContentInfo) -> BinaryIO:
        try:
            return open(self.path_of(info.sha256), "rb")
        except FileNotFoundError:
            raise NotFound(
                f"content {info.sha256} is missing from {str(self._objects)!r} (deleted, or never fetched: try 'git lfs fetch')"
            ) from None

    def local_file(self, info: ContentInfo) -> Path:
        """The LFS object file itself (read-only: written once, renamed into place, mode 0444)."""
        return self.path_of(info.sha256)

    def contains(self, info: ContentInfo) -> bool:
        return self.path_of(info.sha256).is_file()

    def iter_ids(self) -> Iterator[tuple[str, int, float]]:
        for first in _subdirs(self._objects):
            for second in _subdirs(first):
                for entry in os.scandir(second):
                    if not _SHA256.match(entry.name) or not entry.name.startswith(first.name + second.name):
                        continue
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        continue
                    yield entry.name, st.st_size, st.st_mtime

    def delete(self, sha256s: Iterable[str]) -> None:
        for sha in sha256s:
            path = self.path_of(sha)
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            for parent in (path.parent, path.parent.parent):
                try:
                    parent.rmdir()
                except OSError:
                    break


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(Path(e.path) for e in os.scandir(path) if e.is_dir() and len(e.name) == 2)
    except FileNotFoundError:
        return []


def _makedirs(path: Path) -> list[Path]:
    """Create ``path`` and missing parents; return the parents whose entries changed (to fsync)."""
    missing: list[Path] = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
    return [d.parent for d in missing]


__all__ = ["LfsContentPort"]
