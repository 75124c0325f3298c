"""Refs of a git repository with compare-and-swap under git's lock-file protocol.

Why not dulwich's ``set_if_equals``: it takes the lock with ``O_EXCL`` too, but fails at once
when the lock exists (no wait, no stale-lock detection), treats ``old=None`` as "set
unconditionally" rather than "must not exist", and deletes loose refs before packed ones.

Loose refs (``refs/heads/main``) override entries of ``packed-refs`` (written by
``git pack-refs`` / ``git gc``), exactly as git reads them. A delete removes the packed entry
first (under ``packed-refs.lock``) and the loose file second, so no reader ever sees an old
packed value come back. Every change is fsynced with its directory before it returns, except
a swap made under :meth:`GitRefPort.writer_lock`, whose directory is fsynced when that lock
is released.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from artifactstore.engine import RefPort
from artifactstore.errors import AlreadyExists, IntegrityError

from ._io import read_all
from .durability import fsync_path
from .locks import FLOCK_AVAILABLE, GC_WAIT_SECONDS, FileLock, gc_lock, writer_lock

_OID = re.compile(rb"[0-9a-f]{40}")
# Refs whose writer lock a thread holds -> whether a swap under it awaits its directory fsync.
_HeldRefs = dict[str, bool]

log = logging.getLogger(__name__)

MAX_SYMREF_DEPTH = 5


class GitRefPort(RefPort):
    """Refs stored as git stores them: loose files under ``refs/`` plus ``packed-refs``.

    ``guard(name)`` is called before a ref is changed and raises to refuse the change (the
    store uses it to protect a branch checked out in a working tree). With
    ``sync_filesystem`` (Linux) a new ref value is made durable by ``syncfs(2)``, which also
    makes the objects it names durable: the object port then writes them without barriers.
    """

    def __init__(
        self,
        commondir: Path,
        *,
        lock_timeout: float = 30.0,
        stale_lock_seconds: float = 120.0,
        fsync: bool = True,
        sync_filesystem: bool = False,
        guard: Callable[[str], None] | None = None,
    ) -> None:
        self._dir = commondir
        self._sync_filesystem = sync_filesystem
        self._root = os.fspath(commondir)
        self._packed_path = f"{self._root}/packed-refs"
        self._lock_timeout = lock_timeout
        self._stale = stale_lock_seconds
        self._fsync = fsync
        self._guard = guard
        self._packed_cache: tuple[tuple[int, int, int], dict[str, bytes]] | None = None
        # Per thread: the refs whose writer lock the thread holds, and whether a swap made under
        # it still needs its rename made durable (done when the lock is released).
        self._held = threading.local()

    # ------------------------------------------------------------------ reading
    def _path(self, name: str) -> Path:
        return self._dir.joinpath(*name.split("/"))

    def _read_loose(self, name: str) -> bytes | None:
        # A ref is read three times per commit: read_all spares open()'s buffered reader.
        try:
            data = read_all(f"{self._root}/{name}")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        value = data.strip()
        if not value.startswith(b"ref: ") and not _OID.fullmatch(value):
            raise IntegrityError(f"ref {name} is damaged: it holds {value[:60]!r}, not a commit id; run 'artifactstore fsck'")
        return value

    def _packed(self) -> dict[str, bytes]:
        try:
            with open(self._packed_path, "rb") as f:
                st = os.fstat(f.fileno())
                key = (st.st_ino, st.st_mtime_ns, st.st_size)
                if self._packed_cache is not None and self._packed_cache[0] == key:
                    return self._packed_cache[1]
                data = f.read()
        except FileNotFoundError:
            return {}
        refs: dict[str, bytes] = {}
        for line in data.splitlines():
            if not line or line.startswith((b"#", b"^")):
                continue  # header, or the peeled value of the annotated tag above
            sha, _, name = line.partition(b" ")
            refs[name.decode("utf-8", "surrogateescape")] = sha.strip()
        self._packed_cache = (key, refs)
        return refs

    def _current(self, name: str, depth: int = 0) -> bytes | None:
        loose = self._read_loose(name)
        if loose is None:
            return self._packed().get(name)
        if loose.startswith(b"ref: "):
            if depth >= MAX_SYMREF_DEPTH:
                return None
            return self._current(loose[5:].decode("utf-8", "surrogateescape"), depth + 1)
        return loose

    def get(self, name: str) -> bytes | None:
        return self._current(name)

    def list(self, prefix: str) -> dict[str, bytes]:
        result = {name: sha for name, sha in self._packed().items() if name.startswith(prefix)}
        # Walk only the directory part of the prefix ("refs/heads/" -> refs/heads).
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        top = self._dir.joinpath(*base.split("/")) if base else self._dir / "refs"
        for dirpath, _dirnames, filenames in os.walk(top):
            rel_dir = Path(dirpath).relative_to(self._dir).as_posix()
            for filename in filenames:
                if filename.endswith(".lock"):
                    continue
                name = f"{rel_dir}/{filename}"
                if not name.startswith(prefix):
                    continue
                value = self._current(name)
                if value is not None:
                    result[name] = value
        return dict(sorted(result.items()))

    # ------------------------------------------------------------------ writing
    def lock_file_present(self, name: str) -> bool:
        """Whether ``<ref>.lock`` exists: a writer (git's or ours) holds the ref, or one that died left it."""
        return os.path.exists(f"{self._path(name)}.lock")

    def _lock(self, target: Path, what: str) -> FileLock:
        return FileLock(
            target,
            gitdir=self._dir,
            timeout=self._lock_timeout,
            stale_after=self._stale,
            fsync=self._fsync,
            sync_filesystem=self._sync_filesystem,
            what=what,
        )

    @contextlib.contextmanager
    def writer_lock(self, name: str) -> Iterator[None]:
        """``flock`` on ``artifactstore/locks/<hash>.writer``: committers on this machine queue.

        A swap of ``name`` made while it is held becomes durable on release, after the lock is
        let go: the directory fsync that makes the rename durable runs while the next writer
        already builds its commit, instead of inside the section every writer waits for.
        """
        held = self._held_refs()
        if name in held:
            raise RuntimeError(f"the writer lock of ref {name!r} is already held by this thread")
        held[name] = False
        try:
            with writer_lock(self._dir, name, timeout=self._lock_timeout):
                yield
        finally:
            if held.pop(name):
                fsync_path(self._path(name).parent)

    def gc_guard(self, *, exclusive: bool) -> AbstractContextManager[object]:
        """``flock`` on ``artifactstore/locks/gc`` (:func:`.locks.gc_lock`), which every artifactstore
        process on this machine takes; without ``flock`` (Windows), the threads of this process only.

        A write waits up to :data:`GC_WAIT_SECONDS` for gc's deletes: on a xet store they include
        rebuilding the CAS, which writers waited for as long before (``cas_lock_timeout``).
        """
        if not FLOCK_AVAILABLE:
            return super().gc_guard(exclusive=exclusive)
        return gc_lock(self._dir, exclusive=exclusive, timeout=GC_WAIT_SECONDS)

    def _held_refs(self) -> _HeldRefs:
        held: _HeldRefs | None = getattr(self._held, "refs", None)
        if held is None:
            held = self._held.refs = {}
        return held

    def compare_and_swap(self, name: str, old: bytes | None, new: bytes | None) -> bool:
        if self._guard is not None:
            self._guard(name)
        path = self._path(name)
        if new is not None and old is None:
            # Only a new ref can clash: one that exists (else the swap fails) already has its name.
            self._check_no_ref_conflict(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise self._conflict(name) from None
        try:
            with self._lock(path, f"ref {name}") as lock:
                current = self._current(name)
                if current != old:
                    return False
                if new is None:
                    if current is not None:
                        self._delete_locked(name, path)
                    return True
                if current == new:
                    return True
                if path.is_dir():
                    raise self._conflict(name)
                held = self._held_refs()
                defer = self._fsync and name in held
                lock.commit(new + b"\n", sync_dir=not defer)
                if defer:
                    held[name] = True
            return True
        finally:
            if new is None:
                self._remove_empty_dirs(path.parent)

    def _delete_locked(self, name: str, path: Path) -> None:
        if name in self._packed():
            packed_path = self._dir / "packed-refs"
            with self._lock(packed_path, "packed-refs") as packed_lock:
                self._packed_cache = None
                content = packed_path.read_bytes()
                packed_lock.commit(_without_packed_ref(content, name))
            self._packed_cache = None
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        else:
            if self._fsync:
                fsync_path(path.parent)

    def _remove_empty_dirs(self, parent: Path) -> None:
        # Emptied directories go, so that a ref named like the directory can exist later.
        stop = self._dir / "refs"
        while parent != stop and stop in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def _check_no_ref_conflict(self, name: str) -> None:
        # git cannot hold refs/heads/a and refs/heads/a/b at once (a file cannot be a directory).
        parts = name.split("/")
        for end in range(2, len(parts)):
            prefix = "/".join(parts[:end])
            if self._current(prefix) is not None:
                raise self._conflict(name, prefix)
        packed = self._packed()
        below = name + "/"
        for other in packed:
            if other.startswith(below):
                raise self._conflict(name, other)

    def _conflict(self, name: str, other: str | None = None) -> AlreadyExists:
        clash = f"ref {other!r}" if other else "another ref below or above it"
        return AlreadyExists(
            f"cannot create ref {name!r}: {clash} exists, and git cannot hold a ref and a ref "
            "directory of the same name; choose another name"
        )


def _without_packed_ref(content: bytes, name: str) -> bytes:
    target = name.encode("utf-8", "surrogateescape")
    out: list[bytes] = []
    skip_peeled = False
    for line in content.splitlines(keepends=True):
        if line.startswith(b"^"):
            if not skip_peeled:
                out.append(line)
            continue
        skip_peeled = False
        if not line.startswith(b"#"):
            _, _, ref = line.rstrip(b"\n").partition(b" ")
            if ref == target:
                skip_peeled = True
                continue
        out.append(line)
    return b"".join(out)


__all__ = ["GitRefPort"]
