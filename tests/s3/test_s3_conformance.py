"""The shared conformance suite against S3Store on a local S3-protocol server."""

from __future__ import annotations

from artifactstore_conformance import BackendSuite


class TestS3Conformance(BackendSuite):
    backend_name = "s3"
