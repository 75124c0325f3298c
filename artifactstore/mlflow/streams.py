"""A blocking binary stream over an async iterator of chunks (Starlette's ``request.stream()``).

The engine reads uploads through a blocking ``read()``; MLflow's FastAPI upload route hands
us an async iterator that only the event loop may advance. A pump task on the loop pulls the
chunks, gathers them into blocks of :data:`BLOCK` bytes and hands them to the worker thread
that writes the store through a queue, staying at most :data:`AHEAD` blocks ahead of it. So
receiving the next block overlaps hashing and writing the last one (pulling one block per
request from the thread left the socket idle while the thread worked: 0.79x MLflow's own
upload speed), and at most ``AHEAD`` blocks per upload are held in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import queue
from collections.abc import AsyncIterable, AsyncIterator

BLOCK = 1024 * 1024
#: Blocks the pump may pull ahead of the reader.
AHEAD = 4
#: Longest wait for the client to send the next block before the upload fails.
READ_TIMEOUT = 600.0

_EOF = None


async def read_head(chunks: AsyncIterator[bytes], limit: int) -> tuple[bytes, bool]:
    """Pull chunks until more than ``limit`` bytes or the end; return them and whether it was the end.

    The pump gathers its blocks with it; an upload whose first block is already the end is
    committed from memory, without a pump task and a queue between the event loop and the
    worker thread.
    """
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return b"".join(parts), True
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts), False


class AsyncChunkReader(io.RawIOBase):
    """Read an async chunk iterator from a thread other than the loop's, block by block.

    Close it when done (or abandoned): closing stops the pump.
    """

    def __init__(self, chunks: AsyncIterable[bytes], loop: asyncio.AbstractEventLoop, *, head: bytes = b"") -> None:
        super().__init__()
        self._loop = loop
        self._blocks: queue.SimpleQueue[bytes | BaseException | None] = queue.SimpleQueue()
        self._credits: asyncio.Semaphore | None = None
        self._buffer = memoryview(head)  # bytes already pulled from ``chunks``, read first
        self._eof = False
        self._pump = asyncio.run_coroutine_threadsafe(self._run_pump(chunks), loop)

    def readable(self) -> bool:
        return True

    async def _run_pump(self, chunks: AsyncIterable[bytes]) -> None:
        self._credits = asyncio.Semaphore(AHEAD)
        iterator = chunks.__aiter__()
        try:
            while True:
                await self._credits.acquire()
                block, complete = await read_head(iterator, BLOCK - 1)
                if block:
                    self._blocks.put(block)
                if complete:
                    self._blocks.put(_EOF)
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a client disconnect: the reader raises it
            self._blocks.put(exc)

    def _release_credit(self) -> None:
        if self._credits is not None:
            self._credits.release()

    def _fill(self) -> bool:
        while not self._buffer and not self._eof:
            try:
                item = self._blocks.get(timeout=READ_TIMEOUT)
            except queue.Empty:
                raise TimeoutError(f"the client sent nothing for {READ_TIMEOUT:.0f} s; upload abandoned") from None
            if item is _EOF:
                self._eof = True
            elif isinstance(item, BaseException):
                self._eof = True
                raise item
            else:
                self._buffer = memoryview(item)
                with contextlib.suppress(RuntimeError):  # the loop is gone: nothing left to pump
                    self._loop.call_soon_threadsafe(self._release_credit)
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

    def close(self) -> None:
        if not self.closed:
            self._pump.cancel()
            self._buffer = memoryview(b"")
        super().close()


__all__ = ["AHEAD", "BLOCK", "READ_TIMEOUT", "AsyncChunkReader", "read_head"]
