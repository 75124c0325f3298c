"""The shared conformance suite against the xet backend with its content in the test CAS server
(``artifactstore_xet.testing``, written from the published Xet CAS protocol), through hf-xet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from artifactstore_conformance import BackendSuite
from artifactstore_xet.conformance import XetRemoteConformanceTarget

from artifactstore import ConformanceTarget


@pytest.fixture(scope="module")
def remote_target() -> Iterator[XetRemoteConformanceTarget]:
    target = XetRemoteConformanceTarget()
    with target.session():
        yield target


class TestXetRemoteConformance(BackendSuite):
    backend_name = "xet"

    @pytest.fixture
    def conformance_target(self, remote_target: XetRemoteConformanceTarget) -> ConformanceTarget:
        return remote_target
