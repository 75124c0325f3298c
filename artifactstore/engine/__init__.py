"""The commit engine: git's object model (via dulwich) over three backend ports."""

from __future__ import annotations

from .pointer import encode_pointer, parse_pointer
from .ports import ContentInfo, ContentPort, ObjectPort, RefPort, StoredObject
from .store import DEFAULT_INLINE_THRESHOLD, EngineStore
from .streams import PrefixedReader, SeekableReader, read_at_most
from .tree import LEAF_MAX

__all__ = [
    "DEFAULT_INLINE_THRESHOLD",
    "LEAF_MAX",
    "ContentInfo",
    "ContentPort",
    "EngineStore",
    "ObjectPort",
    "PrefixedReader",
    "RefPort",
    "SeekableReader",
    "StoredObject",
    "encode_pointer",
    "parse_pointer",
    "read_at_most",
]
