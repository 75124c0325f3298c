"""``MemoryStore``: the reference backend, process-local and thread-safe.

Instances are named by URI: every ``artifactstore.open("artifactstore+memory://demo")`` in one
process returns a store over the same data, which is lost when the process exits. Content
is held in memory, so the backend does not claim ``bounded_memory``.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from ..conformance_target import ConformanceTarget
from ..engine import ContentInfo, ContentPort, EngineStore, ObjectPort, QuickCommits, RefPort, StoredObject
from ..engine.streams import CHUNK
from ..errors import NotFound
from ..hookspecs import hookimpl
from ..store import ArtifactStore


class MemoryObjects(ObjectPort):
    def __init__(self) -> None:
        self.data: dict[bytes, tuple[int, bytes, float]] = {}
        self._lock = threading.Lock()

    def read(self, oid: bytes) -> tuple[int, bytes]:
        type_num, data, _ = self.data[oid]
        return type_num, data

    def write(self, objects: Iterable[StoredObject]) -> None:
        now = time.time()
        with self._lock:
            for obj in objects:
                self.data.setdefault(obj.id, (obj.type_num, obj.data, now))

    def contains(self, oid: bytes) -> bool:
        return oid in self.data

    def iter_ids(self) -> Iterator[tuple[bytes, float]]:
        with self._lock:
            items = [(oid, mtime) for oid, (_, _, mtime) in self.data.items()]
        return iter(items)

    def delete(self, oids: Iterable[bytes]) -> None:
        with self._lock:
            for oid in oids:
                self.data.pop(oid, None)


class MemoryRefs(RefPort):
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> bytes | None:
        return self.data.get(name)

    def compare_and_swap(self, name: str, old: bytes | None, new: bytes | None) -> bool:
        with self._lock:
            if self.data.get(name) != old:
                return False
            if new is None:
                self.data.pop(name, None)
            else:
                self.data[name] = new
            return True

    def list(self, prefix: str) -> dict[str, bytes]:
        with self._lock:
            return {k: v for k, v in self.data.items() if k.startswith(prefix)}


class MemoryContent(ContentPort):
    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def write(self, stream: BinaryIO, *, size_hint: int | None = None, local_path: str | None = None) -> ContentInfo:
        digest = hashlib.sha256()
        buffer = io.BytesIO()
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            buffer.write(chunk)
        sha = digest.hexdigest()
        data = buffer.getvalue()
        with self._lock:
            new = sha not in self.data
            if new:
                self.data[sha] = (data, time.time())
        return ContentInfo(sha256=sha, size=len(data), new_bytes=len(data) if new else 0)

    def open(self, info: ContentInfo) -> BinaryIO:
        return io.BytesIO(self.data[info.sha256][0])

    def contains(self, info: ContentInfo) -> bool:
        return info.sha256 in self.data

    def iter_ids(self) -> Iterator[tuple[str, int, float]]:
        with self._lock:
            items = [(sha, len(data), mtime) for sha, (data, mtime) in self.data.items()]
        return iter(items)

    def delete(self, sha256s: Iterable[str]) -> None:
        with self._lock:
            for sha in sha256s:
                self.data.pop(sha, None)


class _Space:
    """The shared data of one named memory store."""

    def __init__(self) -> None:
        self.objects = MemoryObjects()
        self.refs = MemoryRefs()
        self.content = MemoryContent()


_spaces: dict[str, _Space] = {}
_spaces_lock = threading.Lock()


class MemoryStore(QuickCommits, EngineStore):
    """Process-local store; ``artifactstore+memory://<name>``.

    Differs from persistent backends: data lives only as long as the process, content is
    held in memory (no ``bounded_memory``), and other processes cannot see it (no
    ``cross_process``). ``create`` is implied: opening an unknown name makes an empty store.
    """

    name = "memory"
    persistent = False
    cross_process = False
    chunk_dedup = False
    bounded_memory = False

    def __init__(self, store_name: str, *, branch: str | None = None, inline_threshold: int | None = None) -> None:
        with _spaces_lock:
            space = _spaces.setdefault(store_name, _Space())
        kwargs: dict[str, Any] = {} if inline_threshold is None else {"inline_threshold": int(inline_threshold)}
        super().__init__(
            objects=space.objects, refs=space.refs, content=space.content, default_branch=branch, **kwargs
        )
        self.store_name = store_name

    @classmethod
    def split_root(cls, netloc: str, path: str) -> tuple[str, str]:
        if not netloc:  # artifactstore+memory:///name and MLflow's artifactstore+memory:/name
            netloc, _, path = path.lstrip("/").partition("/")
        return netloc, path.strip("/")

    @classmethod
    def from_location(
        cls, location: str, *, branch: str | None = None, create: bool = False, options: Mapping[str, Any] | None = None
    ) -> MemoryStore:
        options = dict(options or {})
        threshold = options.pop("inline_threshold", None)
        if options:
            raise NotFound(f"memory store {location!r} takes no options {sorted(options)}")
        return cls(location, branch=branch, inline_threshold=threshold)

    @property
    def uri(self) -> str:
        suffix = f"@{self.default_branch}" if self.default_branch != "main" else ""
        return f"artifactstore+memory://{self.store_name}{suffix}"


def forget(store_name: str) -> None:
    """Drop the data of a named memory store (tests and long-lived processes)."""
    with _spaces_lock:
        _spaces.pop(store_name, None)


_counter = itertools.count()


class MemoryTarget(ConformanceTarget):
    def new_store_uri(self, tmp_path: Path, base_uri: str | None = None) -> str:
        return f"artifactstore+memory://conformance-{id(tmp_path)}-{next(_counter)}"

    def corrupt_content(self, store: ArtifactStore, sha256: str) -> None:
        assert isinstance(store, MemoryStore)
        content = store.content
        assert isinstance(content, MemoryContent)
        data, mtime = content.data[sha256]
        content.data[sha256] = (bytes([data[0] ^ 0xFF]) + data[1:], mtime)

    def corrupt_object(self, store: ArtifactStore, oid: str) -> None:
        assert isinstance(store, MemoryStore)
        objects = store.objects
        assert isinstance(objects, MemoryObjects)
        type_num, data, mtime = objects.data[oid.encode()]
        objects.data[oid.encode()] = (type_num, bytes([data[0] ^ 0xFF]) + data[1:], mtime)
        store.reader = type(store.reader)(objects)  # drop the verified-object cache


@hookimpl
def artifactstore_register_backends(register: Any) -> None:
    register(MemoryStore)


@hookimpl
def artifactstore_conformance_targets(register: Any) -> None:
    register("memory", MemoryTarget())


__all__ = ["MemoryContent", "MemoryObjects", "MemoryRefs", "MemoryStore", "MemoryTarget", "forget"]
