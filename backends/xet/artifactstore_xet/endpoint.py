"""Where a store's Xet CAS lives: ``local://`` under the store (default) or a remote server.

The remote endpoint and its credentials come from the store options (the named-store config
file, or keywords to :func:`artifactstore.open`) or from the environment - never from the
URI, which MLflow logs and stores in its database:

=========================  =====================================  ==============================
option                     environment variable                   meaning
=========================  =====================================  ==============================
``endpoint``               ``ARTIFACTSTORE_XET_ENDPOINT``         CAS URL (``https://...``)
``token``                  ``ARTIFACTSTORE_XET_TOKEN``            CAS access token
``token_expiry``           ``ARTIFACTSTORE_XET_TOKEN_EXPIRY``     token expiry, Unix seconds
``token_refresh_url``      ``ARTIFACTSTORE_XET_TOKEN_REFRESH_URL``  URL that hands out fresh tokens
``token_refresh_headers``  (options only)                         headers for the refresh call
=========================  =====================================  ==============================

hf-xet pre-seeds a token only together with its expiry; a token given without one is
treated as valid for a day and then refreshed through ``token_refresh_url`` if set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artifactstore.errors import InvalidInput

ENV_ENDPOINT = "ARTIFACTSTORE_XET_ENDPOINT"
ENV_TOKEN = "ARTIFACTSTORE_XET_TOKEN"
ENV_TOKEN_EXPIRY = "ARTIFACTSTORE_XET_TOKEN_EXPIRY"
ENV_TOKEN_REFRESH_URL = "ARTIFACTSTORE_XET_TOKEN_REFRESH_URL"
LOCAL_SCHEME = "local://"
DEFAULT_TOKEN_LIFETIME = 24 * 3600


@dataclass(frozen=True)
class XetEndpoint:
    """A CAS endpoint plus what hf-xet needs to talk to it.

    ``local_dir`` is set for a ``local://`` CAS: then cross-process access is serialized by
    a lock file and gc can rebuild the CAS. A remote server does its own concurrency
    control, and its storage is not ours to reclaim.
    """

    url: str
    token: str | None = field(default=None, repr=False)
    token_expiry: int | None = None
    token_refresh_url: str | None = None
    token_refresh_headers: Mapping[str, str] | None = field(default=None, repr=False)

    @property
    def local_dir(self) -> Path | None:
        return Path(self.url[len(LOCAL_SCHEME) :]) if self.url.startswith(LOCAL_SCHEME) else None

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``XetSession.new_upload_commit`` and friends."""
        kwargs: dict[str, Any] = {"endpoint": self.url}
        if self.token is not None:
            kwargs["token"] = self.token
            kwargs["token_expiry_unix_secs"] = self.token_expiry or int(time.time()) + DEFAULT_TOKEN_LIFETIME
        if self.token_refresh_url is not None:
            kwargs["token_refresh_url"] = self.token_refresh_url
            kwargs["token_refresh_headers"] = dict(self.token_refresh_headers or {})
        return kwargs

    @classmethod
    def local(cls, directory: Path) -> XetEndpoint:
        return cls(LOCAL_SCHEME + str(directory))

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> XetEndpoint | None:
        """The endpoint that ``options`` (then the environment) name; ``None`` for the embedded CAS."""
        opts = dict(options or {})
        env = os.environ
        url = opts.get("endpoint") or env.get(ENV_ENDPOINT)
        if not url:
            return None
        if not isinstance(url, str) or not (url.startswith(("http://", "https://", LOCAL_SCHEME))):
            raise InvalidInput(
                f"Xet endpoint {url!r} is not an http(s):// or local:// URL; fix the 'endpoint' option or ${ENV_ENDPOINT}"
            )
        if url.startswith(LOCAL_SCHEME) and not Path(url[len(LOCAL_SCHEME) :]).is_absolute():
            raise InvalidInput(f"Xet endpoint {url!r} must name an absolute directory, e.g. local:///srv/xet")
        expiry_raw = opts.get("token_expiry") or env.get(ENV_TOKEN_EXPIRY)
        try:
            expiry = int(expiry_raw) if expiry_raw is not None else None
        except (TypeError, ValueError):
            raise InvalidInput(
                f"Xet token expiry {expiry_raw!r} is not a Unix timestamp in seconds; fix 'token_expiry' "
                f"or ${ENV_TOKEN_EXPIRY}"
            ) from None
        headers = opts.get("token_refresh_headers")
        if headers is not None and not isinstance(headers, Mapping):
            raise InvalidInput("Xet option 'token_refresh_headers' must be a table of header names to values")
        return cls(
            url=url,
            token=opts.get("token") or env.get(ENV_TOKEN),
            token_expiry=expiry,
            token_refresh_url=opts.get("token_refresh_url") or env.get(ENV_TOKEN_REFRESH_URL),
            token_refresh_headers=headers,
        )


__all__ = [
    "ENV_ENDPOINT",
    "ENV_TOKEN",
    "ENV_TOKEN_EXPIRY",
    "ENV_TOKEN_REFRESH_URL",
    "XetEndpoint",
]
