"""A file of the store as an HTTP response (the ``artifactstore`` app's downloads).

Every answer names the file's content by a strong ``ETag``, its SHA-256 (the same bytes give
the same tag at any path and revision), and says ``Accept-Ranges: bytes``:

* ``If-None-Match`` with that tag (or ``*``) gets a ``304`` and no body;
* one byte range (``Range: bytes=a-b``, ``a-`` or ``-n``) gets a ``206`` with just those bytes,
  read from where they start (xet and s3 fetch only that part), unless ``If-Range`` names
  another tag; a range that starts past the end gets a ``416``. A range is not checked against
  the file's SHA-256: only a read of the whole file can be;
* anything else, several ranges or a malformed header included, gets the whole file with a
  ``200``, streamed and checked (see :func:`streamed`);
* a ``HEAD`` gets the headers the ``GET`` would, and no body.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from starlette.responses import Response, StreamingResponse

from .repository import OpenedFile

#: Bytes read from the store per chunk sent (MLflow's own streaming chunk).
CHUNK = 1024 * 1024

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class Unsatisfiable(Exception):
    """The one range asked for starts past the file's end."""


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The first and last offset of the single byte range ``header`` asks for, or ``None``
    to send the whole file (no range, several, or a malformed header, which a server may
    ignore). Raises :class:`Unsatisfiable` for a range that starts past the end.
    """
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first:  # "-n": the last n bytes
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(size - suffix, 0), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # malformed
    if start >= size:
        raise Unsatisfiable
    return start, min(int(last), size - 1) if last else size - 1


def require_mlflow_helpers() -> None:
    """Raise ``ImportError`` now, when the app is built, if this MLflow lacks a helper :func:`file_response` uses."""
    from mlflow.server.handlers import _content_disposition_attachment  # noqa: F401
    from mlflow.utils.mime_type_utils import _guess_mime_type  # noqa: F401


def file_response(
    file: OpenedFile, name: str, request: Mapping[str, str], *, head: bool, extra: Mapping[str, str] | None = None
) -> Response:
    """The answer to a ``GET`` (or, with ``head``, a ``HEAD``) of ``file``, named ``name``, given the
    request's headers (lower-case names): see the module's notes. Its headers are MLflow's for a
    download (``Content-Type`` from the name, ``Content-Disposition: attachment``, ``nosniff``),
    then ``extra``. ``file``'s reader is closed unless the response streams from it."""
    from mlflow.server.handlers import _content_disposition_attachment
    from mlflow.utils.mime_type_utils import _guess_mime_type

    etag = f'"{file.sha256}"'
    headers = {
        "Content-Type": _guess_mime_type(name),  # type: ignore[no-untyped-call]
        "Content-Disposition": _content_disposition_attachment(name),
        "X-Content-Type-Options": "nosniff",
        **(extra or {}),
        "ETag": etag,
        "Accept-Ranges": "bytes",
    }
    status, span = 200, None
    if _matches(request.get("if-none-match"), etag):
        status = 304
    elif "range" in request and request.get("if-range", etag) == etag:
        try:
            span = byte_range(request["range"], file.size)
        except Unsatisfiable:
            status = 416
            headers["Content-Range"] = f"bytes */{file.size}"
    if status != 200:
        file.reader.close()
        return Response(status_code=status, headers=headers)
    start, end = span if span is not None else (0, file.size - 1)
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{file.size}"
    headers["Content-Length"] = str(end - start + 1)
    if head:
        file.reader.close()
        return Response(status_code=status, headers=headers)
    if span is None:
        return streamed(file.reader, headers)
    file.reader.seek(start)
    return StreamingResponse(_chunks(file.reader, end - start + 1), status_code=206, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags or f"W/{etag}" in tags


def streamed(reader: BinaryIO, headers: Mapping[str, str]) -> StreamingResponse:
    """A Starlette response sending all of ``reader`` (``headers`` give its length) in :data:`CHUNK` pieces.

    Starlette sends each piece only once the client has taken the last (backpressure), and
    closes the reader however the response ends. A store reader checks the file's SHA-256 as
    it is read to the end and raises on a mismatch before its last bytes: the headers are out
    by then, so the connection closes short of its ``Content-Length``, and the client sees an
    incomplete body, never a complete wrong one.
    """
    return StreamingResponse(_chunks(reader), headers=headers)


def _chunks(reader: BinaryIO, length: int | None = None) -> Iterator[bytes]:
    """``length`` bytes of ``reader`` from where it stands; with ``None``, all of it, to the read at
    its end that checks the file (an empty file too). The reader is closed however the response ends."""
    try:
        while length is None or length > 0:
            chunk = reader.read(CHUNK if length is None else min(CHUNK, length))
            if not chunk:
                break
            if length is not None:
                length -= len(chunk)
            yield chunk
    finally:
        reader.close()


__all__ = ["CHUNK", "Unsatisfiable", "byte_range", "file_response", "require_mlflow_helpers", "streamed"]
