"""One bucket prefix on one S3 endpoint: the client, the key layout, retries and the probe.

Everything the store writes lives under ``<prefix>/.artifactstore/``::

    .artifactstore/config.json              marks the store (format version)
    .artifactstore/objects/ab/cdef...       git objects, zlib-compressed loose format
    .artifactstore/content/ab/cdef...       file content by SHA-256
    .artifactstore/staging/<uuid>           streamed uploads before their SHA-256 is known
    .artifactstore/refs/heads/main          one object per ref: "<commit id>\\n"

Artifact paths never become keys (they live inside git trees), so no user path can land on
the store's own objects. Endpoint, region and credentials come from boto3's standard
configuration or the ``endpoint_url`` / ``region`` / ``profile`` options, never from the URI.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from artifactstore.engine import as_bool
from artifactstore.errors import ArtifactStoreError, InvalidInput, WriteRefused

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_KEY_BYTES = 1024
STORE_DIR = ".artifactstore"
CONFIG_NAME = "config.json"
FORMAT = "artifactstore-s3/1"
#: The longest key the store itself makes below its prefix (a content key), so a prefix
#: that leaves no room for it is refused at open, before any request.
_WRONG_ETAG = '"' + '0' * 32 + '"'
LONGEST_OWN_KEY = len(f"{STORE_DIR}/content/") + 65


class S3Error(ArtifactStoreError, OSError):
    """An S3 request failed for good (after retries); the message names bucket, key and code."""


def error_code(exc: BaseException) -> tuple[str, int]:
    """``(code, HTTP status)`` of a botocore ClientError, ``("", 0)`` for anything else."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return "", 0
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def is_missing(exc: BaseException) -> bool:
    code, status = error_code(exc)
    return status == 404 or code in ("NoSuchKey", "404", "NotFound")


def is_precondition_failed(exc: BaseException) -> bool:
    code, status = error_code(exc)
    return status == 412 or code == "PreconditionFailed"


