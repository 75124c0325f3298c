"""One open store per store URI per process, shared by every repository MLflow builds.

MLflow constructs an artifact repository per run (direct mode) and the proxied server
keeps one; opening a store is not free (a git repository is read, an S3 client built, the
xet CAS opened), and the xet backend admits one opener per process. Stores are therefore
cached by *store* identity (backend, location, branch, options), not by the full artifact
URI, so ``.../1/<run-a>/artifacts`` and ``.../1/<run-b>/artifacts`` share one store.

A forked child (gunicorn with ``--preload``, multiprocessing) never inherits the parent's
stores: their file handles and locks belong to the parent.
"""

from __future__ import annotations

import logging
import os
import threading

from ..store import ArtifactStore
from ..uri import open_with_path, parse_uri

log = logging.getLogger(__name__)

_Key = tuple[str, str, "str | None", tuple[tuple[str, str], ...]]
_stores: dict[_Key, ArtifactStore] = {}
_lock = threading.Lock()


def open_cached(uri: str) -> tuple[ArtifactStore, str]:
    """Return ``(store, path inside the store)`` for ``uri``, opening the store at most once.

    Thread-safe: concurrent first calls for one store open it once. Raises what
    :func:`artifactstore.parse_uri` and the backend's ``from_location`` raise.
    """
    parsed = parse_uri(uri)
    key: _Key = parsed.store_identity
    store = _stores.get(key)
    if store is None:
        with _lock:
            store = _stores.get(key)
            if store is None:
                store, _ = open_with_path(uri)
                _stores[key] = store
                log.debug("opened %r for MLflow artifact URI %r", store, uri)
    return store, parsed.path


def clear_store_cache(*, close: bool = True) -> None:
    """Forget (and by default close) every cached store."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
    if close:
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


__all__ = ["clear_store_cache", "open_cached"]
