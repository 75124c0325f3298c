""":class:`S3Store`: the whole store under one prefix of an S3 bucket."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from artifactstore import Commit, FsckReport, GCReport, Operation
from artifactstore.engine import EngineStore, as_bool, validate_ref_name
from artifactstore.errors import InvalidInput, InvalidURI, NotFound

from .cache import ObjectCache
from .connection import CONFIG_NAME, FORMAT, S3Connection, error_code, is_missing, is_precondition_failed
from .content import S3ContentPort
from .multipart import MIN_PART
from .objects import S3ObjectPort, delete_keys, iter_listing
from .refs import S3RefPort

log = logging.getLogger(__name__)

#: Files larger than this go to the content store (streamed, ranged reads, SHA-256 dedup);
#: smaller ones are git blobs, one small PUT each and cached locally.
DEFAULT_INLINE_THRESHOLD = 256 * 1024
OPTIONS = {
    "endpoint_url": "S3 endpoint, e.g. http://127.0.0.1:9000 (default: boto3's configuration, AWS_ENDPOINT_URL)",
    "region": "region name (default: boto3's configuration)",
    "profile": "AWS profile name from ~/.aws/config (default: boto3's configuration)",
    "allow_unconditional_writes": "write even if the endpoint ignores If-None-Match/If-Match (single writer only)",
    "inline_threshold": f"files larger than this many bytes go to the content store (default {DEFAULT_INLINE_THRESHOLD})",
    "part_size": f"smallest multipart part in bytes, at least 5 MiB (default {MIN_PART})",
    "upload_concurrency": "parts uploaded in parallel per file (default 4)",
    "cache": "cache immutable objects locally (default true)",
    "cache_dir": "where the object cache lives (default $XDG_CACHE_HOME/artifactstore/s3/objects)",
    "retry_seconds": "how long transient failures (5xx, 503 SlowDown, 409, timeouts) are retried (default 60)",
    "max_pool_connections": "HTTP connections per store (default 32)",
}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_known_roots: dict[str, set[str]] = {}
_roots_lock = threading.Lock()


class S3Store(EngineStore):
    """A store under ``s3://bucket/prefix`` on AWS S3 or any S3-compatible endpoint.

    How it differs from other backends:

    * Everything lives under ``<prefix>/.artifactstore/``: git objects, content by SHA-256,
      one object per ref. Artifact paths are never S3 keys, so the MLflow layout of the
      same bucket (or anything else under the prefix) cannot collide with the store.
    * Refs move by compare-and-swap with S3 conditional writes (``If-None-Match: *``,
      ``If-Match: <etag>``), so any number of processes on any number of machines can
      write one branch (``cross_process``). Before its first write the store checks that
      the endpoint honours them and refuses to write if not, unless
      ``allow_unconditional_writes=true`` (single writer only).
    * Large files are multipart uploads (parallel parts, a SHA-256 checksum on each) and
      are read with ranged GETs, so ``open(...).seek()`` fetches only what is read.
    * Immutable objects are cached under ``~/.cache/artifactstore/s3``; the cache is
      content-addressed and verified, so it is never stale.
    * Endpoint, region and credentials come from boto3's standard configuration
      (``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, environment, instance roles) or the
      ``endpoint_url`` / ``region`` / ``profile`` options of a named store, never from
      the URI. S3's 1,024-byte key limit is checked before any request.
    """

    name = "s3"
    persistent = True
    cross_process = True
    chunk_dedup = False
    bounded_memory = True

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        branch: str | None = None,
        create: bool = False,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        options = dict(options or {})
        _check_options(f"{bucket}/{prefix}", options)
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise InvalidURI(
                f"{bucket!r} is not a valid S3 bucket name (3-63 characters: lower-case letters, digits, '.', '-')"
            )
        if branch is not None:
            validate_ref_name(branch, what="branch")
        self.conn = S3Connection(bucket, prefix, options)
        self._explicit_branch = branch
        config = self._open_config(create)
        cache = None
        if as_bool(options.get("cache", True)):
            cache = ObjectCache(options.get("cache_dir"))
        part_size = int(options.get("part_size", MIN_PART))
        if part_size < 5 * 1024 * 1024:
            raise InvalidInput(f"part_size={part_size} is below S3's 5 MiB minimum part size")
        self.object_port = S3ObjectPort(self.conn, cache)
        self.content_port = S3ContentPort(
            self.conn, concurrency=int(options.get("upload_concurrency", 4)), min_part=part_size
        )
        super().__init__(
            objects=self.object_port,
            refs=S3RefPort(self.conn),
            content=self.content_port,
            default_branch=branch or config.get("default_branch") or "main",
            inline_threshold=int(options.get("inline_threshold", DEFAULT_INLINE_THRESHOLD)),
        )
        _remember_root(bucket, self.conn.prefix)

    def _open_config(self, create: bool) -> dict[str, Any]:
        conn = self.conn
        key = conn.key(CONFIG_NAME)
        try:
            raw = conn.retrying(
                lambda: conn.client.get_object(Bucket=conn.bucket, Key=key)["Body"].read(), what="read store config"
            )
        except FileNotFoundError as exc:
            cause = exc.__cause__
            if cause is not None and error_code(cause)[0] == "NoSuchBucket":
                raise NotFound(
                    f"bucket {conn.bucket!r} does not exist at this endpoint (or these credentials cannot see it)"
                ) from None
            if not create:
                raise NotFound(
                    f"no artifact store at {conn.description}; create one with: "
                    f"artifactstore init artifactstore+s3://{conn.bucket}/{conn.prefix}"
                ) from None
            return self._create_config()
        try:
            config = json.loads(raw)
        except ValueError:
            config = {}
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise InvalidInput(f"{key!r} in bucket {conn.bucket!r} is not an artifactstore-s3 store marker")
        return config

    def _create_config(self) -> dict[str, Any]:
        conn = self.conn
        conn.require_conditional_writes()
        config = {"format": FORMAT, "default_branch": self._explicit_branch or "main"}
        body = json.dumps(config).encode()
        try:
            conn.retrying(
                lambda: conn.client.put_object(Bucket=conn.bucket, Key=conn.key(CONFIG_NAME), Body=body, IfNoneMatch="*"),
                what="create store",
            )
        except Exception as exc:
            if not is_precondition_failed(exc.__cause__ or exc):
                raise
        log.info("created artifact store at %s", conn.description)
        return config

    # ------------------------------------------------------------------ key limit first
    # A ref's key is checked against S3's 1,024-byte limit before anything is uploaded, so
    # an over-long branch name fails without leaving content behind.
    def _check_ref(self, kind: str, name: object) -> None:
        if isinstance(name, str):
            self.conn.key(kind + name)

    def commit(self, changes: Iterable[Operation], *, branch: str | None = None, **kwargs: Any) -> Commit:
        self._check_ref("refs/heads/", branch or self.default_branch)
        return super().commit(changes, branch=branch, **kwargs)

    def create_branch(self, name: str, *, rev: str | None = None) -> str:
        self._check_ref("refs/heads/", name)
        return super().create_branch(name, rev=rev)

    def create_tag(self, name: str, *, rev: str | None = None) -> str:
        self._check_ref("refs/tags/", name)
        return super().create_tag(name, rev=rev)

    def merge(self, source: str, *, into: str | None = None, message: str | None = None) -> Commit:
        self._check_ref("refs/heads/", into or self.default_branch)
        return super().merge(source, into=into, message=message)

    def fsck(self) -> FsckReport:
        """Re-hash every reachable object and file *as stored in the bucket*.

        The local object cache is bypassed (and the engine's verified-object cache dropped),
        so a corrupted object in S3 is found even when a good copy is cached here.
        """
        cache, self.object_port.cache = self.object_port.cache, None
        self.reader = type(self.reader)(self.objects)
        try:
            return super().fsck()
        finally:
            self.object_port.cache = cache

    def gc(self, *, dry_run: bool = False, grace_seconds: float = 3600.0) -> GCReport:
        """Also abort multipart uploads and remove staging objects older than the grace period.

        Both are what an upload interrupted by a crash leaves behind; neither is counted in
        the report (they were never content of the store).
        """
        report = super().gc(dry_run=dry_run, grace_seconds=grace_seconds)
        if not dry_run:
            self._clean_interrupted_uploads(time.time() - grace_seconds)
        return report

    def _clean_interrupted_uploads(self, cutoff: float) -> None:
        conn = self.conn
        staging = [
            str(item["Key"])
            for item in iter_listing(conn, conn.key("staging") + "/")
            if item["LastModified"].timestamp() < cutoff
        ]
        delete_keys(conn, staging)
        aborted = 0
        marker: dict[str, Any] = {}
        while True:
            page = conn.call("list_multipart_uploads", Bucket=conn.bucket, Prefix=conn.root, **marker)
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() < cutoff:
                    conn.call("abort_multipart_upload", Bucket=conn.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                    aborted += 1
            if not page.get("IsTruncated"):
                break
            marker = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
        if staging or aborted:
            log.info("%s: removed %d staging objects, aborted %d multipart uploads", conn.description, len(staging), aborted)

    # ------------------------------------------------------------------ plugin side
    @classmethod
    def split_root(cls, netloc: str, path: str) -> tuple[str, str]:
        """Find where the store ends in ``bucket/<prefix>/<path inside the store>``.

        MLflow appends ``<experiment>/<run>/artifacts`` to an artifact root, so the deepest
        prefix holding ``.artifactstore/config.json`` is the store (asked of S3 once per
        process and prefix); when none exists yet, the whole path is the store.
        """
        segments = [s for s in path.split("/") if s]
        with _roots_lock:
            known = sorted(_known_roots.get(netloc, ()), key=len, reverse=True)
        for root in known:
            root_parts = [s for s in root.split("/") if s]
            if segments[: len(root_parts)] == root_parts:
                return _join(netloc, root_parts), "/".join(segments[len(root_parts) :])
        if len(segments) > 0:
            found = _find_root(netloc, segments)
            if found is not None:
                _remember_root(netloc, "/".join(segments[:found]))
                return _join(netloc, segments[:found]), "/".join(segments[found:])
        return _join(netloc, segments), ""

    @classmethod
    def from_location(
        cls, location: str, *, branch: str | None = None, create: bool = False, options: Mapping[str, Any] | None = None
    ) -> S3Store:
        """Open ``bucket/prefix`` (with ``create``, make an empty store there). Options: see ``OPTIONS``."""
        bucket, _, prefix = location.strip("/").partition("/")
        if not bucket:
            raise InvalidURI(f"S3 location {location!r} names no bucket; write artifactstore+s3://bucket/prefix")
        return cls(bucket, prefix, branch=branch, create=create, options=options)

    @property
    def uri(self) -> str:
        suffix = f"@{self._explicit_branch.replace('/', '%2F')}" if self._explicit_branch else ""
        location = f"{self.conn.bucket}/{self.conn.prefix}" if self.conn.prefix else self.conn.bucket
        return f"artifactstore+s3://{location}{suffix}"

    def close(self) -> None:
        client = self.conn._client
        if client is not None and hasattr(client, "close"):
            client.close()


def _join(bucket: str, parts: list[str]) -> str:
    return "/".join([bucket, *parts])


def _remember_root(bucket: str, prefix: str) -> None:
    with _roots_lock:
        _known_roots.setdefault(bucket, set()).add(prefix.strip("/"))


def _find_root(bucket: str, segments: list[str]) -> int | None:
    """Deepest ``n`` such that ``segments[:n]`` holds a store marker (``None`` if none, or S3 unreachable)."""
    try:
        conn = S3Connection(bucket, "", {"retry_seconds": 5})
        client = conn.client
        for n in range(len(segments), -1, -1):
            prefix = "/".join(segments[:n])
            key = (f"{prefix}/" if prefix else "") + f".artifactstore/{CONFIG_NAME}"
            try:
                client.head_object(Bucket=bucket, Key=key)
                return n
            except Exception as exc:
                if not is_missing(exc):
                    raise
    except Exception as exc:  # no endpoint or credentials yet: let from_location report it
        log.debug("cannot look for a store root in bucket %s: %s", bucket, exc)
    return None


def _check_options(location: str, options: Mapping[str, Any]) -> None:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise InvalidInput(
            f"unknown option(s) {', '.join(unknown)} for s3 store {location!r}; known: {', '.join(sorted(OPTIONS))}"
        )
    for name in ("inline_threshold", "part_size", "upload_concurrency", "max_pool_connections"):
        if name in options:
            try:
                value = int(options[name])
                if value < (0 if name == "inline_threshold" else 1) or isinstance(options[name], bool):
                    raise ValueError
            except (TypeError, ValueError):
                raise InvalidInput(
                    f"option {name}={options[name]!r} for s3 store {location!r} is invalid: {OPTIONS[name]}"
                ) from None
    for name in ("cache", "allow_unconditional_writes"):
        if name in options:
            try:
                as_bool(options[name])
            except ValueError:
                raise InvalidInput(
                    f"option {name}={options[name]!r} for s3 store {location!r} is invalid: {OPTIONS[name]}"
                ) from None


__all__ = ["DEFAULT_INLINE_THRESHOLD", "OPTIONS", "S3Store"]
