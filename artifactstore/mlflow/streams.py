"""A blocking binary stream over an async iterator of chunks (Starlette's ``request.stream()``).

The engine reads uploads through a blocking ``read()``; MLflow's FastAPI upload route hands
us an async iterator that only the event loop may advance. The store write runs in a
worker thread and pulls blocks from the loop with ``run_coroutine_threadsafe``; each pull
gathers chunks up to :data:`BLOCK` bytes, so a 1 GiB upload costs ~1,000 loop round trips,
and at most one block per upload is held in memory.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterable, AsyncIterator

BLOCK = 1024 * 1024
#: Longest wait for the client to send the next block before the upload fails.
READ_TIMEOUT = 600.0


class AsyncChunkReader(io.RawIOBase):
    """Read an async chunk iterator from a thread other than the loop's, block by block."""

    def __init__(self, chunks: AsyncIterable[bytes], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._chunks: AsyncIterator[bytes] = chunks.__aiter__()
        self._loop = loop
        self._buffer = memoryview(b"")
        self._eof = False

    def readable(self) -> bool:
        return True

    async def _next_block(self) -> bytes:
        parts: list[bytes] = []
        size = 0
        while size < BLOCK:
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._eof = True
                break
            if chunk:
                parts.append(chunk)
                size += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _fill(self) -> bool:
        while not self._buffer and not self._eof:
            future = asyncio.run_coroutine_threadsafe(self._next_block(), self._loop)
            self._buffer = memoryview(future.result(timeout=READ_TIMEOUT))
        return bool(self._buffer)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if size == 0 or not self._fill():
            return b""
        out = self._buffer[:size]
        self._buffer = self._buffer[len(out) :]
        return bytes(out)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        target = memoryview(buffer).cast("B")
        if not target or not self._fill():
            return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def readall(self) -> bytes:
        parts = []
        while self._fill():
            parts.append(bytes(self._buffer))
            self._buffer = memoryview(b"")
        return b"".join(parts)


__all__ = ["BLOCK", "READ_TIMEOUT", "AsyncChunkReader"]
