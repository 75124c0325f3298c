"""One open store per store identity per process, shared by MLflow's repositories and the fsspec filesystems.

MLflow constructs an artifact repository per run (direct mode) and the proxied server
keeps one; fsspec resolves every path it is given. Opening a store is not free (a git
repository is read, an S3 client built, the xet CAS opened), and the xet backend admits
one opener per process. Stores are therefore cached by *store* identity
(:attr:`~artifactstore.uri.StoreURI.store_identity`: backend, location, revision, options),
not by the full URI, so ``.../1/<run-a>/artifacts``, ``.../1/<run-b>/artifacts`` and an
fsspec path into the same store share one store.

A forked child (gunicorn with ``--preload``, multiprocessing) never inherits the parent's
stores: their file handles and locks belong to the parent. :func:`clear` closes every
cached store; whoever still holds one (a repository, a file being written) fails on its
next use, so it is for shutdown and tests.
"""

from __future__ import annotations

import logging
import os
import threading

from .store import ArtifactStore
from .uri import StoreURI, locate, open_located, parse_uri

log = logging.getLogger(__name__)

_stores: dict[tuple[object, ...], ArtifactStore] = {}
_lock = threading.Lock()


def open_cached(uri: str) -> tuple[ArtifactStore, StoreURI]:
    """Return ``(store, located URI)`` for ``uri``, opening the store at most once per process.

    ``.path`` of the located URI is the path inside the store ``uri`` points at. Raises what
    :func:`~artifactstore.uri.parse_uri`, :func:`~artifactstore.uri.locate` and the
    backend's ``from_location`` raise.
    """
    located = locate(parse_uri(uri))
    return cached_store(located), located


def cached_store(located: StoreURI) -> ArtifactStore:
    """The open store of a located URI (:func:`~artifactstore.uri.locate`), opened at most once per process.

    Thread-safe: concurrent first calls for one store open it once.
    """
    key = located.store_identity
    store = _stores.get(key)
    if store is None:
        with _lock:
            store = _stores.get(key)
            if store is None:
                store = open_located(located)
                _stores[key] = store
                log.debug("opened %r for %s store location %r", store, located.backend, located.location)
    return store


def clear() -> None:
    """Forget and close every cached store."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        try:
            store.close()
        except Exception:  # one failing close must not keep the others open
            log.warning("closing %r failed", store, exc_info=True)


def _forget_after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    _stores.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


__all__ = ["cached_store", "clear", "open_cached"]
