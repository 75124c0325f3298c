""":class:`XetStore`: history in a git repository, file bytes in a Xet CAS."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from artifactstore_git.objects import LOOSE_COMPRESSION
from artifactstore_git.repo import (
    RepoLayout,
    split_repository_path,
)
from artifactstore_git.store import RepositoryStore, parse_option

from artifactstore.engine import as_bool
from artifactstore.errors import InvalidInput, InvalidURI

from .content import COMPRESSION_POLICIES, DEFAULT_LOCK_TIMEOUT, ProgressCallback, SpoolStreams, XetContentPort, check_compression
from .endpoint import XetEndpoint

log = logging.getLogger(__name__)

#: Files larger than this go to the Xet CAS. Below it a git blob is cheaper than a CAS
#: upload (each upload writes at least one xorb and one shard file).
DEFAULT_INLINE_THRESHOLD = 1024 * 1024
#: Sub-directory of the git directory that holds the Xet CAS, its lock and the content index.
XET_DIR = "xet"
OPTIONS = {
    "inline_threshold": "files larger than this many bytes go to the Xet CAS (default 1048576)",
    "fsync": "make git objects, refs and Xet CAS files durable before a commit returns (default true)",
    "lock_timeout": "seconds to wait for a git ref lock held by a live process (default 30)",
    "stale_lock_seconds": "age after which a ref lock whose owner cannot be checked is removed (default 120)",
    "cas_lock_timeout": "seconds to wait for another process's turn at the local Xet CAS (default 600)",
    "spool_streams": (
        "true: copy streams to a temporary file before taking the CAS lock; false: stream straight in; "
        "auto (default): stream straight into a free CAS when the client sends fast, spool otherwise"
    ),
    "loose_compression": "zlib level 0-9 of new loose git objects (default 0: stored; git gc compresses them)",
    "compression": (
        "how hf-xet compresses new xorbs: none, auto, lz4 or bg4-lz4 (default: none for a local CAS, "
        "hf-xet's default, auto, for a remote one)"
    ),
    "endpoint": "remote Xet CAS URL (default: the CAS embedded in the store); also $ARTIFACTSTORE_XET_ENDPOINT",
    "token": "access token for a remote CAS; also $ARTIFACTSTORE_XET_TOKEN",
    "token_expiry": "expiry of 'token' in Unix seconds; also $ARTIFACTSTORE_XET_TOKEN_EXPIRY",
    "token_refresh_url": "URL returning fresh CAS tokens; also $ARTIFACTSTORE_XET_TOKEN_REFRESH_URL",
    "token_refresh_headers": "HTTP headers sent to token_refresh_url",
}
_ENDPOINT_OPTIONS = ("endpoint", "token", "token_expiry", "token_refresh_url", "token_refresh_headers")


class XetStore(RepositoryStore):
    """A git repository for history plus a Xet content-addressed store for file bytes.

    How it differs from other backends:

    * Deduplication is chunk-level (``chunk_dedup``): a new version of a checkpoint in which
      10% of the blocks changed stores about 10% new bytes; each commit records hf-xet's
      new-byte count, and :meth:`stats` measures the CAS on disk.
    * The git side is the git backend's (loose objects, lock-file refs): ``git log`` works
      on the store directory; tree entries for large files are Git LFS pointers carrying an
      extra ``xet-hash`` line.
    * The embedded CAS (``<store>/xet/cas``, hf-xet's ``local://`` store) admits one process
      at a time; transfers take turns through a lock file, held per transfer (and per read
      window), so several processes (MLflow's workers) can share one store.
    * New xorbs in a local CAS are not compressed (``compression="none"``): on float weights
      hf-xet's ``auto`` saves little space for much more upload CPU. A remote CAS keeps
      hf-xet's default; the ``compression`` option sets it.
    * A remote CAS is chosen by the ``endpoint`` / ``token`` options or environment
      variables (see :mod:`artifactstore_xet.endpoint`), never by the URI.
    * ``gc`` rebuilds the embedded CAS from the files still referenced (a chunk CAS cannot
      delete single files), which costs a copy of all live content; with a remote CAS it only
      forgets index entries.
    """

    name = "xet"
    chunk_dedup = True

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
        cas_lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        spool_streams: SpoolStreams = "auto",
        compression: str | None = None,
        loose_compression: int = LOOSE_COMPRESSION,
        endpoint: XetEndpoint | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        check_compression(compression, where=os.fspath(path))  # before anything is created

        def content(layout: RepoLayout) -> XetContentPort:
            xet_dir = layout.commondir / XET_DIR
            xet_dir.mkdir(exist_ok=True)
            return XetContentPort(
                xet_dir,
                endpoint,
                lock_timeout=cas_lock_timeout,
                spool_streams=spool_streams,
                compression=compression,
                fsync=fsync,
                progress=progress,
            )

        super().__init__(
            path,
            branch=branch,
            create=create,
            inline_threshold=inline_threshold,
            fsync=fsync,
            lock_timeout=lock_timeout,
            stale_lock_seconds=stale_lock_seconds,
            loose_compression=loose_compression,
            content=content,
        )
        assert isinstance(self.content, XetContentPort)
        self.content_port: XetContentPort = self.content

    # ------------------------------------------------------------------ plugin side
    @classmethod
    def split_root(cls, netloc: str, path: str) -> tuple[str, str]:
        """Walk up ``path`` to the nearest existing store; the rest is the path inside it."""
        if netloc not in ("", "localhost"):
            raise InvalidURI(
                f"xet stores keep their history on local disk: host {netloc!r} in the URI is not supported; "
                "write artifactstore+xet:///absolute/path (a remote CAS is set with the 'endpoint' option)"
            )
        if not path.strip("/"):
            return path, ""
        store, inside = split_repository_path(path)
        return str(store), str(inside)

    @classmethod
    def from_location(
        cls, location: str, *, branch: str | None = None, create: bool = False, options: Mapping[str, Any] | None = None
    ) -> XetStore:
        """Open the store at ``location``; see :data:`OPTIONS` for the options."""
        if "?" in location:
            raise InvalidURI(
                f"xet store location {location!r} contains '?': URIs take no query string, and CAS endpoints "
                "and tokens never go in a URI; pass them as options or $ARTIFACTSTORE_XET_* variables"
            )
        opts = dict(options or {})
        unknown = sorted(set(opts) - set(OPTIONS))
        if unknown:
            raise InvalidInput(
                f"unknown option(s) {', '.join(unknown)} for xet store {location!r}; known: {', '.join(sorted(OPTIONS))}"
            )
        endpoint = XetEndpoint.from_options({k: opts.pop(k) for k in _ENDPOINT_OPTIONS if k in opts})
        kwargs = _parse_options(location, opts)
        return cls(location, branch=branch, create=create, endpoint=endpoint, **kwargs)

    @property
    def progress(self) -> ProgressCallback | None:
        """Called as ``progress(direction, bytes_done, bytes_total)`` during CAS transfers."""
        return self.content_port.progress

    @progress.setter
    def progress(self, callback: ProgressCallback | None) -> None:
        self.content_port.progress = callback


def _parse_options(location: str, options: Mapping[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        try:
            if key == "spool_streams":
                auto = isinstance(value, str) and value.strip().lower() == "auto"
                kwargs[key] = "auto" if auto else as_bool(value)
            elif key == "compression":
                if not isinstance(value, str) or value.strip().lower() not in COMPRESSION_POLICIES:
                    raise ValueError(value)
                kwargs[key] = value.strip().lower()
            else:
                kwargs[key] = parse_option(key, value)  # the git store's options, and cas_lock_timeout (seconds)
        except (TypeError, ValueError):
            raise InvalidInput(f"option {key}={value!r} for xet store {location!r} is invalid: {OPTIONS[key]}") from None
    return kwargs


__all__ = ["DEFAULT_INLINE_THRESHOLD", "OPTIONS", "XetStore"]
