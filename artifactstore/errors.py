"""Every error artifactstore raises.

Each class also subclasses the builtin a caller would naturally catch, so code that
handles ``FileNotFoundError`` or ``ValueError`` keeps working without importing us:
``NotFound`` is a ``FileNotFoundError``, ``InvalidPath`` a ``ValueError`` and so on.
Messages are one sentence that names the offending input, with the fix when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence


class ArtifactStoreError(Exception):
    """Base class of every error raised by artifactstore and its backends."""


class InvalidInput(ArtifactStoreError, ValueError):
    """An argument was rejected before anything was written."""


class InvalidPath(InvalidInput):
    """An artifact path is not a canonical, portable, relative path."""


class InvalidRefName(InvalidInput):
    """A branch or tag name breaks git's ref-name rules (or ours on top)."""


class InvalidRevision(InvalidInput):
    """A revision string is malformed (it looks like an option, has bad characters...)."""


class InvalidURI(InvalidInput):
    """A store URI cannot be parsed."""


class ConfigError(InvalidInput):
    """The named-store configuration file is missing an entry or is malformed."""


class NotFound(ArtifactStoreError, FileNotFoundError):
    """A path, revision, branch, tag or store does not exist."""


class RevisionNotFound(NotFound):
    """A revision names no branch, tag or commit of this store."""


class AlreadyExists(ArtifactStoreError, FileExistsError):
    """A branch, tag or store that was to be created exists already."""


class IsADirectory(ArtifactStoreError, IsADirectoryError):
    """A file operation was asked of a directory."""


class NotADirectory(ArtifactStoreError, NotADirectoryError):
    """A directory operation was asked of a file, or a file stands where a directory must."""


class Conflict(ArtifactStoreError):
    """A commit or merge collides with changes made concurrently or on the other side.

    ``paths`` names the colliding artifact paths (may be empty when the conflict is
    about a branch head, see :class:`HeadMoved`).
    """

    def __init__(self, message: str, paths: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.paths: tuple[str, ...] = tuple(paths)


class HeadMoved(Conflict):
    """``expect_head`` was given and the branch no longer points there."""


class IntegrityError(ArtifactStoreError, OSError):
    """Stored bytes do not hash to the id that addresses them (corruption or tampering)."""


class WriteRefused(ArtifactStoreError, PermissionError):
    """The store refuses to write, e.g. to a branch checked out in a working tree."""


class AccessDenied(ArtifactStoreError, PermissionError):
    """A remote service (a Xet CAS, the Hugging Face Hub) refused the credentials it was given.

    The message names the service and what was being done, never the token.
    """


class LockTimeout(ArtifactStoreError, TimeoutError):
    """A cross-process lock could not be taken in time."""


class WouldWait(ArtifactStoreError):
    """A write asked not to wait (:meth:`~artifactstore.protocols.SupportsQuickCommits.commit_without_waiting`)
    would have had to; nothing was written, and the same write may be made again where waiting is fine."""


class UnknownBackend(ArtifactStoreError, ValueError):
    """A URI names a backend that is neither installed nor known."""


class BackendUnavailable(ArtifactStoreError, ImportError):
    """A known backend cannot load because its distribution or a dependency is missing."""


__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "ArtifactStoreError",
    "BackendUnavailable",
    "ConfigError",
    "Conflict",
    "HeadMoved",
    "IntegrityError",
    "InvalidInput",
    "InvalidPath",
    "InvalidRefName",
    "InvalidRevision",
    "InvalidURI",
    "IsADirectory",
    "LockTimeout",
    "NotADirectory",
    "NotFound",
    "RevisionNotFound",
    "UnknownBackend",
    "WouldWait",
    "WriteRefused",
]
