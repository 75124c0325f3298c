"""Streaming multipart upload: parts hashed in order, uploaded in parallel, SHA-256 per part."""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

from artifactstore.errors import IntegrityError

from .connection import S3Connection, is_precondition_failed

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MIN_PART = 8 * MiB
MAX_PARTS = 10_000
#: S3's largest object.
MAX_OBJECT = 5 * 1024**4


def part_sizes(size_hint: int | None, min_part: int = MIN_PART) -> Iterator[int]:
    """Sizes of parts 1, 2, ... so that 10,000 parts always reach 5 TiB.

    With a known size the part is ``max(min_part, size / 10,000)`` rounded up to a MiB. With
    an unknown size it starts at ``min_part`` and doubles every 1,000 parts (8 MiB parts give
    8 TiB in 10,000), so small streams use small parts and a memory bound of
    ``part size x (concurrency + 1)``: ``concurrency`` parts uploading and one being read.
    """
    base = min_part
    if size_hint:
        needed = -(-size_hint // MAX_PARTS)
        base = max(min_part, -(-needed // MiB) * MiB)
    number = 0
    while True:
        yield base * 2 ** (number // 1000)
        number += 1


def read_exact(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes: fewer only at the end of the stream."""
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


class AlreadyStored(Exception):
    """The final key existed already (412 on ``If-None-Match: *``): deduplicated."""


class MultipartUpload:
    """Upload ``stream`` to ``key``; returns ``(sha256 hex, size)``.

    The producer (the calling thread) reads parts in order and hashes them; a pool uploads
    them. With ``expected_sha256`` the upload is aborted, never completed, when the bytes
    read differ (a local file that changed after it was hashed). ``if_none_match`` completes
    with ``If-None-Match: *`` and raises :class:`AlreadyStored` on 412.
    """

    def __init__(self, conn: S3Connection, *, concurrency: int = 4, min_part: int | None = None) -> None:
        self.conn = conn
        self.concurrency = concurrency
        self.min_part = min_part or MIN_PART

    def run(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size_hint: int | None = None,
        expected_sha256: str | None = None,
        if_none_match: bool = False,
    ) -> tuple[str, int]:
        conn = self.conn
        created = conn.call("create_multipart_upload", Bucket=conn.bucket, Key=key, ChecksumAlgorithm="SHA256")
        upload_id = created["UploadId"]
        completed = False
        try:
            digest, size, parts = self._upload_parts(key, upload_id, stream, size_hint)
            if expected_sha256 is not None and digest != expected_sha256:
                raise IntegrityError(
                    f"the file being uploaded changed while it was read (SHA-256 {digest}, hashed before as "
                    f"{expected_sha256}); nothing was stored"
                )
            kwargs: dict[str, Any] = {}
            if if_none_match:
                kwargs["IfNoneMatch"] = "*"
            try:
                conn.call(
                    "complete_multipart_upload",
                    Bucket=conn.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    **kwargs,
                )
            except Exception as exc:
                if is_precondition_failed(exc.__cause__ or exc):
                    raise AlreadyStored(key) from exc
                raise
            completed = True
            return digest, size
        finally:
            if not completed:
                self._abort(key, upload_id)

    def _upload_parts(
        self, key: str, upload_id: str, stream: BinaryIO, size_hint: int | None
    ) -> tuple[str, int, list[dict[str, Any]]]:
        hasher = hashlib.sha256()
        size = 0
        futures: list[Future[dict[str, Any]]] = []
        # A part is read while ``concurrency`` parts upload: at most ``concurrency + 1`` in memory.
        slots = threading.Semaphore(self.concurrency)
        sizes = part_sizes(size_hint, self.min_part)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            try:
                for number, part_size in enumerate(sizes, start=1):
                    data = read_exact(stream, part_size)
                    if not data and number > 1:
                        break
                    if number > MAX_PARTS:
                        raise ValueError(f"upload to {key!r} exceeds S3's {MAX_PARTS} parts (over 5 TiB)")
                    hasher.update(data)
                    size += len(data)
                    slots.acquire()
                    future = pool.submit(self._upload_part, key, upload_id, number, data)
                    future.add_done_callback(lambda _f: slots.release())
                    futures.append(future)
                    if len(data) < part_size:
                        break
                    if any(f.done() and f.exception() for f in futures[-self.concurrency :]):
                        break
                parts = [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        return hasher.hexdigest(), size, parts

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        checksum = b64_sha256(data)
        response = self.conn.call(
            "upload_part",
            Bucket=self.conn.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            ChecksumSHA256=checksum,
        )
        return {"PartNumber": number, "ETag": response["ETag"], "ChecksumSHA256": checksum}

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.conn.client.abort_multipart_upload(Bucket=self.conn.bucket, Key=key, UploadId=upload_id)
        except Exception as exc:  # an abandoned upload is garbage; a lifecycle rule reclaims it
            log.info("could not abort multipart upload of %s: %s", key, exc)


__all__ = ["MAX_OBJECT", "MIN_PART", "AlreadyStored", "MultipartUpload", "b64_sha256", "part_sizes", "read_exact"]
