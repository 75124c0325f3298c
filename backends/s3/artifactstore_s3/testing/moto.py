"""Run moto's server made safe for compare-and-swap (:mod:`.moto_server`) in its own process."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import IO

from .local import LocalS3Server


class MotoServer(LocalS3Server):
    """moto on loopback: fast and in memory; needs ``pip install 'artifactstore-s3[test]'``.

    ``journal`` (a directory) makes its data survive :meth:`restart`.
    """

    def __init__(self, *, journal: str | None = None, port: int = 0, startup_timeout: float = 60.0) -> None:
        super().__init__(port=port, startup_timeout=startup_timeout)
        self.journal = journal

    def _spawn(self) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "artifactstore_s3.testing.moto_server", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.journal:
            cmd += ["--journal", self.journal]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> int:
        line = _readline_with_timeout(process.stdout, self.startup_timeout)
        if not line.startswith(b"READY "):
            raise RuntimeError(
                f"the local S3 server did not start (it said {line!r}); it needs moto's server: "
                "pip install 'artifactstore-s3[test]' (or 'moto[server]')"
            )
        return int(line.split()[1])


def _readline_with_timeout(stream: IO[bytes] | None, timeout: float) -> bytes:
    if stream is None:
        return b""
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else b""


__all__ = ["MotoServer"]
