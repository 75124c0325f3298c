"""A seekable reader that fetches a Xet file by byte ranges.

Each fetch asks ``XetDownloadStreamGroup.download_stream(info, start, end)`` for one window,
so a ``seek()`` followed by a short read reconstructs only the chunks around that range
(hf-xet reads just the xorb byte ranges those chunks live in). Sequential reading doubles the
window up to ``max_window``, and while the caller consumes one window (the engine hashes it)
the next ``prefetch`` windows are fetched in parallel in the background, so at most
``1 + prefetch`` windows are in memory. The CAS lock is held per window, never while the
caller holds the stream open.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from artifactstore.engine import SeekableReader

#: First window after opening or seeking: small, so random access stays cheap.
MIN_WINDOW = 256 * 1024
#: Largest window: the reader's memory bound while streaming sequentially.
MAX_WINDOW = 8 * 1024 * 1024
#: Windows fetched ahead of a sequential reader, in parallel (each up to MAX_WINDOW bytes).
#: 8 MiB x 3 read a 512 MiB file ~1.8x faster than one hf-xet stream over the whole file
#: (measured: 480 vs 260 MB/s, median of 5, SHA-256 included), in ~40 MiB of memory.
PREFETCH = 3

#: ``fetch(start, end)`` returns the bytes of ``[start, end)`` as consecutive pieces.
Fetch = Callable[[int, int], "list[bytes]"]


_executor: ThreadPoolExecutor | None = None
_executor_pid = -1
_executor_guard = threading.Lock()


def _prefetcher() -> ThreadPoolExecutor:
    """Threads that fetch the next window of sequential readers (one pool per process)."""
    global _executor, _executor_pid
    with _executor_guard:
        if _executor is None or _executor_pid != os.getpid():
            _executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="xet-prefetch")
            _executor_pid = os.getpid()
        return _executor


class XetRangeReader(SeekableReader):
    """Read-only, seekable view of ``size`` bytes that ``fetch(start, end)`` returns by range."""

    def __init__(
        self,
        fetch: Fetch,
        size: int,
        *,
        min_window: int = MIN_WINDOW,
        max_window: int = MAX_WINDOW,
        prefetch: int = PREFETCH,
    ) -> None:
        super().__init__(size)
        self._prefetch = prefetch
        # Windows being fetched in the background, in file order: (start, end, future).
        self._ahead: deque[tuple[int, int, Future[list[bytes]]]] = deque()
        self._fetch = fetch
        self._min_window = min_window
        self._max_window = max(max_window, min_window)
        self._window = min_window
        # The current window as hf-xet returned it: (offset in the file, bytes) pieces.
        self._pieces: list[tuple[int, bytes]] = []
        self._window_end = 0
        #: Bytes obtained from the CAS so far (what a seek-then-read test measures).
        self.bytes_fetched = 0
        self.fetches = 0

    def _read_next(self, want: int) -> bytes:
        pos, end = self._pos, self._pos + want
        parts = []
        while pos < end:
            piece = self._piece_at(pos)
            if piece is None:
                self._fill(pos, end - pos)
                continue
            start, data = piece
            offset = pos - start
            take = min(len(data) - offset, end - pos)
            parts.append(data if offset == 0 and take == len(data) else data[offset : offset + take])
            pos += take
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _piece_at(self, pos: int) -> tuple[int, bytes] | None:
        for start, data in self._pieces:
            if start <= pos < start + len(data):
                return start, data
        return None

    def _fill(self, start: int, wanted: int) -> None:
        """Make the window that starts at ``start`` current: a prefetched one, or a new fetch."""
        sequential = self.fetches > 0 and start == self._window_end
        self._window = min(self._window * 2, self._max_window) if sequential else self._min_window
        length = min(max(self._window, min(wanted, self._max_window)), self._size - start)
        self._pieces = []  # let the old window go before the new one arrives
        if self._ahead and self._ahead[0][0] == start:
            pieces = self._ahead.popleft()[2].result()
        else:
            self._cancel_ahead()  # a seek elsewhere: the prefetched windows are not needed
            pieces = self._fetch(start, start + length)
        self.fetches += 1
        offset = start
        for data in pieces:
            if data:
                self._pieces.append((offset, data))
                offset += len(data)
        self.bytes_fetched += offset - start
        self._window_end = offset
        if offset == start:
            raise OSError(f"the Xet CAS returned no bytes at offset {start} of a {self._size}-byte file")
        if sequential:
            self._top_up(offset)

    def _top_up(self, offset: int) -> None:
        """Keep ``prefetch`` windows after ``offset`` on their way."""
        next_start = self._ahead[-1][1] if self._ahead else offset
        while len(self._ahead) < self._prefetch and next_start < self._size:
            end = min(self._size, next_start + self._max_window)
            self._ahead.append((next_start, end, _prefetcher().submit(self._fetch, next_start, end)))
            next_start = end

    def _cancel_ahead(self) -> None:
        while self._ahead:
            self._ahead.popleft()[2].cancel()

    def close(self) -> None:
        self._pieces = []
        self._cancel_ahead()
        super().close()


__all__ = ["MAX_WINDOW", "MIN_WINDOW", "PREFETCH", "XetRangeReader"]
