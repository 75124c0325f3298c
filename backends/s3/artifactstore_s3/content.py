"""File content as content-addressed S3 objects (``.artifactstore/content/<sha256>``)."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, cast

from artifactstore.engine import PrefixedReader
from artifactstore.engine.ports import ContentInfo, ContentPort

from .connection import S3Connection, is_missing, is_precondition_failed, is_transient
from .multipart import AlreadyStored, MultipartUpload, b64_sha256, part_sizes, read_exact
from .objects import delete_keys, iter_listing
from .reader import open_ranged

log = logging.getLogger(__name__)

HASH_CHUNK = 4 * 1024 * 1024
#: CopyObject's limit; larger staged uploads are copied part by part.
MAX_COPY = 5 * 1024**3
COPY_PART = 1024**3


class S3ContentPort(ContentPort):
    """Content at ``<prefix>/.artifactstore/content/<sha[:2]>/<sha[2:]>``.

    How a write proceeds depends on what the engine hands over:

    * a ``local_path``: hash the file first (a local read), and skip the upload entirely
      when that content is stored already; else upload it straight to its final key, with
      the SHA-256 checked again while uploading.
    * a stream that fits in one part (8 MiB by default): one ``PutObject`` to the final key
      with ``If-None-Match: *``.
    * a longer stream: its SHA-256 is unknown until its end, so it is uploaded to a staging
      key while being hashed, then copied server-side to its final key (or dropped when
      that exists already).

    Every request carries a SHA-256 checksum (``ChecksumSHA256`` per part / per object),
    which S3 verifies. ``open`` returns a seekable stream that fetches ranges lazily.
    """

    def __init__(self, conn: S3Connection, *, concurrency: int = 4, min_part: int | None = None) -> None:
        self.conn = conn
        self.concurrency = concurrency
        self.min_part = min_part

    def key(self, sha256: str) -> str:
        return self.conn.key("content", sha256[:2], sha256[2:])

    def _first_part_size(self, size_hint: int | None) -> int:
        return next(part_sizes(size_hint, self.min_part) if self.min_part else part_sizes(size_hint))

    # ------------------------------------------------------------------ write
    def write(self, stream: BinaryIO, *, size_hint: int | None = None, local_path: str | None = None) -> ContentInfo:
        self.conn.require_conditional_writes()
        if local_path is not None:
            return self._write_local(local_path)
        first = read_exact(stream, self._first_part_size(size_hint))
        if len(first) < self._first_part_size(size_hint):
            return self._write_small(first)
        rest = cast(BinaryIO, PrefixedReader(first, stream))
        del first  # the upload holds the first part only until it is sent
        return self._write_staged(rest, size_hint)

    def _write_small(self, data: bytes) -> ContentInfo:
        sha = hashlib.sha256(data).hexdigest()
        if self._stored_size(sha) == len(data):
            return ContentInfo(sha, len(data))
        try:
            self.conn.retrying(
                lambda: self.conn.client.put_object(
                    Bucket=self.conn.bucket, Key=self.key(sha), Body=data, ChecksumSHA256=b64_sha256(data), IfNoneMatch="*"
                ),
                what=f"put content {sha}",
            )
        except Exception as exc:
            if is_precondition_failed(exc.__cause__ or exc):
                return ContentInfo(sha, len(data))
            raise
        return ContentInfo(sha, len(data), new_bytes=len(data))

    def _write_local(self, path: str) -> ContentInfo:
        hasher = hashlib.sha256()
        size = 0
        with open(path, "rb") as f:
            while chunk := f.read(HASH_CHUNK):
                hasher.update(chunk)
                size += len(chunk)
        sha = hasher.hexdigest()
        if self._stored_size(sha) == size:
            return ContentInfo(sha, size)
        with open(path, "rb") as f:
            first_size = self._first_part_size(size)
            if size < first_size:
                return self._write_small(f.read())
            try:
                self._uploader().run(self.key(sha), f, size_hint=size, expected_sha256=sha, if_none_match=True)
            except AlreadyStored:
                return ContentInfo(sha, size)
        return ContentInfo(sha, size, new_bytes=size)

    def _write_staged(self, stream: BinaryIO, size_hint: int | None) -> ContentInfo:
        staging = self.conn.key("staging", uuid.uuid4().hex)
        sha, size = self._uploader().run(staging, stream, size_hint=size_hint)
        try:
            if self._stored_size(sha) == size:
                return ContentInfo(sha, size)
            self._copy(staging, self.key(sha), size)
            return ContentInfo(sha, size, new_bytes=size)
        finally:
            try:
                self.conn.call("delete_object", Bucket=self.conn.bucket, Key=staging)
            except Exception as exc:  # leftover staging objects are garbage for gc
                log.info("could not delete staging object %s: %s", staging, exc)

    def _copy(self, source: str, target: str, size: int) -> None:
        conn = self.conn
        copy_source = {"Bucket": conn.bucket, "Key": source}
        if size <= MAX_COPY:
            conn.call("copy_object", Bucket=conn.bucket, Key=target, CopySource=copy_source, ChecksumAlgorithm="SHA256")
            return
        upload_id = conn.call("create_multipart_upload", Bucket=conn.bucket, Key=target, ChecksumAlgorithm="SHA256")[
            "UploadId"
        ]
        try:
            parts: list[dict[str, Any]] = []
            for number, start in enumerate(range(0, size, COPY_PART), start=1):
                end = min(size, start + COPY_PART) - 1
                response = conn.call(
                    "upload_part_copy",
                    Bucket=conn.bucket,
                    Key=target,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=copy_source,
                    CopySourceRange=f"bytes={start}-{end}",
                )
                result = response["CopyPartResult"]
                part = {"PartNumber": number, "ETag": result["ETag"]}
                if result.get("ChecksumSHA256"):
                    part["ChecksumSHA256"] = result["ChecksumSHA256"]
                parts.append(part)
            conn.call(
                "complete_multipart_upload",
                Bucket=conn.bucket,
                Key=target,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            conn.client.abort_multipart_upload(Bucket=conn.bucket, Key=target, UploadId=upload_id)
            raise

    def _uploader(self) -> MultipartUpload:
        return MultipartUpload(self.conn, concurrency=self.concurrency, min_part=self.min_part)

    # ------------------------------------------------------------------ read
    def _stored_size(self, sha256: str) -> int | None:
        key = self.key(sha256)

        def head() -> int | None:
            try:
                return int(self.conn.client.head_object(Bucket=self.conn.bucket, Key=key)["ContentLength"])
            except Exception as exc:
                if is_missing(exc):
                    return None
                raise

        return self.conn.retrying(head, what=f"head content {sha256}", retry_on=is_transient)

    def open(self, info: ContentInfo) -> BinaryIO:
        return open_ranged(self.conn, self.key(info.sha256), info.size)  # type: ignore[return-value]

    def contains(self, info: ContentInfo) -> bool:
        return self._stored_size(info.sha256) is not None

    def iter_ids(self) -> Iterator[tuple[str, int, float]]:
        prefix = self.conn.key("content") + "/"
        for item in iter_listing(self.conn, prefix):
            sha = str(item["Key"])[len(prefix) :].replace("/", "")
            if len(sha) == 64:
                yield sha, int(item["Size"]), item["LastModified"].timestamp()

    def delete(self, sha256s: Iterable[str]) -> None:
        delete_keys(self.conn, [self.key(sha) for sha in sha256s])


__all__ = ["S3ContentPort"]
