"""The fixtures every test area needs, which a backend's test class must provide.

In the style of fsspec's ``AbstractFixtures``: the base class declares each fixture and
raises ``NotImplementedError("override in subclass")``, so a backend that forgets one gets
an error at setup naming it, never a silently passing test. :class:`BackendSuite` provides
them all from a registered :class:`~artifactstore.conformance_target.ConformanceTarget`.
"""

from __future__ import annotations

import pytest

from artifactstore import ArtifactStore

from .helpers import Corrupter, StoreFactory


class StoreFixtures:
    """Fixtures a backend provides (``store_factory``, ``corrupt_content``, ``corrupt_object``) and ``store``."""

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        """A zero-argument callable that makes a fresh, empty store each time it is called."""
        raise NotImplementedError("override in subclass: the store_factory fixture")

    @pytest.fixture
    def corrupt_content(self) -> Corrupter:
        """``callable(store, sha256)`` that flips one byte of stored content ``sha256``."""
        raise NotImplementedError("override in subclass: the corrupt_content fixture")

    @pytest.fixture
    def corrupt_object(self) -> Corrupter:
        """``callable(store, oid_hex)`` that changes stored git object ``oid_hex`` so it no longer hashes to its id."""
        raise NotImplementedError("override in subclass: the corrupt_object fixture")

    @pytest.fixture
    def store(self, store_factory: StoreFactory) -> ArtifactStore:
        """A fresh, empty store."""
        return store_factory()


__all__ = ["StoreFixtures"]
