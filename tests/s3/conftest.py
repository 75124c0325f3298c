"""Fixtures for the s3 backend's tests: a real S3-protocol server over HTTP on loopback.

The server is :class:`artifactstore_s3.testing.MotoServer` (moto's server made CAS-safe) in its own
process on a free port, reached by boto3 through ``AWS_ENDPOINT_URL`` exactly as a user's
configuration would point it at any S3-compatible endpoint.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("moto.server", reason="the local S3 server needs moto[server]: pip install 'moto[server]'")

from artifactstore_s3 import S3Store
from artifactstore_s3.testing import LocalS3Server, MotoServer, environment

BUCKET = "artifactstore-tests"
_counter = itertools.count()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Only our plugin loads, and the object cache lives in a temporary directory."""
    monkeypatch.setenv("ARTIFACTSTORE_PLUGINS", "s3")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))
    from artifactstore.registry import reset_registry

    reset_registry()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[LocalS3Server]:
    with MotoServer() as server, environment(server):
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture
def s3_uri(s3_server: LocalS3Server) -> str:
    """A fresh, empty store's URI."""
    location = f"{BUCKET}/t{os.getpid()}-{next(_counter)}-{uuid.uuid4().hex[:6]}"
    S3Store.from_location(location, create=True).close()
    return f"artifactstore+s3://{location}"


@pytest.fixture
def s3_store(s3_uri: str) -> Iterator[S3Store]:
    import artifactstore

    store = artifactstore.open(s3_uri, part_size=5 * 1024 * 1024)
    assert isinstance(store, S3Store)
    yield store
    store.close()


def make_file(path: Path, size: int, seed: int = 0) -> Path:
    """A file of ``size`` pseudo-random bytes, written in 1 MiB blocks."""
    import random

    rng = random.Random(seed)
    with path.open("wb") as f:
        remaining = size
        while remaining:
            n = min(remaining, 1024 * 1024)
            f.write(rng.randbytes(n))
            remaining -= n
    return path


class FaultProxy:
    """The fault-injecting proxy process (tests/s3/faultproxy.py) in front of the server."""

    def __init__(self, upstream: str) -> None:
        import subprocess
        import sys

        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("faultproxy.py")), "--upstream", upstream],
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith(b"READY "), line
        self.endpoint_url = f"http://127.0.0.1:{int(line.split()[1])}"

    def control(self, action: str, **params: object) -> dict[str, object]:
        import json
        import urllib.parse
        import urllib.request

        query = urllib.parse.urlencode(params)
        method = "GET" if action == "stats" else "POST"
        request = urllib.request.Request(f"{self.endpoint_url}/__fault__/{action}?{query}", method=method, data=b"")
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read()))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def fault_proxy(s3_server: LocalS3Server) -> Iterator[FaultProxy]:
    proxy = FaultProxy(s3_server.endpoint_url)
    yield proxy
    proxy.stop()
