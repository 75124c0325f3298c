"""What the shared conformance suite needs to test the xet backend."""

from __future__ import annotations

import hashlib
import itertools
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from artifactstore.conformance_target import ConformanceTarget
from artifactstore.engine import ContentInfo
from artifactstore.errors import InvalidURI
from artifactstore.store import ArtifactStore

from .content import XET_HASH_KEY
from .store import XetStore

_counter = itertools.count()


class XetConformanceTarget(ConformanceTarget):
    """Fresh stores (bare repository + embedded ``local://`` CAS) under the test's temporary directory."""

    def new_store_uri(self, tmp_path: Path, base_uri: str | None = None) -> str:
        base = tmp_path
        if base_uri:
            prefix = "artifactstore+xet:"
            if not base_uri.startswith(prefix):
                raise InvalidURI(f"base URI {base_uri!r} is not a xet store URI; use artifactstore+xet:///some/dir")
            rest = base_uri[len(prefix) :]
            base = Path(rest[2:] if rest.startswith("//") else rest)
        path = base / f"xet-store-{os.getpid()}-{next(_counter)}"
        XetStore(path, create=True).close()
        return f"artifactstore+xet://{path.resolve()}"

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

    def corrupt_object(self, store: ArtifactStore, oid: str) -> None:
        """Rewrite the loose object so it still parses but no longer hashes to ``oid``."""
        assert isinstance(store, XetStore)
        path = store.layout.commondir / "objects" / oid[:2] / oid[2:]
        raw = zlib.decompress(path.read_bytes())
        header, _, data = raw.partition(b"\0")
        if not data:
            raise ValueError(f"object {oid} has no content to corrupt")
        data = data[:-1] + bytes([data[-1] ^ 0x01])
        os.chmod(path, 0o644)
        path.write_bytes(zlib.compress(header + b"\0" + data))
        store.reader = type(store.reader)(store.objects)  # drop the engine's verified-object cache


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


__all__ = ["XetConformanceTarget"]
