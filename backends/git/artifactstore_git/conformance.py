"""What the shared conformance suite needs to test the git backend."""

from __future__ import annotations

import itertools
import os
import zlib
from pathlib import Path
from typing import Any

from artifactstore import ArtifactStore, ConformanceTarget
from artifactstore.errors import InvalidURI

from .store import GitStore

_counter = itertools.count()


class GitConformanceTarget(ConformanceTarget):
    """Fresh bare repositories under the test's temporary directory (or under ``--uri``'s path).

    Other backends that keep their history in a git repository (xet) subclass it with their
    own ``scheme`` and ``store_class``.
    """

    scheme = "git"
    store_class: type[Any] = GitStore

    def new_store_uri(self, tmp_path: Path, base_uri: str | None = None) -> str:
        base = tmp_path
        if base_uri:
            prefix = f"artifactstore+{self.scheme}:"
            if not base_uri.startswith(prefix):
                raise InvalidURI(
                    f"base URI {base_uri!r} is not a {self.scheme} store URI; use {prefix}///some/dir"
                )
            rest = base_uri[len(prefix) :]
            base = Path(rest[2:] if rest.startswith("//") else rest)
        path = base / f"{self.scheme}-store-{os.getpid()}-{next(_counter)}"
        self.store_class(path, create=True).close()
        return f"artifactstore+{self.scheme}://{path.resolve()}"

    def corrupt_content(self, store: ArtifactStore, sha256: str) -> None:
        assert isinstance(store, GitStore)
        path = store.content.path_of(sha256)  # type: ignore[attr-defined]
        _flip_middle_byte(path)

    def corrupt_object(self, store: ArtifactStore, oid: str) -> None:
        """Rewrite the loose object so it still parses but no longer hashes to ``oid``."""
        assert isinstance(store, self.store_class)
        path = store.layout.commondir / "objects" / oid[:2] / oid[2:]
        raw = zlib.decompress(path.read_bytes())
        header, _, data = raw.partition(b"\0")
        if not data:
            raise ValueError(f"object {oid} has no content to corrupt")
        data = data[:-1] + bytes([data[-1] ^ 0x01])
        os.chmod(path, 0o644)
        path.write_bytes(zlib.compress(header + b"\0" + data))
        store.reader = type(store.reader)(store.objects)  # drop the engine's verified-object cache


def _flip_middle_byte(path: Path) -> None:
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            raise ValueError(f"{path} is empty; nothing to corrupt")
        f.seek(size // 2)
        byte = f.read(1)
        f.seek(size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))


__all__ = ["GitConformanceTarget"]
