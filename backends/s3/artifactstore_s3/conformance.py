"""What the shared conformance suite needs to test the s3 backend.

With no ``--uri``, the first store starts a local S3-protocol server
(:class:`artifactstore_s3.testing.MotoServer`, moto in its own process on a free loopback
port), points boto3 at it with dummy credentials for the rest of the session, and creates a
bucket; the session's end stops it. With ``--uri artifactstore+s3://bucket/prefix`` stores are made
under that prefix with the caller's own boto3 configuration and no server is started.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

from artifactstore import ArtifactStore, ConformanceTarget
from artifactstore.errors import InvalidURI

from .store import S3Store
from .testing import LocalS3Server, MotoServer, environment

BUCKET = "artifactstore-conformance"
_counter = itertools.count()


class S3ConformanceTarget(ConformanceTarget):
    """Fresh prefixes in one bucket of a local server (or of the bucket ``--uri`` names)."""

    def __init__(self, server: LocalS3Server | None = None) -> None:
        """``server``: an already running server (with boto3 pointed at it) to use instead of starting one."""
        self._external = server
        self._server: LocalS3Server | None = None
        self._env: contextlib.ExitStack | None = None

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        try:
            yield
        finally:
            self.stop_server()

    def start_server(self) -> LocalS3Server:
        if self._external is not None:
            self._external.create_bucket(BUCKET)
            return self._external
        if self._server is None:
            server = MotoServer().start()
            self._env = contextlib.ExitStack()
            self._env.enter_context(environment(server))
            server.create_bucket(BUCKET)
            self._server = server
        return self._server

    def stop_server(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def new_store_uri(self, tmp_path: Path, base_uri: str | None = None) -> str:
        unique = f"t{os.getpid()}-{next(_counter)}-{uuid.uuid4().hex[:8]}"
        if base_uri:
            prefix = "artifactstore+s3://"
            if not base_uri.startswith(prefix):
                raise InvalidURI(f"base URI {base_uri!r} is not an s3 store URI; use artifactstore+s3://bucket/prefix")
            location = f"{base_uri[len(prefix):].strip('/')}/{unique}"
        else:
            self.start_server()
            location = f"{BUCKET}/{unique}"
        S3Store.from_location(location, create=True).close()
        return f"artifactstore+s3://{location}"

    def corrupt_content(self, store: ArtifactStore, sha256: str) -> None:
        assert isinstance(store, S3Store)
        key = store.content_port.key(sha256)
        conn = store.conn
        data = bytearray(conn.client.get_object(Bucket=conn.bucket, Key=key)["Body"].read())
        if not data:
            raise ValueError(f"content {sha256} is empty; nothing to corrupt")
        data[len(data) // 2] ^= 0xFF
        conn.client.put_object(Bucket=conn.bucket, Key=key, Body=bytes(data))

    def corrupt_object(self, store: ArtifactStore, oid: str) -> None:
        """Rewrite the object so it still parses but no longer hashes to ``oid``; drop it from the cache."""
        assert isinstance(store, S3Store)
        port = store.object_port
        conn = store.conn
        key = port.key(oid.encode())
        raw = zlib.decompress(conn.client.get_object(Bucket=conn.bucket, Key=key)["Body"].read())
        header, _, data = raw.partition(b"\0")
        if not data:
            raise ValueError(f"object {oid} has no content to corrupt")
        data = data[:-1] + bytes([data[-1] ^ 0x01])
        conn.client.put_object(Bucket=conn.bucket, Key=key, Body=zlib.compress(header + b"\0" + data))
        if port.cache is not None:
            port.cache.discard(oid.encode())
        store.reader = type(store.reader)(store.objects)  # drop the engine's verified-object cache


__all__ = ["BUCKET", "S3ConformanceTarget"]
