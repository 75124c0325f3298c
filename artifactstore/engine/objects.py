"""Reading and writing git objects through an :class:`ObjectPort`, verified and cached.

Every object read is re-hashed against the id it was asked for, so a flipped byte in any
backend's object store raises :class:`IntegrityError` naming the object instead of
returning wrong data. Trees and commits are immutable, so parsed ones are cached freely.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable

from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tag, Tree

from ..errors import IntegrityError, NotFound
from .ports import ObjectPort, StoredObject

_OID = re.compile(rb"[0-9a-f]{40}")
TYPE_NAMES = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}


def object_id(type_num: int, data: bytes) -> bytes:
    header = b"%s %d\x00" % (TYPE_NAMES[type_num], len(data))
    return hashlib.sha1(header + data).hexdigest().encode("ascii")


def to_stored(obj: ShaFile) -> StoredObject:
    return StoredObject(obj.id, obj.type_num, obj.as_raw_string())


class _LRU:
    def __init__(self, max_items: int, max_bytes: int) -> None:
        self._items: OrderedDict[bytes, tuple[ShaFile, int]] = OrderedDict()
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: bytes) -> ShaFile | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: bytes, obj: ShaFile, size: int) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = (obj, size)
            self._bytes += size
            while len(self._items) > self._max_items or self._bytes > self._max_bytes:
                _, (_, old_size) = self._items.popitem(last=False)
                self._bytes -= old_size


class ObjectReader:
    """Verified, cached access to one store's objects."""

    def __init__(self, port: ObjectPort, *, cache_items: int = 100_000, cache_bytes: int = 64 << 20) -> None:
        self.port = port
        self._cache = _LRU(cache_items, cache_bytes)

    def get(self, oid: bytes) -> ShaFile:
        cached = self._cache.get(oid)
        if cached is not None:
            return cached
        if not _OID.fullmatch(oid):
            raise IntegrityError(f"object id {oid[:60]!r} is malformed (a damaged ref?); run 'artifactstore fsck'")
        try:
            type_num, data = self.port.read(oid)
        except KeyError:
            raise NotFound(f"object {oid.decode()} is missing from the store") from None
        if type_num not in TYPE_NAMES:
            raise IntegrityError(f"object {oid.decode()} has unknown type {type_num}")
        actual = object_id(type_num, data)
        if actual != oid:
            raise IntegrityError(
                f"object {oid.decode()} is corrupt: its bytes hash to {actual.decode()}; run 'artifactstore fsck'"
            )
        try:
            obj = ShaFile.from_raw_string(type_num, data, sha=ObjectID(oid))
        except Exception as exc:  # dulwich raises several parse errors
            raise IntegrityError(f"object {oid.decode()} cannot be parsed: {exc}") from None
        self._cache.put(oid, obj, len(data))
        return obj

    def tree(self, oid: bytes) -> Tree:
        obj = self.get(oid)
        if not isinstance(obj, Tree):
            raise IntegrityError(f"object {oid.decode()} should be a tree but is a {obj.type_name.decode()}")
        return obj

    def commit(self, oid: bytes) -> Commit:
        obj = self.get(oid)
        while isinstance(obj, Tag):
            obj = self.get(obj.object[1])
        if not isinstance(obj, Commit):
            raise NotFound(f"object {oid.decode()} is a {obj.type_name.decode()}, not a commit")
        return obj

    def blob(self, oid: bytes) -> Blob:
        obj = self.get(oid)
        if not isinstance(obj, Blob):
            raise IntegrityError(f"object {oid.decode()} should be a blob but is a {obj.type_name.decode()}")
        return obj

    def write(self, objects: Iterable[ShaFile]) -> None:
        items = list(objects)
        if items:
            self.port.write([to_stored(o) for o in items])
            for o in items:
                if not isinstance(o, Blob):
                    self._cache.put(o.id, o, o.raw_length())


class PendingObjects:
    """Objects built by one commit attempt, readable before they are written."""

    def __init__(self, reader: ObjectReader) -> None:
        self.reader = reader
        self.new: dict[bytes, ShaFile] = {}

    def add(self, obj: ShaFile) -> bytes:
        self.new[obj.id] = obj
        return obj.id

    def tree(self, oid: bytes) -> Tree:
        obj = self.new.get(oid)
        if isinstance(obj, Tree):
            return obj
        return self.reader.tree(oid)

    def mark(self) -> int:
        """A point to :meth:`rollback` to."""
        return len(self.new)

    def rollback(self, mark: int) -> None:
        """Forget every object added since :meth:`mark` returned ``mark``."""
        for oid in list(self.new)[mark:]:
            del self.new[oid]

    def flush(self) -> None:
        # Ports treat an existing object as a no-op write; asking first would cost a round trip each.
        self.reader.write(self.new.values())
        self.new.clear()


__all__ = ["TYPE_NAMES", "ObjectReader", "PendingObjects", "object_id", "to_stored"]
