"""artifactstore: a versioned artifact store for machine-learning teams.

Every write is a commit, branches hold experiments, any file or tree can be read back at
any revision, and one interface runs on several backends (memory, git, s3, xet)::

    import artifactstore

    store = artifactstore.open("artifactstore+memory://demo")
    store.put_bytes("metrics.json", b'{"mae": 0.3}', message="first run")
    store.create_branch("exp-1")
    store.put_bytes("metrics.json", b'{"mae": 0.2}', branch="exp-1")
    store.read_bytes("metrics.json", rev="main")      # b'{"mae": 0.3}'
    store.diff("main", "exp-1")                        # [Change('modified', 'metrics.json', ...)]
"""

from __future__ import annotations

from . import errors
from .conformance_target import ConformanceTarget
from .errors import (
    AlreadyExists,
    ArtifactStoreError,
    Conflict,
    HeadMoved,
    IntegrityError,
    InvalidInput,
    InvalidPath,
    InvalidRefName,
    InvalidRevision,
    NotFound,
)
from .hookspecs import hookimpl
from .registry import get_registry
from .store import DEFAULT_BRANCH, ArtifactStore
from .uri import StoreURI, locate, open, open_with_path, parse_uri  # noqa: A004
from .values import Change, Commit, Delete, Entry, FsckReport, GCReport, Operation, Put, StoreStats

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The engine and memory backend import dulwich; keep "import artifactstore" light.
    if name == "MemoryStore":
        from .backends.memory import MemoryStore

        return MemoryStore
    if name == "EngineStore":
        from .engine import EngineStore

        return EngineStore
    raise AttributeError(f"module 'artifactstore' has no attribute {name!r}")


__all__ = [
    "DEFAULT_BRANCH",
    "AlreadyExists",
    "ArtifactStore",
    "ArtifactStoreError",
    "Change",
    "Commit",
    "ConformanceTarget",
    "Conflict",
    "Delete",
    "EngineStore",
    "Entry",
    "FsckReport",
    "GCReport",
    "HeadMoved",
    "IntegrityError",
    "InvalidInput",
    "InvalidPath",
    "InvalidRefName",
    "InvalidRevision",
    "MemoryStore",
    "NotFound",
    "Operation",
    "Put",
    "StoreStats",
    "StoreURI",
    "errors",
    "get_registry",
    "hookimpl",
    "locate",
    "open",
    "open_with_path",
    "parse_uri",
]
