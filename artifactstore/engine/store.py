""":class:`EngineStore`: every :class:`~artifactstore.ArtifactStore` method, written once, on three ports.

The methods stand in modules named for what they do: :mod:`.reads` (revisions, files,
history, diff), :mod:`.writes` (the commit path), :mod:`.branches` (branches, tags, merge)
and :mod:`.maintenance` (gc, fsck, stats).
"""

from __future__ import annotations

import threading

from ..errors import InvalidInput
from ..store import DEFAULT_BRANCH
from ..validation import validate_ref_name
from ..values import FsckReport, GCReport, StoreStats
from . import maintenance
from .branches import EngineBranches
from .objects import ObjectReader
from .ports import ContentPort, ObjectPort, RefPort

DEFAULT_INLINE_THRESHOLD = 1024 * 1024


class EngineStore(EngineBranches):
    """The commit engine: git's object model over an object, a ref and a content port.

    Subclasses (one per backend) build the ports and implement ``from_location`` and
    ``uri``. ``inline_threshold`` is the largest file kept as an ordinary git blob; larger
    files go to the content port and the tree holds a Git LFS pointer to them. A subclass
    may refuse writes to a branch before anything is stored by overriding
    ``_check_branch_writable(branch)`` (git: a branch checked out in a working tree).
    """

    def __init__(
        self,
        *,
        objects: ObjectPort,
        refs: RefPort,
        content: ContentPort,
        default_branch: str | None = None,
        inline_threshold: int = DEFAULT_INLINE_THRESHOLD,
    ) -> None:
        self.default_branch = validate_ref_name(default_branch or DEFAULT_BRANCH)
        if inline_threshold < 0:
            raise InvalidInput(f"inline_threshold must be >= 0, got {inline_threshold}")
        self.objects = objects
        self.refs = refs
        self.content = content
        self.inline_threshold = inline_threshold
        self.reader = ObjectReader(objects)
        self._sha256_cache = {}
        self._cache_lock = threading.Lock()
        self._queues = {}
        self._queues_guard = threading.Lock()
        self._writes = threading.local()

    def gc(self, *, dry_run: bool = False, grace_seconds: float = 3600.0) -> GCReport:
        if getattr(self._writes, "depth", 0):
            raise RuntimeError("gc cannot run inside a write of the same store: it waits for every write to finish")
        return maintenance.gc(self, dry_run=dry_run, grace_seconds=grace_seconds)

    def fsck(self) -> FsckReport:
        return maintenance.fsck(self)

    def stats(self, rev: str | None = None) -> StoreStats:
        return maintenance.stats(self, rev)


__all__ = ["DEFAULT_INLINE_THRESHOLD", "EngineStore"]
