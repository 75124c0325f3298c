"""The shared conformance suite against the git backend, claiming every capability it has."""

from __future__ import annotations

from artifactstore_conformance import BackendSuite


class TestGitConformance(BackendSuite):
    backend_name = "git"
