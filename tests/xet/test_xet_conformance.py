"""The shared conformance suite against the xet backend, claiming every capability it has
(persistent, cross_process, chunk_dedup, bounded_memory)."""

from __future__ import annotations

from artifactstore_conformance import BackendSuite


class TestXetConformance(BackendSuite):
    backend_name = "xet"
