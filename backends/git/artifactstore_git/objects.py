"""Git objects in the repository's ``objects/`` directory.

New objects are written loose, as git writes them (a zlib stream of
``"<type> <size>\\0" + data`` - uncompressed by default, see :data:`LOOSE_COMPRESSION` -
into a temporary file beside the target, then renamed), and - unlike dulwich and git's
defaults (``core.fsyncObjectFiles=false``) - made durable before any ref may point at them:
by :meth:`write` itself, or, with ``durable_at_ref_swap`` (Linux), by the ``syncfs(2)`` that
the ref port runs before it moves a ref (one barrier per commit instead of three). Reads go
through dulwich's ``DiskObjectStore``, so objects that ``git gc`` / ``git repack`` moved
into pack files are found as well.

gc only deletes loose objects: an unreachable object inside a pack file is left there
(logged), since rewriting packs under concurrent writers is git's job - ``git gc
--prune=now`` removes them.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import secrets
import struct
import weakref
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

from artifactstore.engine import ObjectPort, StoredObject
from artifactstore.errors import IntegrityError

from ._io import read_all, write_all
from .durability import SYNCFS_AVAILABLE, filesystem_barrier, fsync_path

if TYPE_CHECKING:
    from dulwich.objects import ObjectID

log = logging.getLogger(__name__)

TYPE_NAMES = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}
_TYPE_NUMS = {name: num for num, name in TYPE_NAMES.items()}
#: Loose objects are written as uncompressed zlib streams (git's ``core.looseCompression=0``).
#: Setting up a deflate stream costs tens of microseconds whatever the input size (it allocates
#: and clears ~256 KiB), eight times per commit; a stored stream costs a copy and an
#: adler32. ``git gc`` packs loose objects compressed; level 1 is git's own default.
LOOSE_COMPRESSION = 0
_HEX = frozenset(b"0123456789abcdef")


#: How often a fan-out directory is made again when it vanishes before the file in it is created.
_CREATE_ATTEMPTS = 10


def _create_in(directory: str, path: str) -> tuple[int, bool]:
    """Create ``path`` (in ``directory``) exclusively for writing; return its fd and whether the directory was made.

    ``git gc`` (``git prune-packed``) removes the fan-out directories it empties, so one can
    vanish between our ``mkdir`` and the ``open``: make it again and retry, as git does.
    """
    made, attempts = False, _CREATE_ATTEMPTS
    while True:
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444), made
        except FileNotFoundError:
            attempts -= 1
            if not attempts:
                raise
            os.makedirs(directory, exist_ok=True)
            made = True


class LooseObjectPort(ObjectPort):
    """The repository's object database: loose objects written, loose and packed objects read."""

    def __init__(
        self,
        commondir: Path,
        *,
        fsync: bool = True,
        durable_at_ref_swap: bool = False,
        compression: int = LOOSE_COMPRESSION,
    ) -> None:
        from dulwich.object_store import DiskObjectStore

        self._objects = commondir / "objects"
        self._root = os.fspath(self._objects)
        # Staging names unique per process (the pid is read per write: a store may outlive a
        # fork) and per thread, without mkstemp's random names and retries.
        self._tmp_nonce = secrets.token_hex(4)
        self._tmp_counter = itertools.count()
        self._fsync = fsync
        self._deferred = fsync and durable_at_ref_swap and SYNCFS_AVAILABLE
        self._compression = compression
        self._store = DiskObjectStore(str(self._objects))
        # Pack files (after a `git gc`) stay open until closed: close them when this port is
        # collected or the interpreter exits, not in dulwich's __del__ during teardown, which
        # prints "Exception ignored ... Python is likely shutting down" for a store never closed.
        weakref.finalize(self, self._store.close)

    def _path(self, oid: bytes) -> Path:
        hexid = oid.decode("ascii")
        return self._objects / hexid[:2] / hexid[2:]

    def read(self, oid: bytes) -> tuple[int, bytes]:
        # Loose objects are read here: dulwich parses an object into a ShaFile and serializes
        # it back before returning its raw bytes, and the engine then parses it once more.
        hexid = oid.decode("ascii")
        path = f"{self._root}/{hexid[:2]}/{hexid[2:]}"
        try:
            data = read_all(path)
        except (FileNotFoundError, NotADirectoryError):
            return self._read_packed(oid)
        return _parse_loose(data, hexid, path)

    def _read_packed(self, oid: bytes) -> tuple[int, bytes]:
        try:
            return self._store.get_raw(cast("ObjectID", oid))
        except KeyError:
            pass
        # A concurrent "git gc" may have packed the object and deleted the loose copy
        # between dulwich's two looks; one more look after a pack rescan settles it.
        self._store._update_pack_cache()
        try:
            return self._store.get_raw(cast("ObjectID", oid))
        except KeyError:
            raise KeyError(oid) from None

    def write(self, objects: Iterable[StoredObject]) -> None:
        """Write new objects loose.

        With ``durable_at_ref_swap`` the objects are written to temporary files and renamed
        into place with no barrier at all; the ref port's ``syncfs`` makes them durable before
        a ref can name them. Until then a power loss may leave a name with garbage bytes, so an
        object found already present is reused only after its bytes are checked (it is
        rewritten otherwise). Without it the objects are durable on return: with ``syncfs``
        (Linux) by two barriers whatever the batch size (one for the contents before the
        renames, one for the names); elsewhere each file is fsynced before its rename and each
        touched directory after.
        """
        staged: list[tuple[str, str]] = []
        dirty: set[str] = set()
        deferred = self._deferred
        batch = self._fsync and SYNCFS_AVAILABLE and not deferred
        root = self._root
        prefix = f"tmp_obj_{os.getpid()}_{self._tmp_nonce}_"
        try:
            for obj in objects:
                hexid = obj.id.decode("ascii")
                directory = f"{root}/{hexid[:2]}"
                path = f"{directory}/{hexid[2:]}"
                header = TYPE_NAMES[obj.type_num] + b" " + str(len(obj.data)).encode() + b"\0"
                try:
                    # Freshen rather than rewrite: gc's grace period counts from the mtime.
                    os.utime(path)
                    if not deferred or _holds(path, header + obj.data):
                        continue
                    log.warning("object %s in %s is damaged (a write cut short by a crash?); rewriting it", hexid, root)
                except FileNotFoundError:
                    pass
                # An object git already packed gets a loose copy here, as git's own writers may
                # leave one ("git prune-packed" drops it); that is cheaper than a pack lookup each.
                raw = header + obj.data
                payload = stored_zlib(raw) if self._compression == 0 else zlib.compress(raw, self._compression)
                tmp = f"{directory}/{prefix}{next(self._tmp_counter)}"
                fd, made = _create_in(directory, tmp)
                if made:
                    dirty.add(root)
                staged.append((tmp, path))
                try:
                    write_all(fd, payload, what=f"object {hexid}")
                    if self._fsync and not batch and not deferred:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                dirty.add(directory)
            if batch and staged:
                filesystem_barrier(self._objects)
            while staged:
                tmp, path = staged[-1]
                os.replace(tmp, path)
                staged.pop()
        finally:
            for tmp, _ in staged:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        if not self._fsync or not dirty or deferred:
            return
        if batch:
            filesystem_barrier(self._objects)
            return
        for directory in sorted(dirty, key=lambda p: p.count("/"), reverse=True):
            fsync_path(Path(directory))

    def contains(self, oid: bytes) -> bool:
        hexid = oid.decode("ascii")
        if os.path.exists(f"{self._root}/{hexid[:2]}/{hexid[2:]}"):
            return True
        return self._store.contains_packed(cast("ObjectID", oid))

    def iter_ids(self) -> Iterator[tuple[bytes, float]]:
        try:
            fanouts = sorted(os.scandir(self._objects), key=lambda e: e.name)
        except FileNotFoundError:
            return
        for fanout in fanouts:
            if len(fanout.name) != 2 or not fanout.is_dir() or not _is_hex(fanout.name.encode()):
                continue
            for entry in os.scandir(fanout.path):
                name = entry.name.encode()
                if len(name) != 38 or not _is_hex(name):
                    continue  # tmp_obj_* of a write in progress
                try:
                    yield fanout.name.encode() + name, entry.stat().st_mtime
                except FileNotFoundError:
                    continue
        self._store._update_pack_cache()
        for pack in self._store.packs:
            mtime = os.stat(pack._data_path).st_mtime
            for sha in pack.index:
                yield _as_hex(sha), mtime

    def delete(self, oids: Iterable[bytes]) -> None:
        packed = 0
        for oid in oids:
            path = self._path(oid)
            try:
                path.unlink()
            except FileNotFoundError:
                if self._store.contains_packed(cast("ObjectID", oid)):
                    packed += 1
        if packed:
            log.info(
                "left %d unreachable objects inside pack files of %s; run 'git gc --prune=now' there to drop them",
                packed,
                self._objects.parent,
            )

    def close(self) -> None:
        self._store.close()


