"""``BackendSuite``: the suite wired to a backend's registered :class:`ConformanceTarget`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

import artifactstore
from artifactstore import ArtifactStore
from artifactstore.conformance_target import ConformanceTarget
from artifactstore.registry import get_registry

from .helpers import Corrupter, StoreFactory
from .suite import ConformanceSuite

log = logging.getLogger(__name__)


class TargetSessions:
    """The conformance targets in use in this pytest session, each entered exactly once."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._targets: dict[str, ConformanceTarget] = {}

    def target(self, backend: str) -> ConformanceTarget:
        if backend not in self._targets:
            target = get_registry().conformance_target(backend)
            log.debug("starting the conformance session of backend %r", backend)
            self._stack.enter_context(target.session())
            self._targets[backend] = target
        return self._targets[backend]

    def close(self) -> None:
        self._targets.clear()
        self._stack.close()


_SESSIONS = pytest.StashKey[TargetSessions]()


def target_sessions(config: pytest.Config) -> TargetSessions:
    """The session's :class:`TargetSessions`, closed when pytest finishes (works without the plugin too)."""
    sessions = config.stash.get(_SESSIONS, None)
    if sessions is None:
        sessions = config.stash[_SESSIONS] = TargetSessions()
        config.add_cleanup(sessions.close)
    return sessions


class BackendSuite(ConformanceSuite):
    """The whole suite against a registered backend: set ``backend_name`` (and optionally ``base_uri``).

    ``backend_name`` left ``None`` means "the backend given with ``--artifactstore-backend``";
    ``base_uri`` left ``None`` means ``--artifactstore-uri`` (if given). Each store comes from
    ``target.new_store_uri(tmp_path, base_uri)`` and is opened with :func:`artifactstore.open`.
    """

    backend_name: ClassVar[str | None] = None
    base_uri: ClassVar[str | None] = None

    @pytest.fixture(scope="session")
    @classmethod
    def conformance_sessions(cls, request: pytest.FixtureRequest) -> TargetSessions:
        return target_sessions(request.config)

    @pytest.fixture
    def conformance_backend(self, request: pytest.FixtureRequest) -> str:
        name = self.backend_name or request.config.getoption("artifactstore_backend", default=None)
        if not name:
            raise pytest.UsageError(
                f"{type(self).__name__} names no backend: set backend_name on the class or pass --artifactstore-backend NAME"
            )
        return str(name)

    @pytest.fixture
    def conformance_target(self, conformance_sessions: TargetSessions, conformance_backend: str) -> ConformanceTarget:
        return conformance_sessions.target(conformance_backend)

    @pytest.fixture
    def store_factory(
        self, request: pytest.FixtureRequest, conformance_target: ConformanceTarget, tmp_path: Path
    ) -> Iterator[StoreFactory]:
        base_uri = self.base_uri or request.config.getoption("artifactstore_uri", default=None)
        opened: list[ArtifactStore] = []

        def make() -> ArtifactStore:
            where = tmp_path / ".stores" / f"store-{len(opened)}"
            where.mkdir(parents=True)
            store = artifactstore.open(conformance_target.new_store_uri(where, base_uri))
            opened.append(store)
            return store

        yield make
        for store in reversed(opened):
            store.close()

    @pytest.fixture
    def corrupt_content(self, conformance_target: ConformanceTarget) -> Corrupter:
        return conformance_target.corrupt_content

    @pytest.fixture
    def corrupt_object(self, conformance_target: ConformanceTarget) -> Corrupter:
        return conformance_target.corrupt_object


__all__ = ["BackendSuite", "TargetSessions", "target_sessions"]
