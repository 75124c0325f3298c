"""A blocking binary stream over an async iterator of chunks (Starlette's ``request.stream()``).

The engine reads uploads through a blocking ``read()``; MLflow's FastAPI upload route hands
us an async iterator that only the event loop may advance. A pump task on the loop pulls the
chunks, gathers them into blocks of :data:`BLOCK` bytes and hands them to the worker thread
that writes the store through a queue, staying at most :data:`AHEAD` blocks ahead of it. So
receiving the next block overlaps hashing and writing the last one (pulling one block per
request from the thread would leave the socket idle while the thread works).

Beyond its own ``AHEAD`` blocks an upload may borrow from :data:`SHARED_AHEAD` more that all
uploads of the process (of its event loop) share, first come first served, so that a lone
large upload keeps receiving while its writer pauses: hf-xet, for one, takes tens of
milliseconds now and then to write out what it has chunked. A process
therefore holds at most ``AHEAD`` blocks per upload plus ``SHARED_AHEAD`` in all, whatever the
number of uploads.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import queue
import weakref
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator

BLOCK = 1024 * 1024
#: Blocks the pump of each upload may always pull ahead of its reader.
AHEAD = 4
#: Blocks the uploads of one event loop (one server process) may pull ahead beyond their own
#: :data:`AHEAD`, together.
SHARED_AHEAD = 28
#: Longest wait for the client to send the next block before the upload fails.
READ_TIMEOUT = 600.0

_EOF = None


class _SharedCredits:
    """The :data:`SHARED_AHEAD` blocks of one event loop, and its uploads in progress; used on the loop's thread only."""

    def __init__(self) -> None:
        self.free = SHARED_AHEAD
        self.changed = asyncio.Event()
        #: Uploads of this loop in progress (counted by the MLflow repository's async upload).
        self.uploads = 0

    def give_back(self, count: int) -> None:
        if count:
            self.free += count
            self.changed.set()


_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SharedCredits] = weakref.WeakKeyDictionary()


def shared_credits(loop: asyncio.AbstractEventLoop) -> _SharedCredits:
    """The shared read-ahead of ``loop`` (call on the loop's thread)."""
    pool = _shared.get(loop)
    if pool is None:
        pool = _shared[loop] = _SharedCredits()
    return pool


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
        # Loop-thread state: own credits left, and for each block pulled and not yet taken by
        # the reader (in order) whether its credit is a shared one.
        self._own = AHEAD
        self._borrowed: deque[bool] = deque()
        self._gone = False
        self._pool: _SharedCredits | None = None  # the loop's, taken when the pump starts on it
        self._buffer = memoryview(head)  # bytes already pulled from ``chunks``, read first
        self._eof = False
        self._pump = asyncio.run_coroutine_threadsafe(self._run_pump(chunks), loop)

    def readable(self) -> bool:
        return True

    async def _credit(self) -> None:
        """Wait for a credit to pull one more block: one of ours, else a shared one."""
        shared = self._pool
        assert shared is not None
        while True:
            if self._gone:
                raise asyncio.CancelledError
            if self._own:
                self._own -= 1
                self._borrowed.append(False)
                return
            if shared.free:
                shared.free -= 1
                self._borrowed.append(True)
                return
            # No await between the checks above and this wait: nothing can slip in between.
            shared.changed.clear()
            await shared.changed.wait()

    def _release_credit(self) -> None:
        """The reader took a block: its credit goes back where it came from (on the loop)."""
        if not self._borrowed or self._pool is None:
            return  # already given back by _give_back_all
        if self._borrowed.popleft():
            self._pool.give_back(1)
        else:
            self._own += 1
            self._pool.changed.set()  # wakes our pump if it waits

    def _give_back_all(self) -> None:
        """Closed: return the shared credits of the blocks nobody will take (on the loop)."""
        self._gone = True
        borrowed = sum(self._borrowed)
        self._borrowed.clear()
        if self._pool is not None:
            self._pool.give_back(borrowed)

    async def _run_pump(self, chunks: AsyncIterable[bytes]) -> None:
        self._pool = shared_credits(self._loop)
        iterator = chunks.__aiter__()
        try:
            while True:
                await self._credit()
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
            with contextlib.suppress(RuntimeError):  # the loop is gone, and its credits with it
                self._loop.call_soon_threadsafe(self._give_back_all)
        super().close()


__all__ = ["AHEAD", "BLOCK", "READ_TIMEOUT", "SHARED_AHEAD", "AsyncChunkReader", "read_head", "shared_credits"]