def _parse_loose(data: bytes, hexid: str, path: str) -> tuple[int, bytes]:
    """``(type_num, body)`` of a loose object file's bytes; :class:`IntegrityError` when damaged."""
    try:
        raw = zlib.decompress(data)
    except zlib.error as exc:
        raise IntegrityError(f"object {hexid} is damaged: {path} is not a zlib stream ({exc}); run 'artifactstore fsck'") from None
    header, sep, body = raw.partition(b"\0")
    kind, _, size = header.partition(b" ")
    type_num = _TYPE_NUMS.get(kind)
    if not sep or type_num is None or not size.isdigit() or int(size) != len(body):
        raise IntegrityError(
            f"object {hexid} is damaged: {path} has no valid object header ({header[:40]!r}); run 'artifactstore fsck'"
        )
    return type_num, body


def stored_zlib(data: bytes) -> bytes:
    """``data`` as a zlib stream of stored (uncompressed) deflate blocks, without deflate's setup."""
    view = memoryview(data)
    parts: list[bytes | memoryview] = [b"\x78\x01"]  # deflate, 32 KiB window, "fastest"
    if not view:
        parts.append(b"\x01\x00\x00\xff\xff")  # one final, empty stored block
    for start in range(0, len(view), 0xFFFF):
        block = view[start : start + 0xFFFF]
        final = 1 if start + len(block) == len(view) else 0
        parts.append(struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF))
        parts.append(block)
    parts.append(struct.pack(">I", zlib.adler32(data)))
    return b"".join(parts)


def _holds(path: str, raw: bytes) -> bool:
    """True when the loose object file at ``path`` decompresses to exactly ``raw``."""
    try:
        return zlib.decompress(read_all(path)) == raw
    except (OSError, zlib.error):
        return False


def _is_hex(name: bytes) -> bool:
    return all(c in _HEX for c in name)


def _as_hex(sha: bytes) -> bytes:
    return sha if len(sha) == 40 else sha.hex().encode()


__all__ = ["LOOSE_COMPRESSION", "LooseObjectPort", "stored_zlib"]
