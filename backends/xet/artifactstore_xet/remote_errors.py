"""hf-xet's failures against a remote CAS as errors that say what happened.

hf-xet 1.8 reports every HTTP failure as ``ConnectionError("Network error: Request error:
HTTP status client error (401 Unauthorized), domain: <url>")``: a rejected token, a file
the server lacks and a server that went away all look alike. This module reads the status
back out of the message and raises what a caller can act on:

* 401 / 403: :class:`~artifactstore.errors.AccessDenied` naming the endpoint (never the token);
* 404 on a reconstruction: :class:`~artifactstore.errors.IntegrityError`, the content is gone
  from the server (never an empty or short read);
* 400 on a shard upload: the server lacks xorbs that hf-xet's local shard cache says it has
  (the server lost data); :func:`clear_shard_cache` forgets what hf-xet cached about that
  endpoint so that the next upload sends the chunks again;
* a read the server answered but hf-xet could not rebuild: ``IntegrityError``;
* anything else (no answer, a server error): an ``OSError`` saying nothing was committed
  and to retry.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from artifactstore.errors import AccessDenied, IntegrityError

if TYPE_CHECKING:
    from .endpoint import XetEndpoint

log = logging.getLogger(__name__)

_STATUS = re.compile(r"\((\d{3}) [A-Za-z][A-Za-z ]*\)")
#: hf-xet's cache root unless $HF_XET_CACHE says otherwise (hf-xet's own default).
ENV_CACHE = "HF_XET_CACHE"
#: Seconds the diagnosis of a short read waits for the server.
PROBE_TIMEOUT = 30.0
#: Sub-directory of an endpoint's cache that holds the shards hf-xet deduplicates against.
SHARD_CACHE = "shard-cache"


def http_status(exc: BaseException) -> int | None:
    """The HTTP status in an hf-xet error message, or ``None`` (not an HTTP answer)."""
    found = _STATUS.findall(str(exc))
    return int(found[-1]) if found else None


def is_remote_failure(exc: BaseException) -> bool:
    """True when ``exc`` is hf-xet reporting an HTTP answer or a network failure."""
    return http_status(exc) is not None or isinstance(exc, ConnectionError)


def is_auth_failure(exc: BaseException) -> bool:
    """A refused token (401 / 403), or one hf-xet found expired with no refresh URL to renew it."""
    return http_status(exc) in (401, 403) or "Auth error" in str(exc)


def access_denied(status: int | None, *, endpoint: str, doing: str) -> AccessDenied:
    why = f"HTTP {status}" if status is not None else "it expired and there is no refresh URL to renew it"
    return AccessDenied(
        f"the Xet CAS {endpoint} did not accept the access token while {doing} ({why}); "
        "check the store's 'token' option or $ARTIFACTSTORE_XET_TOKEN, and set 'token_refresh_url' "
        "if the token expires"
    )


def missing(status: int, *, sha256: str, xet_hash: str, endpoint: str) -> IntegrityError:
    return IntegrityError(
        f"content {sha256} (Xet hash {xet_hash}) is missing from the Xet CAS {endpoint} (HTTP {status}): "
        "the server lost it or the store points at the wrong endpoint; run 'artifactstore fsck'"
    )


def write_failure(exc: BaseException, *, what: str, endpoint: str) -> Exception:
    """The error for a failed upload of ``what`` to the remote CAS ``endpoint``."""
    status = http_status(exc)
    if is_auth_failure(exc):
        return access_denied(status, endpoint=endpoint, doing=f"writing {what}")
    reason = f"HTTP {status}" if status is not None else "no answer"
    return OSError(
        errno.EIO,
        f"writing {what} to the Xet CAS {endpoint} failed ({reason}; hf-xet: {type(exc).__name__}: {exc}); "
        "nothing was committed, retry when the server is reachable",
    )


def read_failure(exc: BaseException, *, sha256: str, xet_hash: str, endpoint: str) -> Exception:
    """The error for a failed read of content ``sha256`` from the remote CAS ``endpoint``."""
    status = http_status(exc)
    if is_auth_failure(exc):
        return access_denied(status, endpoint=endpoint, doing=f"reading content {sha256}")
    if status in (404, 416):
        return missing(status, sha256=sha256, xet_hash=xet_hash, endpoint=endpoint)
    if not is_remote_failure(exc):
        # The server answered and hf-xet could not rebuild the file from what it sent.
        return IntegrityError(
            f"content {sha256} (Xet hash {xet_hash}) came back damaged from the Xet CAS {endpoint} "
            f"(hf-xet: {type(exc).__name__}: {exc}); run 'artifactstore fsck'"
        )
    reason = f"HTTP {status}" if status is not None else "no answer"
    return OSError(
        errno.EIO,
        f"reading content {sha256} from the Xet CAS {endpoint} failed ({reason}; hf-xet: {type(exc).__name__}: {exc}); retry",
    )


def probe_reconstruction(endpoint: XetEndpoint, xet_hash: str) -> int | None:
    """Ask ``endpoint`` for the first byte's reconstruction of ``xet_hash``; return the HTTP status.

    hf-xet sometimes ends a download stream early without an error (seen for a rejected
    token and for a file the server lacks); this asks the server directly why. With a
    refresh URL, a refused token is exchanged once for a fresh one, as hf-xet would.
    ``None``: no answer.
    """
    token = endpoint.token
    for attempt in range(2):
        headers = {"Range": "bytes=0-0"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(f"{endpoint.url.rstrip('/')}/v1/reconstructions/{xet_hash}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
        except (OSError, ValueError):
            return None
        if status not in (401, 403) or attempt or not endpoint.token_refresh_url:
            return status
        token = _refreshed_token(endpoint)
        if token is None:
            return status
    return None


def _refreshed_token(endpoint: XetEndpoint) -> str | None:
    assert endpoint.token_refresh_url is not None
    request = urllib.request.Request(endpoint.token_refresh_url, headers=dict(endpoint.token_refresh_headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:
            token = json.loads(response.read()).get("accessToken")
    except (OSError, ValueError, AttributeError):
        return None
    return token if isinstance(token, str) else None


def short_read(status: int | None, *, sha256: str, xet_hash: str, endpoint: str, got: int, wanted: int) -> Exception:
    """The error for a download that ended early, given what :func:`probe_reconstruction` found."""
    if status in (401, 403):
        return access_denied(status, endpoint=endpoint, doing=f"reading content {sha256}")
    if status in (404, 416):
        return missing(status, sha256=sha256, xet_hash=xet_hash, endpoint=endpoint)
    return IntegrityError(
        f"content {sha256} (Xet hash {xet_hash}) came back from the Xet CAS {endpoint} with {got} of {wanted} "
        f"bytes (the server answers {status or 'nothing'}); retry, and run 'artifactstore fsck' if it persists"
    )


def is_stale_shard_cache(exc: BaseException) -> bool:
    """True when the server refused a shard: it lacks xorbs hf-xet's shard cache says it holds."""
    return http_status(exc) == 400 and "/v1/shards" in str(exc)


