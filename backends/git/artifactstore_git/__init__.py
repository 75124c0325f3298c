"""artifactstore-git: the artifact store as an ordinary git repository on local disk.

``artifactstore.open("artifactstore+git:///srv/artifacts")``; see :class:`GitStore`.
"""

from __future__ import annotations

from .store import DEFAULT_INLINE_THRESHOLD, GitStore

__all__ = ["DEFAULT_INLINE_THRESHOLD", "GitStore"]
