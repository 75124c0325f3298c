"""A Xet CAS server for tests, written from xet-core's published ``openapi/cas.openapi.yaml``.

It stores xorbs and shards on local disk, answers reconstructions (whole files and byte
ranges) with signed URLs into the stored xorbs, checks every request's
``Authorization: Bearer <token>`` against the tokens it knows and their expiry, and hands
out fresh tokens at its refresh URL (``{"accessToken", "exp", "casUrl"}``, what hf-xet's
``token_refresh_url`` expects). It is what the xet backend's remote path and the Hugging
Face Hub test server are tested against; it is not Hugging Face's service, and it offers
no global deduplication (every chunk query is a 404, which the protocol allows).

Run it as ``python -m artifactstore_xet.testing.cas_server --root DIR --token T``; it
prints ``listening <url>`` once it accepts connections (see :mod:`.process`).

Test controls live under ``/_control/`` behind the ``X-Control-Secret`` header: ``stats``
(request counters), ``expire-tokens`` (every token known so far expires now).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cas_formats import FileRecord, chunk_offsets, parse_shard_files

log = logging.getLogger(__name__)

HEX64 = re.compile(r"^[0-9a-f]{64}$")
RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")
#: Lifetime of the signed xorb URLs a reconstruction hands out.
URL_LIFETIME = 600


@dataclass
class CasState:
    """Everything the server keeps: xorbs and shards under ``root``, the file index, the tokens."""

    root: Path
    tokens: dict[str, float] = field(default_factory=dict)
    refresh_secret: str | None = None
    control_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    issued_lifetime: float = 3600.0
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    stats: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.xorb_dir = self.root / "xorbs"
        self.shard_dir = self.root / "shards"
        self.xorb_dir.mkdir(parents=True, exist_ok=True)
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, FileRecord] = {}
        #: SHA-256 -> Xet file hash, from the shards' metadata (what a Hub commit's ``lfsFile`` names).
        self.by_sha256: dict[str, str] = {}
        self._offsets: dict[str, list[int]] = {}
        self._guard = threading.Lock()
        for shard in sorted(self.shard_dir.iterdir()):
            for record in parse_shard_files(shard.read_bytes()):
                self._register(record)

    # ------------------------------------------------------------------ tokens
    def token_ok(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        expiry = self.tokens.get(header[len("Bearer ") :])
        return expiry is not None and expiry > time.time()

    def issue_token(self) -> tuple[str, int]:
        token = "xet_" + secrets.token_hex(16)
        expiry = int(time.time() + self.issued_lifetime)
        self.tokens[token] = expiry
        return token, expiry

    def expire_tokens(self) -> None:
        for token in self.tokens:
            self.tokens[token] = 0

    # ------------------------------------------------------------------ storage
    def xorb_path(self, xorb: str) -> Path:
        return self.xorb_dir / xorb

    def offsets(self, xorb: str) -> list[int]:
        with self._guard:
            found = self._offsets.get(xorb)
        if found is None:
            found = chunk_offsets(self.xorb_path(xorb).read_bytes())
            with self._guard:
                self._offsets[xorb] = found
        return found

    def put_xorb(self, xorb: str, body: bytes) -> bool:
        offsets = chunk_offsets(body)  # ValueError: malformed
        path = self.xorb_path(xorb)
        if path.exists():
            return False
        _write_atomically(path, body)
        with self._guard:
            self._offsets[xorb] = offsets
        return True

    def put_shard(self, body: bytes) -> bool:
        records = parse_shard_files(body)
        for record in records:
            for segment in record.segments:
                if not self.xorb_path(segment.xorb).exists():
                    raise LookupError(f"shard references xorb {segment.xorb}, which this CAS does not hold")
                if segment.chunk_end >= len(self.offsets(segment.xorb)):
                    raise ValueError(f"shard references chunks {segment.chunk_start}-{segment.chunk_end} of xorb {segment.xorb}")
        path = self.shard_dir / hashlib.sha256(body).hexdigest()
        new = not path.exists()
        if new:
            _write_atomically(path, body)
        with self._guard:
            for record in records:
                self._register(record)
        return new

    def _register(self, record: FileRecord) -> None:
        self.files[record.file_hash] = record
        if record.sha256:
            self.by_sha256[record.sha256] = record.file_hash

    def sign(self, xorb: str, expiry: int) -> str:
        return hmac.new(self.signing_key, f"{xorb}:{expiry}".encode(), hashlib.sha256).hexdigest()

    def reconstruction(self, file_id: str, first: int, last: int, base_url: str) -> dict[str, Any]:
        """The V1 reconstruction of bytes ``[first, last]`` (inclusive) of ``file_id``."""
        record = self.files[file_id]
        terms: list[dict[str, Any]] = []
        fetch_info: dict[str, list[dict[str, Any]]] = {}
        offset_into_first = 0
        position = 0
        expiry = int(time.time()) + URL_LIFETIME
        for segment in record.segments:
            seg_start, seg_end = position, position + segment.unpacked
            position = seg_end
            if seg_end <= first or seg_start > last:
                continue
            if not terms:
                offset_into_first = first - seg_start
            chunks = {"start": segment.chunk_start, "end": segment.chunk_end}
            terms.append({"hash": segment.xorb, "unpacked_length": segment.unpacked, "range": chunks})
            offsets = self.offsets(segment.xorb)
            url_range = {"start": offsets[segment.chunk_start], "end": offsets[segment.chunk_end] - 1}
            entry = {
                "range": chunks,
                "url": f"{base_url}/xorb-bytes/{segment.xorb}?exp={expiry}&sig={self.sign(segment.xorb, expiry)}",
                "url_range": url_range,
            }
            entries = fetch_info.setdefault(segment.xorb, [])
            if all(e["range"] != chunks for e in entries):
                entries.append(entry)
        return {"offset_into_first_range": offset_into_first, "terms": terms, "fetch_info": fetch_info}


def _write_atomically(path: Path, body: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    with os.fdopen(fd, "wb") as out:
        out.write(body)
    os.replace(tmp, path)


Endpoint = Callable[[Any], Awaitable[Any]]


def cas_routes(state: CasState, *, prefix: str = "") -> list[Any]:
    """Starlette routes of the CAS protocol (and the token refresh URL) under ``prefix``."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def base_url(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}{prefix}"

    def authorized(request: Request) -> Response | None:
        state.stats["requests"] += 1
        if state.token_ok(request.headers.get("authorization")):
            return None
        state.stats["unauthorized"] += 1
        return Response("invalid or expired token", status_code=401)

    async def chunk(request: Request) -> Response:
        return authorized(request) or Response(status_code=404)  # no global deduplication here

    async def upload_xorb(request: Request) -> Response:
        if (denied := authorized(request)) is not None:
            return denied
        xorb = request.path_params["hash"]
        if request.path_params["prefix"] != "default" or not HEX64.match(xorb):
            return Response("bad xorb prefix or hash", status_code=400)
        body = await request.body()
        try:
            inserted = state.put_xorb(xorb, body)
        except ValueError as exc:
            return Response(f"malformed xorb: {exc}", status_code=400)
        state.stats["xorbs_uploaded"] += 1
        return JSONResponse({"was_inserted": inserted})

    async def upload_shard(request: Request) -> Response:
        if (denied := authorized(request)) is not None:
            return denied
        body = await request.body()
        try:
            new = state.put_shard(body)
        except (ValueError, LookupError) as exc:
            state.stats["shards_rejected"] += 1
            return Response(f"shard rejected: {exc}", status_code=400)
        state.stats["shards_uploaded"] += 1
        return JSONResponse({"result": 1 if new else 0})

    async def reconstruction(request: Request) -> Response:
        if (denied := authorized(request)) is not None:
            return denied
        file_id = request.path_params["file_id"]
        if not HEX64.match(file_id):
            return Response("malformed file id", status_code=400)
        record = state.files.get(file_id)
        if record is None:
            state.stats["reconstructions_missing"] += 1
            return Response("file not found", status_code=404)
        first, last = 0, record.size - 1
        header = request.headers.get("range")
        if header is not None:
            match = RANGE.match(header)
            if match is None:
                return Response("bad range", status_code=400)
            first, last = int(match.group(1)), min(int(match.group(2)), record.size - 1)
        if first > last or first >= record.size:
            return Response("range not satisfiable", status_code=416)
        state.stats["reconstructions"] += 1
        return JSONResponse(state.reconstruction(file_id, first, last, base_url(request)))

    async def no_v2(request: Request) -> Response:
        return authorized(request) or Response("use /v1/reconstructions", status_code=404)

    async def telemetry(request: Request) -> Response:
        return authorized(request) or Response(status_code=200)

    async def xorb_bytes(request: Request) -> Response:
        xorb = request.path_params["hash"]
        expiry = request.query_params.get("exp", "0")
        signature = request.query_params.get("sig", "")
        if not expiry.isdigit() or int(expiry) < time.time() or not hmac.compare_digest(signature, state.sign(xorb, int(expiry))):
            return Response("bad or expired signature", status_code=403)
        path = state.xorb_path(xorb)
        if not path.exists():
            return Response("no such xorb", status_code=404)
        match = RANGE.match(request.headers.get("range", ""))
        if match is None:
            return Response(path.read_bytes(), media_type="application/octet-stream")
        size = path.stat().st_size
        first, last = int(match.group(1)), min(int(match.group(2)), size - 1)
        with open(path, "rb") as f:  # only the range: a xorb holds up to 64 MiB
            f.seek(first)
            data = f.read(last + 1 - first)
        state.stats["xorb_range_reads"] += 1
        return Response(
            data,
            status_code=206,
            headers={"Content-Range": f"bytes {first}-{last}/{size}"},
            media_type="application/octet-stream",
        )

    async def refresh(request: Request) -> Response:
        secret = state.refresh_secret
        if secret is None or request.headers.get("authorization") != f"Bearer {secret}":
            state.stats["refresh_refused"] += 1
            return Response("refresh refused", status_code=401)
        token, expiry = state.issue_token()
        state.stats["refreshes"] += 1
        return JSONResponse({"accessToken": token, "exp": expiry, "casUrl": base_url(request)})

    def control(request: Request) -> bool:
        return hmac.compare_digest(request.headers.get("x-control-secret", ""), state.control_secret)

    async def stats(request: Request) -> Response:
        if not control(request):
            return Response(status_code=403)
        return JSONResponse(dict(state.stats))

    async def expire(request: Request) -> Response:
        if not control(request):
            return Response(status_code=403)
        state.expire_tokens()
        return JSONResponse({"expired": len(state.tokens)})

    return [
        Route(f"{prefix}/v1/chunks/{{prefix}}/{{hash}}", chunk, methods=["GET"]),
        Route(f"{prefix}/v1/xorbs/{{prefix}}/{{hash}}", upload_xorb, methods=["POST"]),
        Route(f"{prefix}/v1/shards", upload_shard, methods=["POST"]),
        Route(f"{prefix}/v1/reconstructions/{{file_id}}", reconstruction, methods=["GET"]),
        Route(f"{prefix}/v2/reconstructions/{{file_id}}", no_v2, methods=["GET"]),
        Route(f"{prefix}/v1/telemetry", telemetry, methods=["POST"]),
        Route(f"{prefix}/xorb-bytes/{{hash}}", xorb_bytes, methods=["GET"]),
        Route(f"{prefix}/token", refresh, methods=["GET", "POST"]),
        Route(f"{prefix}/_control/stats", stats, methods=["GET"]),
        Route(f"{prefix}/_control/expire-tokens", expire, methods=["POST"]),
    ]


