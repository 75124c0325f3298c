"""A seekable stream over one S3 object that fetches lazily with ranged GETs."""

from __future__ import annotations

import io
import logging
import time
from typing import Any

from artifactstore.engine import SeekableReader
from artifactstore.errors import IntegrityError

from .connection import S3Connection, error_code, is_transient

log = logging.getLogger(__name__)


class RangedReader(SeekableReader):
    """Reads ``key`` from the current position with one ``Range: bytes=<pos>-`` GET.

    Sequential reads stream through a single response; ``seek()`` just moves the position
    and the next read opens a new range there, so reading the tail of a 10 GiB file fetches
    only the tail. A connection that drops mid-body is re-opened at the current position.
    Wrap it in :class:`io.BufferedReader` (``open_ranged`` does) for small reads.
    """

    def __init__(self, conn: S3Connection, key: str, size: int) -> None:
        super().__init__(size)
        self.conn = conn
        self.key = key
        self._body: Any = None

    def _read_next(self, want: int) -> bytes:
        for delay in self.conn.backoff():
            try:
                if self._body is None:
                    self._body = self._open_range()
                data: bytes = self._body.read(want)
                if not data:
                    raise ConnectionError(f"S3 object {self.key!r} ended at byte {self._pos} of {self._size}")
                break
            except Exception as exc:
                self._drop()
                code, status = error_code(exc)
                if status == 416 or code == "InvalidRange":
                    content = "".join(self.key.rsplit("/", 2)[-2:])  # keys are .../content/ab/<rest of sha256>
                    raise IntegrityError(
                        f"content {content} (S3 object {self.key!r}) ends before byte {self._pos} although its "
                        f"pointer records {self._size} bytes (truncated or replaced); run 'artifactstore fsck'"
                    ) from exc
                if not is_transient(exc) or delay is None:
                    raise self.conn.wrap(exc, f"read {self.key}") from exc
                log.info("reading %s at %d failed (%s); reopening", self.key, self._pos, exc)
                time.sleep(delay)
        return data

    def _seek_to(self, target: int) -> None:
        self._drop()  # the next read opens a range at the new position

    def _open_range(self) -> Any:
        response = self.conn.client.get_object(
            Bucket=self.conn.bucket, Key=self.key, Range=f"bytes={self._pos}-{self._size - 1}"
        )
        return response["Body"]

    def _drop(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            try:
                body.close()
            except Exception as exc:  # closing a half-read response may fail; it is discarded
                log.debug("closing S3 response for %s: %s", self.key, exc)

    def close(self) -> None:
        self._drop()
        super().close()


def open_ranged(conn: S3Connection, key: str, size: int, *, buffer_size: int = 1024 * 1024) -> io.BufferedReader:
    return io.BufferedReader(RangedReader(conn, key, size), buffer_size=buffer_size)


__all__ = ["RangedReader", "open_ranged"]
