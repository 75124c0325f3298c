"""artifactstore-s3: versioned artifacts under a prefix of any S3-compatible bucket.

``artifactstore.open("artifactstore+s3://bucket/prefix")``; see :class:`S3Store`.
"""

from __future__ import annotations

from .store import DEFAULT_INLINE_THRESHOLD, S3Store

__all__ = ["DEFAULT_INLINE_THRESHOLD", "S3Store"]
