"""The content index: which SHA-256 is in the CAS, under which Xet file hash.

A Xet CAS is addressed by Merkle file hashes and cannot list its files, so the port keeps
one small file per content, ``<index>/<sha[:2]>/<sha>``, holding ``<xet hash> <size>
<new bytes>``. It is written (atomically, fsync'ed) only after the CAS has the content, so
an entry always means "readable"; its mtime is the content's age for gc's grace period and
is refreshed whenever a write deduplicates against it.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from artifactstore_git.durability import fsync_path

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class IndexEntry:
    sha256: str
    xet_hash: str
    size: int
    new_bytes: int
    mtime: float


class ContentIndex:
    """SHA-256 -> Xet file hash, one file per entry (safe for concurrent processes)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def get(self, sha256: str) -> IndexEntry | None:
        if not _SHA256.fullmatch(sha256):
            return None
        path = self._path(sha256)
        try:
            text = path.read_text(encoding="ascii")
            mtime = path.stat().st_mtime
        except (FileNotFoundError, NotADirectoryError):
            return None
        return self._parse(sha256, text, mtime)

    @staticmethod
    def _parse(sha256: str, text: str, mtime: float) -> IndexEntry | None:
        parts = text.split()
        if len(parts) != 3 or not _SHA256.fullmatch(parts[0]) or not parts[1].isdigit() or not parts[2].isdigit():
            return None
        return IndexEntry(sha256, parts[0], int(parts[1]), int(parts[2]), mtime)

    def put(self, sha256: str, xet_hash: str, size: int, new_bytes: int) -> None:
        """Record content (durably); an existing entry keeps its first ``new_bytes`` and is touched."""
        path = self._path(sha256)
        existing = self.get(sha256)
        if existing is not None and existing.xet_hash == xet_hash:
            with contextlib.suppress(FileNotFoundError):
                os.utime(path)
                return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{sha256[:8]}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(f"{xet_hash} {size} {new_bytes}\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        fsync_path(path.parent)

    def remove(self, sha256s: Iterable[str]) -> list[str]:
        """Remove entries; return the ids that were present."""
        removed = []
        dirs = set()
        for sha256 in sha256s:
            if not _SHA256.fullmatch(sha256):
                continue
            path = self._path(sha256)
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed.append(sha256)
            dirs.add(path.parent)
        for directory in dirs:
            fsync_path(directory)
        return removed

    def __iter__(self) -> Iterator[IndexEntry]:
        if not self.root.is_dir():
            return
        for sub in sorted(self.root.iterdir()):
            if not sub.is_dir() or len(sub.name) != 2:
                continue
            for path in sorted(sub.iterdir()):
                if not _SHA256.fullmatch(path.name):
                    continue  # a temporary file of a concurrent put
                try:
                    text = path.read_text(encoding="ascii")
                    mtime = path.stat().st_mtime
                except FileNotFoundError:
                    continue
                entry = self._parse(path.name, text, mtime)
                if entry is not None:
                    yield entry


__all__ = ["ContentIndex", "IndexEntry"]
