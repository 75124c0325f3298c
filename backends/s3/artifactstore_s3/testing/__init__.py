"""Local S3-protocol servers for tests and benchmarks; the store never imports this package.

Each server is a real program in its own process on loopback, reached over HTTP, never an
in-process patch of botocore::

    with MotoServer() as server, environment(server):
        server.create_bucket("bucket")
        store = artifactstore.open("artifactstore+s3://bucket/prefix")

:class:`LocalS3Server` is what every server offers (endpoint, boto3 client, buckets,
restart); a new server program is one subclass that says how it starts.
:class:`MotoServer` runs moto's server made safe for compare-and-swap
(:mod:`artifactstore_s3.testing.moto_server`).
"""

from __future__ import annotations

from .local import LocalS3Server, environment
from .moto import MotoServer

__all__ = ["LocalS3Server", "MotoServer", "environment"]
