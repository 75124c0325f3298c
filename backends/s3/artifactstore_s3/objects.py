"""Git objects as immutable S3 objects, with a local read cache."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from artifactstore.engine import ObjectPort, StoredObject

from .cache import ObjectCache
from .connection import S3Connection, is_missing, is_transient

log = logging.getLogger(__name__)

_TYPE_NAMES = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}
_TYPE_NUMS = {v: k for k, v in _TYPE_NAMES.items()}
_PARALLEL = 16


def encode_loose(type_num: int, data: bytes) -> bytes:
    """git's loose-object format: zlib(``<type> <size>\\0<data>``)."""
    return zlib.compress(_TYPE_NAMES[type_num] + b" " + str(len(data)).encode() + b"\0" + data, 1)


def decode_loose(raw: bytes) -> tuple[int, bytes]:
    try:
        plain = zlib.decompress(raw)
    except zlib.error:
        # Damaged bytes: hand back something the engine's SHA-1 check will reject.
        return 3, raw
    header, _, data = plain.partition(b"\0")
    kind, _, _size = header.partition(b" ")
    return _TYPE_NUMS.get(kind, 3), data


class S3ObjectPort(ObjectPort):
    """Objects at ``<prefix>/.artifactstore/objects/<id[:2]>/<id[2:]>`` in git's loose format.

    Writes go out in parallel (a commit writes a handful of trees and blobs, each a round
    trip); reads are served from the local :class:`ObjectCache` when it has the object.
    """

    def __init__(self, conn: S3Connection, cache: ObjectCache | None) -> None:
        self.conn = conn
        self.cache = cache

    def key(self, oid: bytes) -> str:
        text = oid.decode("ascii")
        return self.conn.key("objects", text[:2], text[2:])

    def read(self, oid: bytes) -> tuple[int, bytes]:
        if self.cache is not None:
            hit = self.cache.get(oid)
            if hit is not None:
                return hit
        key = self.key(oid)
        try:
            raw = self.conn.retrying(
                lambda: self.conn.client.get_object(Bucket=self.conn.bucket, Key=key)["Body"].read(),
                what=f"read object {oid.decode()}",
            )
        except FileNotFoundError:
            raise KeyError(oid) from None
        type_num, data = decode_loose(raw)
        if self.cache is not None:
            self.cache.put(oid, type_num, data)
        return type_num, data

    def write(self, objects: Iterable[StoredObject]) -> None:
        batch = list(objects)
        if not batch:
            return
        self.conn.require_conditional_writes()

        def put(obj: StoredObject) -> None:
            self.conn.call(
                "put_object", Bucket=self.conn.bucket, Key=self.key(obj.id), Body=encode_loose(obj.type_num, obj.data)
            )
            if self.cache is not None:
                self.cache.put(obj.id, obj.type_num, obj.data)

        if len(batch) == 1:
            put(batch[0])
            return
        with ThreadPoolExecutor(max_workers=min(_PARALLEL, len(batch))) as pool:
            for _ in pool.map(put, batch):
                pass

    def contains(self, oid: bytes) -> bool:
        try:
            self.conn.retrying(
                lambda: self.conn.client.head_object(Bucket=self.conn.bucket, Key=self.key(oid)),
                what=f"head object {oid.decode()}",
                retry_on=lambda exc: not is_missing(exc) and is_transient(exc),
            )
        except FileNotFoundError:
            return False
        return True

    def iter_ids(self) -> Iterator[tuple[bytes, float]]:
        prefix = self.conn.key("objects") + "/"
        for item in iter_listing(self.conn, prefix):
            rest = item["Key"][len(prefix) :].replace("/", "")
            if len(rest) == 40:
                yield rest.encode("ascii"), item["LastModified"].timestamp()

    def delete(self, oids: Iterable[bytes]) -> None:
        delete_keys(self.conn, [self.key(oid) for oid in oids])
        if self.cache is not None:
            for oid in oids:
                self.cache.discard(oid)


def iter_listing(conn: S3Connection, prefix: str) -> Iterator[dict[str, Any]]:
    """Every object under ``prefix`` (ListObjectsV2, page by page, each page retried)."""
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"Bucket": conn.bucket, "Prefix": prefix}
        if token:
            kwargs["ContinuationToken"] = token
        page = conn.call("list_objects_v2", **kwargs)
        yield from page.get("Contents", [])
        if not page.get("IsTruncated"):
            return
        token = page.get("NextContinuationToken")


def delete_keys(conn: S3Connection, keys: list[str]) -> None:
    """Delete keys in batches of 1,000 (DeleteObjects); missing keys are ignored."""
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        if not chunk:
            continue
        conn.require_conditional_writes()
        response = conn.call(
            "delete_objects", Bucket=conn.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
        )
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            log.warning("could not delete %d objects, e.g. %s: %s", len(errors), first.get("Key"), first.get("Code"))


__all__ = ["S3ObjectPort", "decode_loose", "delete_keys", "encode_loose", "iter_listing"]
