"""Pointer blobs: how a tree refers to content kept in a backend's content store.

The format is the Git LFS pointer (spec v1), so ``git lfs`` understands a git backend's
repository as it is::

    version https://git-lfs.github.com/spec/v1
    oid sha256:4d7a2146...
    size 12345

Backends may add keys (xet adds its file hash); the spec requires them sorted after
``version``. Any blob that parses as a pointer *is* a pointer: a user file whose bytes happen
to look like one is therefore kept in the content store, never inline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .ports import ContentInfo

VERSION_LINE = b"version https://git-lfs.github.com/spec/v1\n"
MAX_POINTER_SIZE = 1024
_KEY = re.compile(rb"[a-z0-9.-]+")
_OID = re.compile(rb"sha256:([0-9a-f]{64})")


def encode_pointer(info: ContentInfo) -> bytes:
    fields: dict[str, str] = {"oid": f"sha256:{info.sha256}", "size": str(info.size)}
    for key, value in info.extra.items():
        if key in ("version", "oid", "size") or not _KEY.fullmatch(key.encode()) or "\n" in value:
            raise ValueError(f"invalid pointer key {key!r}")
        fields[key] = value
    body = "".join(f"{key} {fields[key]}\n" for key in sorted(fields))
    return VERSION_LINE + body.encode("utf-8")


def parse_pointer(data: bytes) -> ContentInfo | None:
    """Return the :class:`ContentInfo` a pointer blob describes, or ``None`` if ``data`` is no pointer."""
    if len(data) > MAX_POINTER_SIZE or not data.startswith(VERSION_LINE) or not data.endswith(b"\n"):
        return None
    fields: dict[bytes, bytes] = {}
    for line in data[len(VERSION_LINE) : -1].split(b"\n"):
        key, sep, value = line.partition(b" ")
        if not sep or not _KEY.fullmatch(key) or key in fields:
            return None
        fields[key] = value
    oid = _OID.fullmatch(fields.pop(b"oid", b""))
    size = fields.pop(b"size", b"")
    if not oid or not size.isdigit():
        return None
    try:
        extra: Mapping[str, str] = {k.decode(): v.decode("utf-8") for k, v in fields.items()}
    except UnicodeDecodeError:
        return None
    return ContentInfo(sha256=oid.group(1).decode(), size=int(size), extra=extra)


__all__ = ["MAX_POINTER_SIZE", "VERSION_LINE", "encode_pointer", "parse_pointer"]