def is_transient(exc: BaseException) -> bool:
    """5xx (incl. 503 SlowDown), 409 ConditionalRequestConflict, throttling, timeouts, dropped connections."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError, ReadTimeoutError

    code, status = error_code(exc)
    if status:
        return status >= 500 or status in (408, 409, 429) or code in ("SlowDown", "RequestTimeout", "Throttling")
    return isinstance(exc, (BotoConnectionError, HTTPClientError, ReadTimeoutError, ConnectionError, TimeoutError))


class S3Connection:
    """A boto3 client bound to ``bucket`` and ``prefix``, with our own retry policy.

    botocore's retries are switched off (``total_max_attempts=1``) so that every retry goes
    through :meth:`call`, which knows which failures leave an outcome unknown.
    """

    def __init__(self, bucket: str, prefix: str, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.root = f"{self.prefix}/{STORE_DIR}/" if self.prefix else f"{STORE_DIR}/"
        self.retry_seconds = float(options.get("retry_seconds", 60.0))
        self.allow_unconditional_writes = as_bool(options.get("allow_unconditional_writes", False))
        self._client_options = {k: options.get(k) for k in ("endpoint_url", "region", "profile")}
        self._pool = int(options.get("max_pool_connections", 32))
        self._client: Any = None
        self._lock = threading.Lock()
        self._conditional: bool | None = None
        self.conditional_delete = False
        self.check_key(self.root + "x" * LONGEST_OWN_KEY, what=f"prefix {self.prefix!r}")

    # ------------------------------------------------------------------ client
    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - boto3 is a dependency
            raise ImportError("the s3 backend needs boto3: pip install artifactstore-s3") from exc
        session = boto3.session.Session(profile_name=self._client_options["profile"] or None)
        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=self._pool,
            connect_timeout=10,
            read_timeout=60,
            # Checksums are sent explicitly (SHA-256) where we know them; botocore adds
            # CRC32 elsewhere. Responses are verified by the engine (SHA-1 / SHA-256).
            request_checksum_calculation="when_supported",
            response_checksum_validation="when_required",
        )
        return session.client(
            "s3",
            endpoint_url=self._client_options["endpoint_url"] or None,
            region_name=self._client_options["region"] or None,
            config=config,
        )

    @property
    def description(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    # ------------------------------------------------------------------ keys
    def key(self, *parts: str) -> str:
        key = self.root + "/".join(parts)
        return self.check_key(key)

    def check_key(self, key: str, *, what: str | None = None) -> str:
        size = len(key.encode("utf-8"))
        if size > MAX_KEY_BYTES:
            subject = what or f"S3 key {key[:80]!r}..."
            raise InvalidInput(
                f"{subject} makes S3 keys of {size} bytes, over S3's limit of {MAX_KEY_BYTES}; "
                "use a shorter bucket prefix or ref name"
            )
        return key

    # ------------------------------------------------------------------ calls
    def call(self, operation: str, **kwargs: Any) -> Any:
        """Call a client operation, retrying transient failures with jittered exponential backoff.

        Only for requests whose repetition is harmless (reads, immutable writes). The ref
        port handles conditional writes itself, because their outcome can be unknown.
        """
        return self.retrying(lambda: getattr(self.client, operation)(**kwargs), what=f"{operation} {kwargs.get('Key', '')}")

    def retrying(self, fn: Callable[[], T], *, what: str, retry_on: Callable[[BaseException], bool] = is_transient) -> T:
        for delay in self.backoff():
            try:
                return fn()
            except Exception as exc:
                if not retry_on(exc) or delay is None:
                    raise self.wrap(exc, what) from exc
                log.info("S3 %s on %s failed transiently (%s); retrying in %.2fs", what, self.bucket, _brief(exc), delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def backoff(self) -> Iterator[float | None]:
        """Delays between attempts; the last value is ``None`` (give up) once the deadline passes."""
        deadline = time.monotonic() + self.retry_seconds
        attempt = 0
        while True:
            if time.monotonic() >= deadline:
                yield None
                return
            delay = min(5.0, 0.05 * 2**attempt) * (0.5 + random.random())
            yield min(delay, max(0.0, deadline - time.monotonic()))
            attempt += 1

    def wrap(self, exc: BaseException, what: str) -> BaseException:
        if isinstance(exc, ArtifactStoreError):
            return exc
        code, status = error_code(exc)
        if code == "NoSuchUpload":
            return S3Error(
                f"S3 {what} in bucket {self.bucket!r} failed: the multipart upload is gone (NoSuchUpload: "
                "aborted, expired, or lost by a server restart); nothing was committed, retry the write"
            )
        if is_missing(exc):
            return FileNotFoundError(f"S3 {what} in bucket {self.bucket!r}: not found ({code or status})")
        reason = f"{code} (HTTP {status})" if status else _brief(exc)
        return S3Error(f"S3 {what} in bucket {self.bucket!r} failed: {reason}")

    # ------------------------------------------------------------------ probe
    def require_conditional_writes(self) -> bool:
        """Before the first write: check that the endpoint honours ``If-None-Match``/``If-Match``.

        Returns whether it does; raises :class:`WriteRefused` when it does not and the
        ``allow_unconditional_writes`` opt-out is off.
        """
        if self._conditional is None:
            with self._lock:
                if self._conditional is None:
                    self._conditional = self._probe()
                    if not self._conditional:
                        if not self.allow_unconditional_writes:
                            raise WriteRefused(
                                f"the S3 endpoint of {self.description} ignores conditional writes "
                                "(If-None-Match / If-Match), so concurrent writers could lose commits; "
                                "use an endpoint that supports them, or set the store option "
                                "allow_unconditional_writes=true if only one process ever writes"
                            )
                        log.warning(
                            "%s: endpoint ignores conditional writes; writing without compare-and-swap "
                            "(allow_unconditional_writes=true, single writer only)",
                            self.description,
                        )
        if not self._conditional and not self.allow_unconditional_writes:
            raise WriteRefused(f"writes to {self.description} are refused: its endpoint ignores conditional writes")
        return bool(self._conditional)

    def _probe(self) -> bool:
        key = self.key("probe", uuid.uuid4().hex)
        self.call("put_object", Bucket=self.bucket, Key=key, Body=b"probe", IfNoneMatch="*")
        try:
            honoured = self._expect_412(lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=b"x", IfNoneMatch="*"))
            honoured = honoured and self._expect_412(
                lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=b"y", IfMatch=_WRONG_ETAG)
            )
            if honoured:
                self.conditional_delete = self._expect_412(
                    lambda: self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=_WRONG_ETAG)
                )
        finally:
            try:
                self.call("delete_object", Bucket=self.bucket, Key=key)
            except Exception as exc:  # the probe object is harmless garbage
                log.debug("could not delete probe object %s: %s", key, exc)
        log.debug("%s: conditional writes %s, conditional delete %s", self.description, honoured, self.conditional_delete)
        return honoured

    def _expect_412(self, fn: Callable[[], Any]) -> bool:
        def attempt() -> bool:
            try:
                fn()
            except Exception as exc:
                if is_precondition_failed(exc):
                    return True
                if error_code(exc)[1] in (400, 501) or (is_missing(exc)):
                    return False
                raise
            return False

        return self.retrying(attempt, what="conditional-write probe")


def _brief(exc: BaseException) -> str:
    code, status = error_code(exc)
    if status:
        return f"{code} (HTTP {status})"
    return f"{type(exc).__name__}: {exc}"


__all__ = [
    "CONFIG_NAME",
    "FORMAT",
    "MAX_KEY_BYTES",
    "STORE_DIR",
    "S3Connection",
    "S3Error",
    "error_code",
    "is_missing",
    "is_precondition_failed",
    "is_transient",
]
