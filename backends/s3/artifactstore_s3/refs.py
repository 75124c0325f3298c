"""Refs as S3 objects, swapped with conditional writes."""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from artifactstore.engine import RefPort
from artifactstore.errors import InvalidRefName

from .connection import S3Connection, error_code, is_missing, is_precondition_failed, is_transient

log = logging.getLogger(__name__)

_COMMIT_ID = re.compile(rb"[0-9a-f]{40}")


class S3RefPort(RefPort):
    """One object per ref (``<prefix>/.artifactstore/refs/heads/main`` holds ``"<id>\\n"``).

    Compare-and-swap uses S3 conditional writes: ``If-None-Match: *`` creates, ``If-Match:
    <etag of the value read>`` updates, and a 412 means another writer won (``False``; the
    engine re-reads and re-applies). 409 and 5xx are retried with backoff; after a failure
    whose outcome is unknown (a timeout, a dropped connection, a 5xx) the ref is re-read
    before anything else, and a ref that already holds ``new`` counts as our success.
    Deletion is a conditional ``DELETE`` (``If-Match``) where the endpoint supports it, else
    an empty "tombstone" object written with ``If-Match``, which reads as absent.
    """

    def __init__(self, conn: S3Connection) -> None:
        self.conn = conn
        # The value and etag last seen per ref: a swap from the value just read needs no
        # second GET. A stale entry only costs a 412, which means the ref moved (the etag of
        # a ref object is the MD5 of its value), so the answer stays right.
        self._seen: dict[str, tuple[bytes | None, str | None]] = {}
        self._seen_lock = threading.Lock()

    def _key(self, name: str) -> str:
        if not name.startswith("refs/"):
            raise InvalidRefName(f"ref name {name!r} must start with 'refs/'")
        return self.conn.key(name)

    def _read(self, name: str) -> tuple[bytes | None, str | None]:
        """``(commit id or None, etag or None)``; a tombstone gives ``(None, its etag)``."""
        key = self._key(name)

        def get() -> tuple[bytes | None, str | None]:
            try:
                response = self.conn.client.get_object(Bucket=self.conn.bucket, Key=key)
            except Exception as exc:
                if is_missing(exc):
                    return None, None
                raise
            body = response["Body"].read().strip()
            etag = str(response["ETag"])
            if not body:
                return None, etag
            if not _COMMIT_ID.fullmatch(body):
                raise ValueError(f"ref {name!r} in {self.conn.description} holds {body[:60]!r}, not a commit id")
            return body, etag

        value, etag = self.conn.retrying(get, what=f"read ref {name}")
        self._remember(name, value, etag)
        return value, etag

    def _remember(self, name: str, value: bytes | None, etag: str | None) -> None:
        with self._seen_lock:
            self._seen[name] = (value, etag)
            if len(self._seen) > 4096:
                self._seen.pop(next(iter(self._seen)))

    def _last_seen(self, name: str) -> tuple[bytes | None, str | None] | None:
        with self._seen_lock:
            return self._seen.get(name)

    def get(self, name: str) -> bytes | None:
        return self._read(name)[0]

    def compare_and_swap(self, name: str, old: bytes | None, new: bytes | None) -> bool:
        key = self._key(name)
        if old == new:
            return self.get(name) == old
        if not self.conn.require_conditional_writes():
            return self._unconditional_swap(name, key, old, new)
        uncertain = False
        seen = self._last_seen(name)
        for delay in self.conn.backoff():
            if seen is not None and seen[0] == old and (old is None) == (seen[1] is None):
                current, etag = seen
            else:
                current, etag = self._read(name)
            seen = None
            if uncertain and current == new:
                log.info("ref %s: an attempt whose outcome was unknown had succeeded", name)
                return True
            if current != old:
                return False
            try:
                new_etag = self._conditional_write(key, etag, new)
                self._remember(name, new, new_etag)
                return True
            except Exception as exc:
                if is_precondition_failed(exc):
                    if uncertain:
                        continue  # re-read: our earlier attempt may be what changed it
                    return False
                if not is_transient(exc) or delay is None:
                    raise self.conn.wrap(exc, f"update ref {name}") from exc
                code, status = error_code(exc)
                # 409 ConditionalRequestConflict fails cleanly; anything else may have landed.
                uncertain = uncertain or status != 409
                log.info("ref %s: swap failed transiently (%s %s); retrying in %.2fs", name, code, status, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _conditional_write(self, key: str, etag: str | None, new: bytes | None) -> str | None:
        """Write and return the new etag (``None`` when the ref is gone)."""
        client, bucket = self.conn.client, self.conn.bucket
        if new is None:
            if etag is None:
                return None
            if self.conn.conditional_delete:
                client.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
                return None
            response = client.put_object(Bucket=bucket, Key=key, Body=b"", IfMatch=etag)
        elif etag is None:
            response = client.put_object(Bucket=bucket, Key=key, Body=new + b"\n", IfNoneMatch="*")
        else:
            response = client.put_object(Bucket=bucket, Key=key, Body=new + b"\n", IfMatch=etag)
        return str(response["ETag"])

    def _unconditional_swap(self, name: str, key: str, old: bytes | None, new: bytes | None) -> bool:
        # Single-writer opt-out (allow_unconditional_writes=true): check, then write.
        if self.get(name) != old:
            return False
        if new is None:
            self.conn.call("delete_object", Bucket=self.conn.bucket, Key=key)
        else:
            self.conn.call("put_object", Bucket=self.conn.bucket, Key=key, Body=new + b"\n")
        return True

    def list(self, prefix: str) -> dict[str, bytes]:
        listed_prefix = self.conn.root + prefix
        names: list[str] = []
        paginator = self.conn.client.get_paginator("list_objects_v2")

        def collect() -> list[str]:
            found = []
            for page in paginator.paginate(Bucket=self.conn.bucket, Prefix=listed_prefix):
                for item in page.get("Contents", []):
                    if item.get("Size", 0) > 0:  # empty objects are tombstones
                        found.append(item["Key"][len(self.conn.root) :])
            return found

        names = self.conn.retrying(collect, what=f"list refs {prefix}")
        if not names:
            return {}
        with ThreadPoolExecutor(max_workers=min(16, len(names))) as pool:
            values = list(pool.map(self.get, names))
        return {name: value for name, value in zip(names, values, strict=True) if value is not None}


__all__ = ["S3RefPort"]
