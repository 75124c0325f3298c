"""Streams the engine hands out and consumes."""

from __future__ import annotations

import hashlib
import io
from abc import abstractmethod
from typing import TYPE_CHECKING, BinaryIO

from .. import faults
from ..errors import IntegrityError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK = 1024 * 1024


class BytesReader(io.RawIOBase):
    """A readable raw stream whose subclass implements ``read()``; ``readinto`` copies from it."""

    def readable(self) -> bool:
        return True

    @abstractmethod
    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when ``size`` is negative or ``None``); ``b""`` at the end."""

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


class SeekableReader(BytesReader):
    """A read-only, seekable raw stream over ``size`` bytes that a subclass reads by position.

    This class owns the position: ``seek`` (``SEEK_SET``, ``SEEK_CUR``, ``SEEK_END``; a
    negative target raises ``ValueError``; a target past the end is allowed and reads
    nothing), ``tell``, and ``read``/``readinto``/``readall``, which never ask for bytes past
    ``size``. A subclass implements :meth:`_read_next`, and :meth:`_seek_to` when it holds
    state tied to the position (an open response, a running hash). Backends return such a
    reader from :meth:`ContentPort.open`; wrap it in :class:`io.BufferedReader` when the
    caller makes many small reads.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size
        self._pos = 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence!r}")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        if target != self._pos:
            self._seek_to(target)
            self._pos = target
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        left = self._size - self._pos
        want = left if size is None or size < 0 else min(size, left)
        if want <= 0:
            return b""
        data = self._read_next(want)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        parts = []
        while chunk := self.read():
            parts.append(chunk)
        return b"".join(parts)

    @abstractmethod
    def _read_next(self, want: int) -> bytes:
        """Read at most ``want`` (at least 1) bytes at ``self._pos``, which :meth:`read` then advances.

        ``want`` never reaches past ``size``. Return fewer only as a raw stream may (a
        short network read); raise rather than return ``b""`` when the bytes end early.
        """

    def _seek_to(self, target: int) -> None:
        """Called by :meth:`seek` before the position moves from ``self._pos`` to ``target``."""


class VerifiedReader(SeekableReader):
    """A seekable reader over content that checks its SHA-256 when read straight through.

    While the caller reads sequentially from offset 0 every byte is hashed; reaching the
    end compares the digest and the size with the pointer's and raises
    :class:`IntegrityError` on a mismatch. After a ``seek()`` elsewhere the full-file hash
    can no longer be computed; the size is still checked at the end.
    """

    def __init__(self, inner: BinaryIO, *, sha256: str, size: int, label: str) -> None:
        super().__init__(size)
        self._inner = inner
        self._sha256 = sha256
        self._label = label
        self._hash: hashlib._Hash | None = hashlib.sha256()
        self._checked = False

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        # any read that ends at (or starts past) the end checks the size and, if sequential, the hash
        if size != 0 and self._pos >= self._size:
            self._check_end()
        return data

    def _read_next(self, want: int) -> bytes:
        data = self._inner.read(want)
        if self._hash is not None:
            self._hash.update(data)
        if len(data) < want:
            raise IntegrityError(
                f"{self._label} is truncated: expected {self._size} bytes, the store has {self._pos + len(data)}"
            )
        return data

    def _seek_to(self, target: int) -> None:
        self._hash = None
        self._inner.seek(target)

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


class PrefixedReader(BytesReader):
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


__all__ = ["CHUNK", "BytesReader", "PrefixedReader", "SeekableReader", "VerifiedReader", "read_at_most"]
