"""What the shared conformance suite needs to test the xet backend.

:class:`XetConformanceTarget` makes stores with the embedded ``local://`` CAS. With
``$ARTIFACTSTORE_XET_CONFORMANCE_CAS=server`` (or :class:`XetRemoteConformanceTarget`)
every store's content goes to the test CAS server of :mod:`artifactstore_xet.testing`
instead, started for the session on ``127.0.0.1:0`` with its own ``HF_XET_CACHE``; the
endpoint and token reach the stores, and the suite's child processes, through
``$ARTIFACTSTORE_XET_*``, as a deployment would set them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from artifactstore_git.conformance import GitConformanceTarget

from artifactstore import ArtifactStore
from artifactstore.engine import ContentInfo

from .content import XET_HASH_KEY
from .endpoint import ENV_ENDPOINT, ENV_TOKEN, ENV_TOKEN_EXPIRY
from .remote_errors import ENV_CACHE
from .store import XetStore

#: ``server``: the xet target runs the suite against the test CAS server (see the module docstring).
ENV_CONFORMANCE_CAS = "ARTIFACTSTORE_XET_CONFORMANCE_CAS"


class XetConformanceTarget(GitConformanceTarget):
    """Fresh stores (bare repository + embedded ``local://`` CAS) under the test's temporary directory."""

    scheme = "xet"
    store_class = XetStore

    def corrupt_content(self, store: ArtifactStore, sha256: str) -> None:
        """Flip one byte of a xorb that holds the content, found by trying xorbs in turn.

        A xorb holds chunks of many files, and a file's chunks may sit in several xorbs, so
        each candidate byte is flipped and kept only if the content then reads back wrong.
        """
        assert isinstance(store, XetStore)
        port = store.content_port
        entry = port.index.get(sha256)
        if entry is None:
            raise ValueError(f"content {sha256} is not in the xet store {store.uri}")
        info = ContentInfo(sha256, entry.size, {XET_HASH_KEY: entry.xet_hash})
        for xorb in _xorbs(port.embedded_dir):
            size = xorb.stat().st_size
            for position in _probe_positions(size):
                _flip(xorb, position)
                if not _reads_back(port, info):
                    return
                _flip(xorb, position)
        raise ValueError(f"found no xorb byte of content {sha256} to corrupt")


class XetRemoteConformanceTarget(XetConformanceTarget):
    """Stores whose content lives in the test CAS server (:class:`~artifactstore_xet.testing.CasServer`)."""

    def __init__(self) -> None:
        self.server: Any = None

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        from .session import forget_sessions
        from .testing import CasServer

        with tempfile.TemporaryDirectory(prefix="xet-remote-conformance-") as tmp:
            server = CasServer(Path(tmp) / "cas")
            server.start()
            saved = {key: os.environ.get(key) for key in (ENV_ENDPOINT, ENV_TOKEN, ENV_TOKEN_EXPIRY, ENV_CACHE)}
            os.environ.update(
                {
                    ENV_ENDPOINT: server.url,
                    ENV_TOKEN: server.token,
                    ENV_TOKEN_EXPIRY: str(server.token_expiry),
                    ENV_CACHE: str(Path(tmp) / "hf-xet-cache"),
                }
            )
            forget_sessions()  # sessions made before read hf-xet's cache location then
            self.server = server
            try:
                yield
            finally:
                self.server = None
                server.kill()
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
                forget_sessions()

    def corrupt_content(self, store: ArtifactStore, sha256: str) -> None:
        """Flip one byte of a xorb on the server's disk that holds chunks of the content."""
        from .testing.cas_formats import chunk_offsets, parse_shard_files

        assert isinstance(store, XetStore)
        assert self.server is not None, "the remote conformance session is not running"
        port = store.content_port
        entry = port.index.get(sha256)
        if entry is None:
            raise ValueError(f"content {sha256} is not in the xet store {store.uri}")
        info = ContentInfo(sha256, entry.size, {XET_HASH_KEY: entry.xet_hash})
        root = self.server.root
        records = [r for shard in (root / "shards").iterdir() for r in parse_shard_files(shard.read_bytes())]
        record = next((r for r in records if r.file_hash == entry.xet_hash), None)
        if record is None:
            raise ValueError(f"the test CAS server holds no file with Xet hash {entry.xet_hash}")
        for segment in record.segments:
            xorb = root / "xorbs" / segment.xorb
            offsets = chunk_offsets(xorb.read_bytes())
            for chunk in range(segment.chunk_start, segment.chunk_end):
                position = (offsets[chunk] + 8 + offsets[chunk + 1]) // 2  # inside the chunk's data
                _flip(xorb, position)
                if not _reads_back(port, info):
                    return
                _flip(xorb, position)
        raise ValueError(f"found no xorb byte of content {sha256} to corrupt on the server")


def _xorbs(cas: Path) -> list[Path]:
    found = [p for p in cas.rglob("xorbs/xorbs/*") if p.is_file() and not p.name.endswith(".tagset")]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _probe_positions(size: int) -> Iterator[int]:
    """Byte offsets spread over a xorb, coarse first (middle, quarters, eighths...)."""
    seen: set[int] = set()
    for depth in range(1, 8):
        parts = 2**depth
        for k in range(1, parts, 2):
            position = size * k // parts
            if position not in seen:
                seen.add(position)
                yield position


def _flip(path: Path, position: int) -> None:
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(position)
        byte = f.read(1)
        f.seek(position)
        f.write(bytes([byte[0] ^ 0xFF]))


def _reads_back(port: object, info: ContentInfo) -> bool:
    digest = hashlib.sha256()
    try:
        with port.open(info) as stream:  # type: ignore[attr-defined]
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return False
    return digest.hexdigest() == info.sha256


__all__ = ["ENV_CONFORMANCE_CAS", "XetConformanceTarget", "XetRemoteConformanceTarget"]
