"""What the shared conformance suite needs to test the xet backend."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from artifactstore_git.conformance import GitConformanceTarget

from artifactstore import ArtifactStore
from artifactstore.engine import ContentInfo

from .content import XET_HASH_KEY
from .store import XetStore


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
