"""A local, content-addressed cache of immutable git objects.

Listing a directory or walking history reads many small objects; each is a round trip to
S3 without this cache. Entries are keyed by the object's SHA-1 and verified before they are
stored, so an entry can never be stale or wrong, and one cache serves every store and
bucket. Only reads use it: whether an object exists *in the bucket* is always asked of S3
(gc may have removed it there).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

_TYPE_NAMES = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "artifactstore" / "s3" / "objects"


def object_id(type_num: int, data: bytes) -> bytes:
    header = _TYPE_NAMES[type_num] + b" " + str(len(data)).encode() + b"\0"
    return hashlib.sha1(header + data).hexdigest().encode()


class ObjectCache:
    """Files ``<dir>/<id[:2]>/<id[2:]>`` holding ``<type digit><raw data>``."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory else default_cache_dir()

    def _path(self, oid: bytes) -> Path:
        text = oid.decode("ascii")
        return self.directory / text[:2] / text[2:]

    def get(self, oid: bytes) -> tuple[int, bytes] | None:
        try:
            raw = self._path(oid).read_bytes()
        except OSError:
            return None
        if not raw:
            return None
        return raw[0] - 48, raw[1:]

    def put(self, oid: bytes, type_num: int, data: bytes) -> None:
        if type_num not in _TYPE_NAMES or object_id(type_num, data) != oid:
            return  # never cache bytes that do not hash to their id
        path = self._path(oid)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(bytes([48 + type_num]) + data)
            os.replace(tmp, path)
        except OSError as exc:  # a cache that cannot be written only costs speed
            log.debug("object cache write failed for %s: %s", oid.decode(), exc)

    def discard(self, oid: bytes) -> None:
        with contextlib.suppress(OSError):
            self._path(oid).unlink()


__all__ = ["ObjectCache", "default_cache_dir", "object_id"]