def parse_token(spec: str) -> tuple[str, float]:
    """``TOKEN`` (valid for a day) or ``TOKEN:EXPIRY`` (Unix seconds; 0: already expired)."""
    token, _, expiry = spec.partition(":")
    return token, float(expiry) if expiry else time.time() + 86400


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", required=True, type=Path, help="directory that holds what the server stores")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed on stdout)")
    parser.add_argument("--control-secret", required=True, help="value of X-Control-Secret for /_control/ requests")


def serve(app: Any, host: str, port: int) -> None:
    """Bind, print ``listening <url>`` (the line :mod:`.process` waits for), and serve until killed."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=30)
    server = uvicorn.Server(config)
    print(f"listening http://{host}:{sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    from starlette.applications import Starlette

    parser = argparse.ArgumentParser(description="a Xet CAS server for tests")
    add_common_arguments(parser)
    parser.add_argument("--token", action="append", default=[], help="TOKEN[:EXPIRY] accepted for every request")
    parser.add_argument("--refresh-secret", help="bearer secret the token refresh URL (/token) requires")
    parser.add_argument("--issued-lifetime", type=float, default=3600.0, help="seconds a refreshed token lives")
    args = parser.parse_args(argv)
    state = CasState(
        root=args.root,
        tokens=dict(parse_token(spec) for spec in args.token),
        refresh_secret=args.refresh_secret,
        control_secret=args.control_secret,
        issued_lifetime=args.issued_lifetime,
    )
    serve(Starlette(routes=cas_routes(state)), args.host, args.port)


if __name__ == "__main__":
    main()


__all__ = ["CasState", "cas_routes", "main", "parse_token", "serve"]
