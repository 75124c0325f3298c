"""What a backend tells the conformance suite about itself (see the
``artifactstore_conformance_targets`` hook)."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from .store import ArtifactStore


class ConformanceTarget(ABC):
    """How to make fresh stores of one backend for the shared test suite."""

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Start what every store of this backend needs for a whole test run (a server).

        The default needs nothing.
        """
        yield

    @abstractmethod
    def new_store_uri(self, tmp_path: Path, base_uri: str | None = None) -> str:
        """Create an empty store and return its URI. ``base_uri`` comes from
        ``artifactstore conformance --uri`` and says where stores may be created."""

    @abstractmethod
    def corrupt_content(self, store: ArtifactStore, sha256: str) -> None:
        """Change the stored bytes of content ``sha256`` (same length, one byte flipped)."""

    @abstractmethod
    def corrupt_object(self, store: ArtifactStore, oid: str) -> None:
        """Change the stored bytes of git object ``oid`` (a blob) so that it no longer hashes to its id."""


__all__ = ["ConformanceTarget"]
