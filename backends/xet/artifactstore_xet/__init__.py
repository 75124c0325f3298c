"""artifactstore-xet: history in a git repository, file bytes in a Xet CAS (hf-xet).

``artifactstore.open("artifactstore+xet:///srv/artifacts", create=True)``; see :class:`XetStore`.
"""

from __future__ import annotations

from .content import XET_HASH_KEY, XetContentPort
from .endpoint import XetEndpoint
from .store import DEFAULT_INLINE_THRESHOLD, XetStore

__all__ = ["DEFAULT_INLINE_THRESHOLD", "XET_HASH_KEY", "XetContentPort", "XetEndpoint", "XetStore"]
