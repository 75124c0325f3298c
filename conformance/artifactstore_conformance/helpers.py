"""Small tools the suite's tests share: hashing, seeded data, streams, snapshots."""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import pytest

from artifactstore.store import CAPABILITIES

if TYPE_CHECKING:
    from artifactstore import ArtifactStore

#: What a backend's ``store_factory`` fixture returns: each call makes a fresh, empty store.
StoreFactory = Callable[[], "ArtifactStore"]
#: ``corrupt_content(store, sha256)`` / ``corrupt_object(store, oid_hex)``.
Corrupter = Callable[["ArtifactStore", str], None]

CHUNK = 1024 * 1024
#: Used when a store does not say where its inline threshold is (non-engine backends).
FALLBACK_INLINE_THRESHOLD = 1024 * 1024


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git_blob_id(data: bytes) -> str:
    """The SHA-1 git gives a blob with these bytes (what the engine stores small files as)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def seeded_bytes(size: int, seed: int = 0) -> bytes:
    """Incompressible, reproducible bytes (so no backend can cheat with compression)."""
    return random.Random(seed).randbytes(size)


def inline_threshold(store: ArtifactStore) -> int:
    """Bytes above which the engine keeps a file in the content store (``EngineStore.inline_threshold``)."""
    value = getattr(store, "inline_threshold", None)
    return value if isinstance(value, int) and value >= 0 else FALLBACK_INLINE_THRESHOLD


def big_size(store: ArtifactStore) -> int:
    """A size that surely goes to the content store."""
    return inline_threshold(store) + 1


def require(store: ArtifactStore, capability: str) -> None:
    """Skip the calling test unless the store's class claims ``capability``."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}; known: {', '.join(CAPABILITIES)}")
    if not getattr(type(store), capability, False):
        pytest.skip(
            f"backend {getattr(type(store), 'name', type(store).__name__)!r} does not claim capability "
            f"{capability!r} ({type(store).__name__}.{capability} is false)"
        )


def require_protocol(store: ArtifactStore, protocol: type) -> None:
    """Skip the calling test unless the store offers ``protocol`` (one of :mod:`artifactstore.protocols`)."""
    if not isinstance(store, protocol):
        pytest.skip(
            f"backend {getattr(type(store), 'name', type(store).__name__)!r} does not offer the optional "
            f"protocol {protocol.__name__} ({type(store).__name__} lacks its methods)"
        )


class ChunkStream(io.RawIOBase):
    """A non-seekable stream of ``size`` seeded bytes, produced chunk by chunk (never held whole)."""

    def __init__(self, size: int, seed: int = 0, chunk: int = CHUNK) -> None:
        self._rng = random.Random(seed)
        self._left = size
        self._chunk = chunk
        self._buffer = b""
        self._pos = 0
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._pos == len(self._buffer) and self._left:
            n = min(self._chunk, self._left)
            self._buffer = self._rng.randbytes(n)
            self._pos = 0
            self._left -= n
            self.sha256.update(self._buffer)
        n = min(len(buffer), len(self._buffer) - self._pos)
        buffer[:n] = memoryview(self._buffer)[self._pos : self._pos + n]
        self._pos += n
        return n

    def as_binary(self) -> BinaryIO:
        """This stream typed as what ``Put`` accepts."""
        return cast(BinaryIO, self)


def iter_seeded_chunks(size: int, seed: int = 0, chunk: int = CHUNK) -> Iterator[bytes]:
    """The same bytes :class:`ChunkStream` yields for ``(size, seed)``, chunk by chunk."""
    rng = random.Random(seed)
    while size:
        n = min(chunk, size)
        yield rng.randbytes(n)
        size -= n


def hash_stream(stream: Any, chunk: int = CHUNK) -> tuple[str, int]:
    """SHA-256 hex and length of everything a stream yields, read in ``chunk``-sized pieces."""
    digest = hashlib.sha256()
    total = 0
    read = stream.read
    while True:
        block = read(chunk)
        if not block:
            break
        digest.update(block)
        total += len(block)
    return digest.hexdigest(), total


@dataclass(frozen=True)
class RefSnapshot:
    """Every branch and tag of a store at one moment."""

    branches: dict[str, str]
    tags: dict[str, str]

    @classmethod
    def of(cls, store: ArtifactStore) -> RefSnapshot:
        return cls(dict(store.branches()), dict(store.tags()))


def assert_no_garbage(store: ArtifactStore, when: str) -> None:
    """Nothing unreachable is stored: a rejected write left no objects or content behind."""
    report = store.gc(dry_run=True, grace_seconds=0)
    assert report.objects_removed == 0, f"{when}: {report.objects_removed} unreachable objects were written"
    assert report.content_removed == 0, f"{when}: {report.content_removed} unreachable contents were written"


def assert_nothing_written(store: ArtifactStore, before: RefSnapshot, when: str) -> None:
    after = RefSnapshot.of(store)
    assert after.branches == before.branches, f"{when}: branch heads moved"
    assert after.tags == before.tags, f"{when}: tags changed"
    assert_no_garbage(store, when)


def tree_of(store: ArtifactStore, rev: str | None = None) -> dict[str, bytes]:
    """Every file at ``rev`` with its bytes (small stores only)."""
    return {e.path: store.read_bytes(e.path, rev=rev) for e in store.list("", rev=rev, recursive=True)}


#: A small tree most tests start from: files at the root, a nested directory, a non-ASCII name, an empty file.
SAMPLE_TREE: dict[str, bytes] = {
    "README.md": b"# sample\n",
    "data/train.csv": b"x,y\n1,2\n",
    "data/test.csv": b"x,y\n3,4\n",
    "data/raw/part-0": b"\x00\x01\x02binary",
    "empty.txt": b"",
    "mod\u00e8les/\u6a21\u578b-\U0001f600.bin": "donn\u00e9es".encode(),
}


def put_sample(store: ArtifactStore, *, branch: str | None = None, message: str = "sample tree") -> str:
    """Commit :data:`SAMPLE_TREE` in one commit; return its id."""
    from artifactstore import Put

    return store.commit([Put(p, d) for p, d in SAMPLE_TREE.items()], branch=branch, message=message).id


__all__ = [
    "CAPABILITIES",
    "SAMPLE_TREE",
    "CHUNK",
    "ChunkStream",
    "Corrupter",
    "RefSnapshot",
    "StoreFactory",
    "assert_no_garbage",
    "assert_nothing_written",
    "big_size",
    "git_blob_id",
    "hash_stream",
    "inline_threshold",
    "iter_seeded_chunks",
    "put_sample",
    "require",
    "require_protocol",
    "seeded_bytes",
    "sha256_hex",
    "tree_of",
]
