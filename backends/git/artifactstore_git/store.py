""":class:`GitStore`: the store is an ordinary git repository on local disk."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from artifactstore.engine import ContentPort, EngineStore, LocalFiles, QuickCommits, as_bool, as_int, validate_ref_name
from artifactstore.errors import InvalidInput, InvalidURI, NotFound

from .durability import SYNCFS_AVAILABLE
from .lfs import LfsContentPort
from .objects import LOOSE_COMPRESSION, LooseObjectPort
from .refs import GitRefPort
from .repo import (
    RepoLayout,
    create_bare_repository,
    find_repository,
    head_target,
    refuse_checked_out,
    split_repository_path,
)

if TYPE_CHECKING:
    from typing_extensions import Self

log = logging.getLogger(__name__)

HEADS = "refs/heads/"
#: Files larger than this go to the LFS directory; below it an inline blob commits faster
#: (``benchmarks/git_bench.py``, section "inline blob vs LFS").
DEFAULT_INLINE_THRESHOLD = 512 * 1024
OPTIONS = {
    "inline_threshold": "files larger than this many bytes are stored in lfs/objects (default 524288)",
    "fsync": "fsync objects, LFS files and refs before a commit returns (default true)",
    "lock_timeout": "seconds to wait for a ref lock held by a live process (default 30)",
    "stale_lock_seconds": "age after which a lock whose owner cannot be checked is removed (default 120)",
    "loose_compression": "zlib level 0-9 of new loose objects (default 0: stored; git gc compresses them)",
}


class RepositoryStore(QuickCommits, EngineStore):
    """An engine store whose history is a local git repository: the base of git's and xet's stores.

    Objects are loose git objects, refs are git's lock-file refs (``cross_process``), and
    file content goes to the content port that ``content`` builds from the repository
    layout (default: the Git LFS layout). Subclasses set ``name``.
    """

    persistent = True
    cross_process = True
    chunk_dedup = False
    bounded_memory = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        branch: str | None = None,
        create: bool = False,
        inline_threshold: int = DEFAULT_INLINE_THRESHOLD,
        fsync: bool = True,
        lock_timeout: float = 30.0,
        stale_lock_seconds: float = 120.0,
        loose_compression: int = LOOSE_COMPRESSION,
        content: Callable[[RepoLayout], ContentPort] | None = None,
    ) -> None:
        """``content`` builds the content port from the repository layout; the default keeps
        large files in the Git LFS layout. Backends that keep history here but content
        elsewhere (xet) pass their own."""
        root = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
        if branch is not None:
            validate_ref_name(branch, what="branch")
        layout = find_repository(root)
        if layout is None:
            if not create:
                raise NotFound(
                    f"no {self.name} store at {str(root)!r} (no git repository there); "
                    f"create one with: artifactstore init artifactstore+{self.name}://{root}"
                )
            layout = create_bare_repository(root, branch or "main")
        self.layout: RepoLayout = layout
        self._explicit_branch = branch
        default = branch or _branch_of(head_target(layout.gitdir)) or "main"
        # Objects become durable with the ref that names them (one syncfs per commit): both
        # ports must agree, so the choice is made once, here.
        deferred = fsync and SYNCFS_AVAILABLE
        self.object_port = LooseObjectPort(
            layout.commondir, fsync=fsync, durable_at_ref_swap=deferred, compression=loose_compression
        )
        self.ref_port = GitRefPort(
            layout.commondir,
            lock_timeout=lock_timeout,
            stale_lock_seconds=stale_lock_seconds,
            fsync=fsync,
            sync_filesystem=deferred,
            guard=self._refuse_checked_out,
        )
        super().__init__(
            objects=self.object_port,
            refs=self.ref_port,
            content=content(layout) if content else LfsContentPort(layout.commondir, fsync=fsync),
            default_branch=default,
            inline_threshold=inline_threshold,
        )

    def commits_quickly(self, data: bytes) -> bool:
        # Blobs and refs are written here; a content port may make a large file wait for
        # another process's turn (xet's local CAS). A ref lock file that is there already may
        # be git's, held for longer than our ref swaps, or left by a git that died: waiting
        # for it (up to lock_timeout) must not stop an event loop.
        if self.ref_port.lock_file_present(HEADS + self.default_branch):
            return False
        return self.kept_inline(data)

    # ------------------------------------------------------------------ plugin side
    @classmethod
    def split_root(cls, netloc: str, path: str) -> tuple[str, str]:
        """Walk up ``path`` to the nearest existing repository; the rest is the path inside it.

        ``artifactstore+git:///srv/a/1/run/artifacts`` with a repository at ``/srv/a`` gives
        ``("/srv/a", "1/run/artifacts")``. A relative path (``artifactstore+git:rel/dir``) is
        relative to the current directory.
        """
        if netloc not in ("", "localhost"):
            raise InvalidURI(
                f"git stores are local: host {netloc!r} in the URI is not supported; write "
                f"artifactstore+git:///absolute/path or artifactstore+git:relative/path"
            )
        if not path.strip("/"):
            return path, ""
        return split_repository_path(path)

    @classmethod
    def from_location(
        cls, location: str, *, branch: str | None = None, create: bool = False, options: Mapping[str, Any] | None = None
    ) -> Self:
        """Open the repository at ``location`` (with ``create``, make a bare one if missing).

        Options: ``inline_threshold``, ``fsync``, ``lock_timeout``, ``stale_lock_seconds``,
        ``loose_compression``.
        """
        kwargs = _parse_options(location, options or {})
        return cls(location, branch=branch, create=create, **kwargs)

    @property
    def uri(self) -> str:
        suffix = f"@{self._explicit_branch.replace('/', '%2F')}" if self._explicit_branch else ""
        return f"artifactstore+{self.name}://{self.layout.root}{suffix}"

    @property
    def gitdir(self) -> Path:
        """The directory holding objects, refs and ``lfs/`` (``.git`` of a working tree)."""
        return self.layout.commondir

    # ------------------------------------------------------------------ checked-out branches
    def _refuse_checked_out(self, ref: str) -> None:
        refuse_checked_out(self.layout, ref)

    def _check_branch_writable(self, branch: str) -> None:
        # Refuse before any content is stored (the ref port refuses again at the swap).
        refuse_checked_out(self.layout, HEADS + branch)

    def close(self) -> None:
        self.object_port.close()



class GitStore(LocalFiles, RepositoryStore):
    """A store in a local git repository, inspectable with ``git log`` / ``git show``.

    How it differs from other backends:

    * Small files are ordinary blobs; files above ``inline_threshold`` live in the Git LFS
      object directory (``<gitdir>/lfs/objects/aa/bb/<sha256>``) with LFS pointer blobs in
      the tree, so ``git show main:<path>`` prints small files and a pointer for large ones.
    * Refs are updated under git's lock-file protocol, so artifactstore processes and git
      itself exclude each other; a lock left by a killed process is detected and removed
      with a warning naming its owner pid (``cross_process``).
    * In a non-bare repository, writing to a branch checked out in a working tree raises
      :class:`~artifactstore.errors.WriteRefused`: the tree's files and index would go stale.
    * A file above ``inline_threshold`` is one ordinary file, its LFS object, which
      :meth:`local_path` names (:class:`~artifactstore.protocols.SupportsLocalFiles`).
    * ``gc`` removes loose objects and LFS files; unreachable objects inside pack files
      (made by ``git gc``) are left for ``git gc --prune=now``.
    * New loose objects are stored uncompressed (``loose_compression=0``; git's default is
      1): zlib's setup cost per object was a quarter of a small commit's CPU time. ``git gc``
      packs them compressed and delta-encoded.
    """

    name = "git"

    def commits_quickly(self, data: bytes) -> bool:
        # Git LFS files are written here too, waiting on no one.
        return not self.ref_port.lock_file_present(HEADS + self.default_branch)


def _branch_of(ref: str | None) -> str | None:
    if ref and ref.startswith(HEADS):
        return ref[len(HEADS) :]
    return None


def _parse_options(location: str, options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise InvalidInput(
            f"unknown option(s) {', '.join(unknown)} for git store {location!r}; known: {', '.join(sorted(OPTIONS))}"
        )
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        try:
            kwargs[key] = parse_option(key, value)
        except (TypeError, ValueError):
            raise InvalidInput(f"option {key}={value!r} for git store {location!r} is invalid: {OPTIONS[key]}") from None
    return kwargs


def parse_option(key: str, value: Any) -> Any:
    """The value of one git store option (the xet store's git-side options too).

    ``inline_threshold`` and ``loose_compression`` are integers, ``fsync`` a boolean, any other
    key a positive number of seconds. Raises ``ValueError`` or ``TypeError`` when ``value`` is bad.
    """
    if key == "inline_threshold":
        threshold = as_int(value)
        if threshold < 0:
            raise ValueError("negative")
        return threshold
    if key == "fsync":
        return as_bool(value)
    if key == "loose_compression":
        level = as_int(value)
        if not 0 <= level <= 9:
            raise ValueError("not a zlib level")
        return level
    seconds = float(value)
    if seconds <= 0:
        raise ValueError("not positive")
    return seconds


__all__ = ["DEFAULT_INLINE_THRESHOLD", "GitStore", "RepositoryStore", "parse_option"]
