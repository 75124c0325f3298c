"""Streams the engine hands out and consumes."""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO

from .. import faults
from ..errors import IntegrityError

CHUNK = 1024 * 1024


class VerifiedReader(io.RawIOBase):
    """A seekable reader over content that checks its SHA-256 when read straight through.

    While the caller reads sequentially from offset 0 every byte is hashed; reaching the
    end compares the digest and the size with the pointer's and raises
    :class:`IntegrityError` on a mismatch. After a ``seek()`` elsewhere the full-file hash
    can no longer be computed; the size is still checked at the end.
    """

    def __init__(self, inner: BinaryIO, *, sha256: str, size: int, label: str) -> None:
        super().__init__()
        self._inner = inner
        self._sha256 = sha256
        self._size = size
        self._label = label
        self._hash: hashlib._Hash | None = hashlib.sha256()
        self._pos = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._pos + offset, io.SEEK_END: self._size + offset}[whence]
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        if target != self._pos:
            self._hash = None
            self._inner.seek(target)
            self._pos = target
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        n = len(data)
        memoryview(buffer)[:n] = data
        return n

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        want = min(size, max(self._size - self._pos, 0))
        data = self._inner.read(want) if want else b""
        if self._hash is not None:
            self._hash.update(data)
        self._pos += len(data)
        if len(data) < want:
            raise IntegrityError(
                f"{self._label} is truncated: expected {self._size} bytes, the store has {self._pos}"
            )
        if self._pos >= self._size:
            self._check_end()
        return data

    def readall(self) -> bytes:
        parts = []
        while True:
            chunk = self.read(CHUNK)
            if not chunk:
                break
            parts.append(chunk)
        return b"".join(parts)

    def _check_end(self) -> None:
        if self._checked:
            return
        self._checked = True
        extra = self._inner.read(1)
        if extra:
            raise IntegrityError(f"{self._label} is longer than the {self._size} bytes its pointer records")
        if self._hash is not None and self._hash.hexdigest() != self._sha256:
            raise IntegrityError(
                f"{self._label} is corrupt: its bytes hash to {self._hash.hexdigest()}, "
                f"not {self._sha256}; run 'artifactstore fsck'"
            )

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class PrefixedReader(io.RawIOBase):
    """``prefix`` followed by the rest of ``inner``: lets a writer peek at a stream's start.

    A read that takes the whole prefix at once gets the prefix object itself, and the reader
    keeps no reference to any of it once it is read: a caller that drops its own reference
    (``del``) frees the prefix as soon as it is consumed, not when the upload ends.
    """

    def __init__(self, prefix: bytes, inner: BinaryIO, *, fault_after: int | None = None) -> None:
        super().__init__()
        self._prefix: bytes | memoryview = prefix
        self._inner = inner
        self._fault_after = fault_after if faults.armed() else None
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        data = self._read_some(size)
        if self._fault_after is not None:
            self._read += len(data)
            if self._read >= self._fault_after:
                faults.point("mid-upload")
        return data

    def _read_some(self, size: int | None) -> bytes:
        prefix = self._prefix
        if size is None or size < 0:
            self._prefix = b""
            return bytes(prefix) + self._inner.read()
        if not prefix:
            return self._inner.read(size)
        if size >= len(prefix):
            self._prefix = b""  # handed over whole: nothing of it stays here
            return prefix if isinstance(prefix, bytes) else bytes(prefix)
        self._prefix = memoryview(prefix)[size:]
        return bytes(memoryview(prefix)[:size])


def read_at_most(stream: BinaryIO, limit: int) -> bytes:
    """Read up to ``limit`` bytes, looping over short reads (pipes, sockets)."""
    parts: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = stream.read(min(remaining, CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


__all__ = ["CHUNK", "PrefixedReader", "VerifiedReader", "read_at_most"]
