"""A local S3-protocol server for tests and benchmarks: moto's server, made safe for CAS.

``python -m artifactstore_s3.testing.moto_server [--host 127.0.0.1] [--port 0] [--journal DIR]`` prints
``READY <port>`` on stdout once it accepts connections, and serves until SIGTERM.

Why not plain ``moto_server``: moto 5.2 answers ``If-None-Match: *`` and ``If-Match`` with
412 correctly, but it checks the condition and then writes in two steps on a threaded
server, so two concurrent conditional PUTs can both succeed — a lost commit for us. This
wrapper runs every mutating request (PUT, POST, DELETE) under one lock, after its body has
been read off the socket, which makes moto's check-then-write atomic.

``--journal DIR`` makes the in-memory server durable across restarts (the fault tests
restart it in the middle of an upload): every successful mutating request is appended to
``DIR/journal.jsonl`` (bodies in ``DIR/bodies/``) before its response is sent, and a server
started on an existing journal replays it first, mapping multipart upload ids.

It also makes moto answer UploadPart for an unknown upload with 404 NoSuchUpload, as S3
does, instead of a 500.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_MUTATING = frozenset({"PUT", "POST", "DELETE"})
_UPLOAD_ID = re.compile(rb"<UploadId>([^<]+)</UploadId>")
_QUERY_UPLOAD_ID = re.compile(r"(^|&)uploadId=([^&]*)")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class _Journal:
    """Append-only log of the mutating requests that succeeded."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        (directory / "bodies").mkdir(parents=True, exist_ok=True)
        self.path = directory / "journal.jsonl"
        self.count = sum(1 for _ in self.path.open("rb")) if self.path.exists() else 0
        self._file = self.path.open("a", encoding="utf-8")

    def record(self, environ: dict[str, Any], body: bytes, response: bytes) -> None:
        number = self.count
        self.count += 1
        body_file = None
        if body:
            body_file = f"{number:08d}"
            (self.directory / "bodies" / body_file).write_bytes(body)
        upload = _UPLOAD_ID.search(response) if "uploads" in environ.get("QUERY_STRING", "") else None
        entry = {
            "method": environ["REQUEST_METHOD"],
            "path": environ.get("RAW_URI", environ.get("PATH_INFO", "/")).split("?", 1)[0],
            "query": environ.get("QUERY_STRING", ""),
            "headers": _headers_of(environ),
            "body": body_file,
            "upload_id": upload.group(1).decode() if upload else None,
        }
        self._file.write(json.dumps(entry) + "\n")
        # Flushed to the OS before the response leaves: a killed server keeps the entry.
        self._file.flush()

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


def _headers_of(environ: dict[str, Any]) -> list[tuple[str, str]]:
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_") and key != "HTTP_TRANSFER_ENCODING":
            headers.append((key[5:].replace("_", "-").title(), value))
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", environ["CONTENT_TYPE"]))
    return headers


class SerializingMiddleware:
    """Runs mutating requests one at a time (see the module docstring), optionally journaled."""

    def __init__(self, app: WSGIApp, journal: _Journal | None = None) -> None:
        self.app = app
        self.journal = journal
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] not in _MUTATING or environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self.app(environ, start_response)
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        with self.lock:
            result = self.app(environ, capture)
            try:
                response = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if self.journal is not None and captured["status"][:1] == "2":
                self.journal.record(environ, body, response)
        start_response(captured["status"], captured["headers"])
        return [response]


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        return bytes(stream.read(int(length)))
    if environ.get("wsgi.input_terminated") or environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        return bytes(stream.read())
    return b""


def replay(app: WSGIApp, journal: _Journal) -> int:
    """Re-apply a journal to a fresh app; return how many requests were replayed."""
    from werkzeug.test import Client

    client = Client(app)
    upload_ids: dict[str, str] = {}
    entries = journal.entries()
    for entry in entries:
        query = entry["query"]
        match = _QUERY_UPLOAD_ID.search(query)
        if match and match.group(2) in upload_ids:
            query = query[: match.start(2)] + upload_ids[match.group(2)] + query[match.end(2) :]
        body = (journal.directory / "bodies" / entry["body"]).read_bytes() if entry["body"] else b""
        headers = [(k, v) for k, v in entry["headers"] if k.lower() not in ("content-length", "content-type")]
        content_type = next((v for k, v in entry["headers"] if k.lower() == "content-type"), None)
        response = client.open(
            entry["path"],
            method=entry["method"],
            query_string=query,
            headers=headers,
            data=body,
            content_type=content_type,
            base_url="http://127.0.0.1",
        )
        if entry["upload_id"]:
            found = _UPLOAD_ID.search(response.get_data())
            if found:
                upload_ids[entry["upload_id"]] = found.group(1).decode()
        if response.status_code >= 300:
            log.warning("journal replay: %s %s answered %s", entry["method"], entry["path"], response.status)
    return len(entries)


def _patch_moto() -> None:
    """moto 5.2 answers UploadPart with an unknown upload id by a KeyError (HTTP 500); S3 says
    404 NoSuchUpload, which clients must see to stop retrying (e.g. after a restart)."""
    from moto.s3.exceptions import NoSuchUpload
    from moto.s3.models import S3Backend

    original = S3Backend.upload_part
    if getattr(original, "_artifactstore_patched", False):
        return

    def upload_part(self: Any, bucket_name: str, multipart_id: str, part_id: int, value: bytes) -> Any:
        if multipart_id not in self.get_bucket(bucket_name).multiparts:
            raise NoSuchUpload(upload_id=multipart_id)
        return original(self, bucket_name, multipart_id, part_id, value)

    upload_part._artifactstore_patched = True  # type: ignore[attr-defined]
    S3Backend.upload_part = upload_part  # type: ignore[method-assign]


def make_app(journal_dir: str | None = None) -> SerializingMiddleware:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    _patch_moto()
    journal = _Journal(Path(journal_dir)) if journal_dir else None
    moto_app: WSGIApp = DomainDispatcherApplication(create_backend_app)  # type: ignore[assignment]
    if journal is not None:
        replayed = replay(moto_app, journal)
        log.info("replayed %d journaled requests", replayed)
    return SerializingMiddleware(moto_app, journal)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed as READY <port>)")
    parser.add_argument("--journal", default=None, help="directory that makes the server durable across restarts")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    app = make_app(args.journal)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stdout.write(f"READY {server.port}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
