"""The pytest plugin (entry point ``pytest11: artifactstore_conformance``).

Adds ``--artifactstore-backend NAME`` and ``--artifactstore-uri URI``, registers the suite's
markers, and names the backend under test in the report header.
"""

from __future__ import annotations

import os

import pytest

from artifactstore.errors import ArtifactStoreError
from artifactstore.registry import get_registry

from .state_machine import PROFILE_ENV


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("artifactstore", "artifactstore conformance suite")
    group.addoption(
        "--artifactstore-backend",
        dest="artifactstore_backend",
        metavar="NAME",
        default=None,
        help="backend the generic conformance suite runs against (see 'artifactstore backends').",
    )
    group.addoption(
        "--artifactstore-uri",
        dest="artifactstore_uri",
        metavar="URI",
        default=None,
        help="base URI under which the backend's conformance target creates its stores.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long-running test (large files, many processes)")
    backend = config.getoption("artifactstore_backend", default=None)
    if backend:
        try:
            get_registry().conformance_target(backend)
        except ArtifactStoreError as exc:
            raise pytest.UsageError(f"--artifactstore-backend {backend}: {exc}") from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    backend = config.getoption("artifactstore_backend", default=None)
    if not backend:
        return []
    uri = config.getoption("artifactstore_uri", default=None)
    profile = os.environ.get(PROFILE_ENV, "fast")
    return [f"artifactstore conformance: backend={backend} uri={uri or '(target default)'} hypothesis={profile}"]
