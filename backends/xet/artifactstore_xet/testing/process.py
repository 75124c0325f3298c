"""Test servers as child processes on ``127.0.0.1:0``: started, asked for their URL, killed.

A server runs in its own process so a test can kill it mid-transfer (``kill()``) and
start it again on the same directory (``start()``), as a crashed service would come back.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Seconds a server may take to print its ``listening <url>`` line.
START_TIMEOUT = 60.0


@dataclass
class ServerProcess:
    """``python -m module --root root --control-secret S *args``, restartable on the same ``root``."""

    module: str
    root: Path
    args: Sequence[str] = ()
    control_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    url: str = ""
    port: int = 0
    _process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        """Start the server (on the port it had before, if it ran already); return its URL."""
        if self._process is not None:
            raise RuntimeError(f"{self.module} is running already at {self.url}")
        self.root.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", self.module, "--root", str(self.root), "--port", str(self.port),
            "--control-secret", self.control_secret, *self.args,
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=None, text=True, env=dict(os.environ))
        deadline = time.monotonic() + START_TIMEOUT
        assert process.stdout is not None
        line = ""
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("listening ") or not line:
                break
        if not line.startswith("listening "):
            process.kill()
            process.wait()
            raise RuntimeError(f"{self.module} did not start (exit code {process.poll()}, last line {line!r})")
        self._process = process
        self.url = line.split()[1]
        self.port = int(self.url.rsplit(":", 1)[1])
        return self.url

    def kill(self) -> None:
        """SIGKILL the server, as a crash would; :meth:`start` brings it back on the same port and data."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()

    stop = kill

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def control(self, action: str, *, method: str = "GET") -> Any:
        """Call ``/_control/<action>`` and return its JSON answer."""
        request = urllib.request.Request(
            f"{self.url}/_control/{action}", method=method, headers={"X-Control-Secret": self.control_secret}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def stats(self) -> dict[str, int]:
        return dict(self.control("stats"))

    @contextlib.contextmanager
    def running_context(self) -> Iterator[ServerProcess]:
        self.start()
        try:
            yield self
        finally:
            self.kill()


__all__ = ["START_TIMEOUT", "ServerProcess"]
