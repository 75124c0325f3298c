"""Start and stop the local S3-protocol server (:mod:`artifactstore_s3.server`) in its own process.

Used by the conformance target, the tests and the benchmarks: a real server over HTTP on
loopback, never an in-process patch of botocore.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any

log = logging.getLogger(__name__)

#: Credentials the local server accepts (it checks none); never real secrets.
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "artifactstore-test",
    "AWS_SECRET_ACCESS_KEY": "artifactstore-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class LocalS3Server:
    """One server process on ``127.0.0.1``; ``endpoint_url`` is valid after :meth:`start`.

    ``journal`` (a directory) makes its data survive :meth:`restart`.
    """

    def __init__(self, *, journal: str | None = None, port: int = 0, startup_timeout: float = 60.0) -> None:
        self.journal = journal
        self.port = port
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        if not self.port:
            raise RuntimeError("the local S3 server is not started")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalS3Server:
        cmd = [sys.executable, "-m", "artifactstore_s3.server", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.journal:
            cmd += ["--journal", self.journal]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = _readline_with_timeout(self.process.stdout, self.startup_timeout)
        if not line.startswith(b"READY "):
            self.stop()
            raise RuntimeError(
                f"the local S3 server did not start (it said {line!r}); it needs moto's server: "
                "pip install 'artifactstore-s3[test]' (or 'moto[server]')"
            )
        self.port = int(line.split()[1])
        log.debug("local S3 server listening on %s", self.endpoint_url)
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


def _readline_with_timeout(stream: IO[bytes] | None, timeout: float) -> bytes:
    if stream is None:
        return b""
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else b""


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
