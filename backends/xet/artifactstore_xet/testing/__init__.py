"""Test-only parts of the xet backend: servers written from published protocols.

Nothing here is imported by the backend at run time. :class:`CasServer` runs
:mod:`.cas_server` (a Xet CAS, from xet-core's ``openapi/cas.openapi.yaml``) as a child
process on ``127.0.0.1:0`` with a token and a refresh URL that hands out new ones, so tests
and the conformance suite's remote target reach a remote CAS through the real hf-xet
client. :class:`HubServer` runs :mod:`.hub_server` (the Hugging Face Hub endpoints
``huggingface_hub`` calls, with that CAS behind them at ``/cas``).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from .process import ServerProcess


@dataclass
class CasServer:
    """The test CAS server in a child process, with the credentials a client needs.

    ``token`` is accepted until ``token_expiry`` (Unix seconds); the refresh URL,
    ``{url}/token``, issues new tokens to a client that sends
    ``Authorization: Bearer <refresh_secret>`` (see :meth:`store_options`).
    """

    root: Path
    token: str = field(default_factory=lambda: "xet_" + secrets.token_hex(16))
    token_expiry: int = field(default_factory=lambda: int(time.time()) + 86400)
    refresh_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    issued_lifetime: float = 3600.0
    process: ServerProcess = field(init=False)

    def __post_init__(self) -> None:
        self.process = ServerProcess(
            "artifactstore_xet.testing.cas_server",
            self.root,
            (
                "--token", f"{self.token}:{self.token_expiry}",
                "--refresh-secret", self.refresh_secret,
                "--issued-lifetime", str(self.issued_lifetime),
            ),
        )

    @property
    def url(self) -> str:
        return self.process.url

    def start(self) -> str:
        return self.process.start()

    def kill(self) -> None:
        self.process.kill()

    def stats(self) -> dict[str, int]:
        return self.process.stats()

    def store_options(self, *, refresh: bool = True) -> dict[str, object]:
        """The xet store options that point a store at this server."""
        options: dict[str, object] = {"endpoint": self.url, "token": self.token, "token_expiry": self.token_expiry}
        if refresh:
            options["token_refresh_url"] = f"{self.url}/token"
            options["token_refresh_headers"] = {"Authorization": f"Bearer {self.refresh_secret}"}
        return options


@dataclass
class HubServer:
    """The test Hub server in a child process; ``token`` is the Hub token it accepts (``HF_TOKEN``)."""

    root: Path
    token: str = field(default_factory=lambda: "hf_" + secrets.token_hex(16))
    process: ServerProcess = field(init=False)

    def __post_init__(self) -> None:
        self.process = ServerProcess("artifactstore_xet.testing.hub_server", self.root, ("--hub-token", self.token))

    @property
    def url(self) -> str:
        return self.process.url

    def start(self) -> str:
        url = self.process.start()
        self.process.url = url  # /_control/ lives with the CAS under /cas
        return url

    def kill(self) -> None:
        self.process.kill()

    def cas_stats(self) -> dict[str, int]:
        import json
        import urllib.request

        request = urllib.request.Request(
            f"{self.url}/cas/_control/stats", headers={"X-Control-Secret": self.process.control_secret}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(json.loads(response.read()))


__all__ = ["CasServer", "HubServer", "ServerProcess"]
