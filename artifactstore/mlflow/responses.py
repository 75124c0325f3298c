"""A file of the store as a streamed HTTP response (the ``artifactstore`` app's downloads)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import BinaryIO

from starlette.responses import Response, StreamingResponse

#: Bytes read from the store per chunk sent (MLflow's own streaming chunk).
CHUNK = 1024 * 1024


def streamed(reader: BinaryIO, size: int, headers: Mapping[str, str]) -> StreamingResponse:
    """A Starlette response sending ``reader`` (``size`` bytes) in :data:`CHUNK` pieces.

    Starlette sends each piece only once the client has taken the last (backpressure), and
    closes the reader however the response ends. A store reader checks the file's SHA-256 as
    it is read to the end and raises on a mismatch before its last bytes: the headers are out
    by then, so the connection closes short of its ``Content-Length``, and the client sees an
    incomplete body, never a complete wrong one.
    """
    return StreamingResponse(_chunks(reader), headers={**headers, "Content-Length": str(size)})


def headers_only(reader: BinaryIO, size: int, headers: Mapping[str, str]) -> Response:
    """The answer to a ``HEAD``: what :func:`streamed` would send, without the body (``reader`` is closed)."""
    reader.close()
    return Response(headers={**headers, "Content-Length": str(size)})


def _chunks(reader: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := reader.read(CHUNK):
            yield chunk
    finally:
        reader.close()


__all__ = ["CHUNK", "headers_only", "streamed"]
