"""The shared conformance suite against S3Store on a local S3-protocol server."""

from __future__ import annotations

import pytest
from artifactstore_conformance import BackendSuite
from artifactstore_s3.conformance import S3ConformanceTarget
from artifactstore_s3.testing import LocalS3Server


class TestS3Conformance(BackendSuite):  # type: ignore[misc]
    backend_name = "s3"

    @pytest.fixture
    def conformance_target(self, s3_server: LocalS3Server) -> S3ConformanceTarget:  # type: ignore[override]
        # The same server (and boto3 environment) as the other s3 tests of this session; the
        # registered target, which starts its own, is what `artifactstore conformance` uses.
        return S3ConformanceTarget(s3_server)