def cache_root() -> Path:
    configured = os.environ.get(ENV_CACHE)
    if configured:
        return Path(configured)
    return Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "xet"


def clear_shard_cache(endpoint: str) -> int:
    """Remove hf-xet's cached shards of every endpoint on ``endpoint``'s host; return how many directories.

    hf-xet names an endpoint's cache ``<scheme>___<host with _ for punctuation>-<hash>``; the
    port is not in the readable part, so every endpoint on that host loses its cache (it is
    refilled from the servers as uploads go on).
    """
    parts = urlsplit(endpoint)
    prefix = re.sub(r"[^A-Za-z0-9]", "_", f"{parts.scheme}://{parts.hostname or ''}")
    removed = 0
    for directory in cache_root().glob(f"{prefix}-*/{SHARD_CACHE}"):
        shutil.rmtree(directory, ignore_errors=True)
        removed += 1
    log.warning(
        "the Xet CAS %s refused a shard that hf-xet's local cache said it could build on (the server lost data); "
        "cleared %d cached shard director%s so the chunks are sent again",
        endpoint,
        removed,
        "y" if removed == 1 else "ies",
    )
    return removed


__all__ = [
    "access_denied",
    "clear_shard_cache",
    "http_status",
    "is_auth_failure",
    "is_remote_failure",
    "is_stale_shard_cache",
    "probe_reconstruction",
    "short_read",
    "read_failure",
    "write_failure",
]
