"""What every local S3-protocol test server offers, whichever program it runs.

A :class:`LocalS3Server` is one server process on loopback, reached over HTTP exactly as a
user's configuration reaches any S3-compatible endpoint; a subclass says how its program is
started and when it is ready. :func:`environment` points boto3's standard configuration at
a server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

#: Credentials the local servers accept (they check none); never real secrets.
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "artifactstore-test",
    "AWS_SECRET_ACCESS_KEY": "artifactstore-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class LocalS3Server(ABC):
    """One server process on ``127.0.0.1``; ``endpoint_url`` is valid after :meth:`start`.

    ``port`` 0 lets the server pick a free port; :meth:`restart` reuses the port it got.
    """

    def __init__(self, *, port: int = 0, startup_timeout: float = 60.0) -> None:
        self.port = port
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def _spawn(self) -> subprocess.Popen[bytes]:
        """Start the program, to listen on ``127.0.0.1`` and :attr:`port` (any free port when it is 0)."""

    @abstractmethod
    def _wait_ready(self, process: subprocess.Popen[bytes]) -> int:
        """Return the port once ``process`` accepts connections, within :attr:`startup_timeout`.

        Raise :class:`RuntimeError` saying what to install or check when it does not start;
        :meth:`start` then ends the process.
        """

    @property
    def endpoint_url(self) -> str:
        if not self.port:
            raise RuntimeError("the local S3 server is not started")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalS3Server:
        self.process = self._spawn()
        try:
            self.port = self._wait_ready(self.process)
        except BaseException:
            self.stop(kill=True)
            raise
        log.debug("local S3 server %s listening on %s", type(self).__name__, self.endpoint_url)
        return self

    def stop(self, *, kill: bool = False) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def restart(self, *, kill: bool = True) -> None:
        """Stop the process (SIGKILL by default, like a crash) and start it again on the same port."""
        self.stop(kill=kill)
        self.start()

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=DUMMY_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=DUMMY_ENV["AWS_DEFAULT_REGION"],
        )

    def create_bucket(self, name: str) -> None:
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)

    def __enter__(self) -> LocalS3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def environment(server: LocalS3Server) -> Iterator[None]:
    """Point boto3's standard configuration at ``server`` (and dummy credentials) for a while."""
    wanted = {**DUMMY_ENV, "AWS_ENDPOINT_URL": server.endpoint_url}
    saved = {name: os.environ.get(name) for name in [*wanted, "AWS_PROFILE"]}
    os.environ.update(wanted)
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


__all__ = ["DUMMY_ENV", "LocalS3Server", "environment"]
