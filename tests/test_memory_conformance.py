"""The shared conformance suite against the memory backend (the reference every other backend is compared with)."""

from __future__ import annotations

from artifactstore_conformance import BackendSuite


class TestMemoryConformance(BackendSuite):
    backend_name = "memory"
