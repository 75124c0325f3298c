"""git's lock-file protocol with owner records, stale-lock recovery and bounded retry.

git updates ``<file>`` by creating ``<file>.lock`` with ``O_CREAT|O_EXCL`` (whoever creates it
holds the lock), writing the new content into it and renaming it over ``<file>``. We do the
same, so git and artifactstore exclude each other. While we hold a lock, its file holds one
owner line (``artifactstore-lock pid=.. host=.. boot=.. start=.. nonce=..``); just before the
rename it is rewritten with the new value. git never reads a lock file's content. The same
owner is also kept, compactly, in the file's extended attribute ``user.artifactstore.owner``,
so that a holder killed after that rewrite (while ``syncfs`` makes the new value durable, a
window of milliseconds) is still known. Where the filesystem keeps no user extended attributes,
the lock file keeps its owner line to the end instead: the new value is written to a side file
``<gitdir>/artifactstore/locks/<hash>.new``, renamed over ``<file>``, and the lock file is then
removed. That costs a file more per commit and leaves no moment in which a killed holder's lock
names nobody (such a lock would hold its branch for ``stale_after`` seconds).

A lock left by a killed process is found by that line: on the same host the owner is dead
when its pid no longer exists, is a zombie, or was reused (process start time or boot id
differ; see :mod:`.liveness`). A lock without our line (git's own, or one whose owner died in the microseconds
between create and write) or owned by another host is stale once older than
``stale_after`` seconds. Stale locks are removed with a warning naming the owner; live
locks are waited for with jittered exponential backoff, then :class:`LockTimeout`.

Removing a stale lock is serialized through ``<gitdir>/artifactstore/locks/<hash>.break``
and only happens if the lock file is still the very one judged stale (same inode, mtime
and content), so two processes that both see a stale lock cannot remove a fresh one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from artifactstore.engine import may_wait
from artifactstore.errors import LockTimeout, WouldWait

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from ._io import write_all
from .durability import SYNCFS_AVAILABLE, fsync_path, sync_filesystem_of
from .liveness import BOOT_ID, HOSTNAME, own_start, process_is_dead

log = logging.getLogger(__name__)

OWNER_TAG = "artifactstore-lock"
#: A breaker lock is held for microseconds; one older than this was left by a killed breaker.
BREAKER_STALE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class LockOwner:
    """Who holds a lock, as written in its file (the process fields as :mod:`.liveness` names them)."""

    pid: int
    host: str
    boot: str
    start: str
    nonce: str

    def line(self) -> bytes:
        return (f"{OWNER_TAG} pid={self.pid} host={self.host} boot={self.boot} start={self.start} nonce={self.nonce}\n").encode()

    @classmethod
    def parse(cls, data: bytes) -> LockOwner | None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if not text.startswith(OWNER_TAG + " "):
            return None
        fields = dict(part.split("=", 1) for part in text.split()[1:] if "=" in part)
        try:
            return cls(int(fields["pid"]), fields["host"], fields["boot"], fields["start"], fields["nonce"])
        except (KeyError, ValueError):
            return None

    def compact(self) -> bytes:
        """The owner in under 64 bytes (``pid start boot# host#``, the last two hashed to 8 hex digits), so
        that as an extended attribute it fits inside an ext4 inode instead of taking an xattr block."""
        return f"{self.pid} {self.start} {_digest8(self.boot)} {_digest8(self.host)}".encode()

    @classmethod
    def from_compact(cls, data: bytes) -> LockOwner | None:
        """The owner :meth:`compact` wrote, as far as :meth:`is_dead` needs it (``None`` if unreadable)."""
        try:
            pid, start, boot, host = data.decode("ascii").split()
            number = int(pid)
        except ValueError:
            return None
        # Only equality with this machine's host and boot matters to is_dead.
        host_name = HOSTNAME if host == _digest8(HOSTNAME) else f"host#{host}"
        boot_id = BOOT_ID if boot == _digest8(BOOT_ID) else f"boot#{boot}"
        return cls(number, host_name, boot_id, start, "-")

    @classmethod
    def me(cls) -> LockOwner:
        return cls(os.getpid(), HOSTNAME, BOOT_ID, own_start(), os.urandom(8).hex())

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}"

    def is_dead(self) -> bool | None:
        """True when the owner process is known to be gone, None when it cannot be known (other host)."""
        return process_is_dead(self.pid, host=self.host, boot=self.boot, start=self.start)


#: Extended attribute naming a lock file's owner once its owner line gave way to the new value.
OWNER_XATTR = "user.artifactstore.owner"


def _set_owner_xattr(fd: int, owner: LockOwner) -> bool:
    """Name the owner in ``fd``'s extended attributes too; False where the filesystem keeps none."""
    setter = getattr(os, "setxattr", None)
    if setter is None:
        return False
    try:
        setter(fd, OWNER_XATTR, owner.compact())
    except OSError as exc:  # no user xattrs here (tmpfs before Linux 6.6, many network filesystems)
        log.debug("lock owner not kept as an extended attribute: %s", exc)
        return False
    return True


@functools.lru_cache(maxsize=64)
def _digest8(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    ino: int
    mtime_ns: int
    content: bytes
    owner_xattr: bytes = b""

    @classmethod
    def take(cls, path: Path) -> _Snapshot | None:
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                content = f.read(4096)
                owner = b""
                getter = getattr(os, "getxattr", None)
                if getter is not None and LockOwner.parse(content) is None:
                    with contextlib.suppress(OSError):
                        owner = getter(f.fileno(), OWNER_XATTR)
                return cls(st.st_ino, st.st_mtime_ns, content, owner)
        except FileNotFoundError:
            return None

    def owner(self) -> LockOwner | None:
        """Who holds the lock: from its content, else (once it holds the new value) its extended attribute."""
        return LockOwner.parse(self.content) or LockOwner.from_compact(self.owner_xattr)

    def age(self) -> float:
        """Seconds since the lock file was last written."""
        return time.time() - self.mtime_ns / 1e9


class FileLock:
    """Hold ``<target>.lock`` the way git does; :meth:`commit` replaces ``target`` atomically.

    Use as a context manager; leaving without :meth:`commit` releases the lock and leaves
    ``target`` as it was.
    """

    def __init__(
        self,
        target: Path,
        *,
        gitdir: Path,
        timeout: float = 30.0,
        stale_after: float = 120.0,
        fsync: bool = True,
        sync_filesystem: bool = False,
        what: str | None = None,
    ) -> None:
        self.target = target
        self.path = target.with_name(target.name + ".lock")
        self._gitdir = gitdir
        self._timeout = timeout
        self._stale_after = stale_after
        self._fsync = fsync
        self._sync_filesystem = fsync and sync_filesystem and SYNCFS_AVAILABLE
        self._what = what or str(target)
        self._fd: int | None = None
        #: The owner is in the lock file's extended attribute, so commit may overwrite its owner line.
        self._owner_in_xattr = False

    # ------------------------------------------------------------------ acquire
    def acquire(self) -> None:
        deadline = time.monotonic() + self._timeout
        delay = 0.001
        owner = LockOwner.me()
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pass
            except FileNotFoundError:  # a new ref's directory; git may prune it again before we retry
                self.path.parent.mkdir(parents=True, exist_ok=True)
                continue
            else:
                try:
                    write_all(fd, owner.line(), what=f"lock file {self.path}")
                    self._owner_in_xattr = _set_owner_xattr(fd, owner)
                except BaseException:
                    os.close(fd)
                    os.unlink(self.path)
                    raise
                self._fd = fd
                return
            snapshot = _Snapshot.take(self.path)
            if snapshot is None:
                continue  # released between our create and our look
            if self._recover_if_stale(snapshot):
                continue
            now = time.monotonic()
            if now >= deadline:
                raise LockTimeout(self._held_message(snapshot))
            time.sleep(min(delay * (0.5 + random.random()), max(deadline - now, 0.0)))
            delay = min(delay * 2, 0.1)

    def _held_message(self, snapshot: _Snapshot) -> str:
        owner = snapshot.owner()
        age = max(snapshot.age(), 0.0)
        who = owner.describe() if owner else "a process that did not record itself (git, or one killed at once)"
        hint = (
            f"it is treated as stale after {self._stale_after:.0f} s"
            if owner is None or owner.is_dead() is None
            else "that process is still running"
        )
        return (
            f"timed out after {self._timeout:.0f} s waiting for the lock on {self._what}: {str(self.path)!r} "
            f"is held by {who} for {age:.1f} s; {hint} - if no process uses the repository, delete that file"
        )

    def _recover_if_stale(self, snapshot: _Snapshot) -> bool:
        owner = snapshot.owner()
        age = snapshot.age()
        dead = owner.is_dead() if owner is not None else None
        if dead is False:
            return False
        if dead is None and age < self._stale_after:
            return False
        who = owner.describe() if owner is not None else "unrecorded"
        reason = f"its owner {who} is dead" if dead else f"it is {age:.0f} s old (owner: {who})"
        with self._breaker() as held:
            if not held:
                return False
            if _Snapshot.take(self.path) != snapshot:
                return True  # someone else recovered it or it was released; try again at once
            os.unlink(self.path)
        log.warning("removed stale lock %s on %s: %s", self.path, self._what, reason)
        return True

    @contextlib.contextmanager
    def _breaker(self) -> Iterator[bool]:
        """Serialize the removal of a stale lock; yields whether this process may remove it."""
        path = _private_path(self._gitdir, str(self.path), ".break")
        try:
            fd = _open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            try:
                if time.time() - os.stat(path).st_mtime > BREAKER_STALE_SECONDS:
                    log.warning("removed a breaker lock %s left by a killed process", path)
                    os.unlink(path)
            except FileNotFoundError:
                pass
            yield False
            return
        os.close(fd)
        try:
            yield True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    # ------------------------------------------------------------------ release
    def commit(self, content: bytes, *, sync_dir: bool = True) -> None:
        """Replace the target with ``content`` (fsynced, then renamed into place) and release.

        With ``sync_filesystem`` the lock file is made durable by one ``syncfs(2)`` instead of
        an ``fsync``: everything written to the filesystem before - the objects the new value
        names - becomes durable with it, before the target changes. With ``sync_dir=False``
        the rename is not made durable here: the caller fsyncs the target's directory itself
        (:func:`fsync_path`) before it reports the change as done.

        Where the owner is not in an extended attribute, ``content`` goes through a side file and
        the lock file keeps its owner line until the target has changed (see the module's notes).
        """
        fd = self._require_fd()
        if self._owner_in_xattr:
            os.ftruncate(fd, 0)
            write_all(fd, content, offset=0, what=f"lock file {self.path}")
            self._make_durable(fd)
            os.close(fd)
            self._fd = None
            source: str | Path = self.path
        else:
            source = _private_path(self._gitdir, str(self.path), ".new")
            side = _open_private(source, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                write_all(side, content, what=f"new value of {self.target}")
                self._make_durable(side)
            finally:
                os.close(side)
        try:
            os.replace(source, self.target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(source)
            self.release()
            raise
        self.release()  # the lock file, unless it was renamed into place, still held our owner line
        if self._fsync and sync_dir:
            fsync_path(self.target.parent)

    def _make_durable(self, fd: int) -> None:
        if self._sync_filesystem:
            sync_filesystem_of(fd, what=str(self.path))
        elif self._fsync:
            os.fsync(fd)

    def release(self) -> None:
        """Give the lock up without touching the target."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _require_fd(self) -> int:
        if self._fd is None:
            raise RuntimeError(f"lock {self.path} is not held")
        return self._fd

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@functools.lru_cache(maxsize=1024)
def _private_path(gitdir: Path, name: str, suffix: str) -> str:
    """``<gitdir>/artifactstore/locks/<hash of name><suffix>``: our own files beside a lock (hashed once)."""
    return f"{gitdir}/artifactstore/locks/{hashlib.sha1(name.encode('utf-8', 'surrogateescape')).hexdigest()}{suffix}"


def _open_private(path: str, flags: int) -> int:
    """``os.open`` a :func:`_private_path` file, creating its directory the first time."""
    try:
        return os.open(path, flags, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return os.open(path, flags, 0o644)


@contextlib.contextmanager
def writer_lock(gitdir: Path, name: str, *, timeout: float) -> Iterator[None]:
    """Queue the writers of ref ``name`` on this machine with ``flock(2)``.

    Held while a commit is built and swapped in, so concurrent writers wait their turn instead
    of each building a commit and all but one then rebuilding it after losing the ref swap.
    The kernel drops the lock when its holder dies, so it can never be stale; git does not
    take it, which is why the ref's own lock file still guards the swap. Where ``flock`` does
    not exist (Windows) nothing is taken and the ref swap alone settles races.
    """
    if fcntl is None:
        yield
        return
    path = _private_path(gitdir, name, ".writer")
    what = f"the writer lock of ref {name!r} ({path!r}); another process is committing to it and has not finished"
    with _flocked(path, shared=False, timeout=timeout, what=what):
        yield


@contextlib.contextmanager
def gc_lock(gitdir: Path, *, exclusive: bool, timeout: float) -> Iterator[None]:
    """``flock`` on ``<gitdir>/artifactstore/locks/gc``: shared by every write, exclusive for gc's deletes.

    See :mod:`artifactstore.engine.gcguard`. Each holder opens the file itself, so threads of one
    process exclude each other as processes do, and the kernel drops a dead holder's lock. gc
    waits for the writes in progress as long as they take; a write waits for gc's deletes up
    to ``timeout`` seconds, then raises :class:`LockTimeout`, or at once :class:`WouldWait` inside
    :func:`~artifactstore.engine.gcguard.without_waiting`. Only call where ``flock`` exists.
    """
    path = f"{gitdir}/artifactstore/locks/gc"
    if exclusive:
        with _flocked(path, shared=False, timeout=None, what=f"the writes in progress on {str(gitdir)!r} to finish"):
            yield
    else:
        what = f"gc to finish deleting from {str(gitdir)!r} ({path!r})"
        with _flocked(path, shared=True, timeout=timeout, what=what, wait=may_wait()):
            yield


@contextlib.contextmanager
def _flocked(path: str, *, shared: bool, timeout: float | None, what: str, wait: bool = True) -> Iterator[None]:
    """Hold ``flock`` on ``path`` (made if missing) through its own descriptor; closing it lets go.

    When another holder is in the way, wait up to ``timeout`` seconds and then raise
    :class:`LockTimeout` naming ``what`` was awaited, or with ``timeout=None`` as long as it
    takes (logged). Without ``wait``, raise :class:`WouldWait` at once instead.
    """
    assert fcntl is not None
    fd = _open_private(path, os.O_RDWR | os.O_CREAT)
    try:
        operation = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise WouldWait(f"waiting for {what}") from None
            if timeout is None:
                log.info("waiting for %s", what)
                fcntl.flock(fd, operation)
            elif not _wait_for_flock(fd, operation, timeout):
                raise LockTimeout(f"timed out after {timeout:.0f} s waiting for {what}") from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _wait_for_flock(fd: int, operation: int, timeout: float) -> bool:
    """Block in ``flock(fd, operation)`` on ``fd``'s open file for up to ``timeout`` seconds; True once held.

    The blocking call runs in a helper thread, so the lock is taken the moment its holder lets
    go (polling with a backoff left it free for up to the poll interval while every other
    writer of the branch waited). The helper locks a duplicate of ``fd``: a flock belongs to
    the open file, so the lock stays held through ``fd`` once the duplicate is closed. On
    timeout the helper owns the duplicate and closes it whenever its call returns, so a lock
    it gets after the caller gave up is dropped with the caller's ``fd``.
    """
    assert fcntl is not None
    dup = os.dup(fd)
    done = threading.Event()
    guard = threading.Lock()
    abandoned = False
    failure: list[OSError] = []

    def wait() -> None:
        try:
            fcntl.flock(dup, operation)
        except OSError as exc:
            failure.append(exc)
        with guard:
            done.set()
            if abandoned:
                os.close(dup)

    threading.Thread(target=wait, name="artifactstore-writer-lock", daemon=True).start()
    interrupted = True
    try:
        done.wait(timeout)
        interrupted = False
    finally:
        with guard:
            abandoned = not done.is_set()  # from now on the helper closes the duplicate
        if interrupted and not abandoned:
            os.close(dup)
    if abandoned:
        return False
    os.close(dup)
    if failure:
        raise failure[0]
    return True


#: Whether ``flock(2)`` exists here (not on Windows): the writer and gc locks need it.
FLOCK_AVAILABLE = fcntl is not None
#: How long a write waits for gc's deletes (:func:`gc_lock`) before it raises LockTimeout.
GC_WAIT_SECONDS = 600.0

__all__ = ["FLOCK_AVAILABLE", "GC_WAIT_SECONDS", "FileLock", "LockOwner", "gc_lock", "writer_lock"]
