"""pluggy hook specifications. A backend distribution implements them in a module it
lists under the ``artifactstore`` entry-point group::

    # pyproject.toml of artifactstore-git
    [project.entry-points.artifactstore]
    git = "artifactstore_git.plugin"

    # artifactstore_git/plugin.py
    from artifactstore import hookimpl

    @hookimpl
    def artifactstore_register_backends(register):
        from .store import GitStore
        register(GitStore)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .conformance_target import ConformanceTarget
    from .store import ArtifactStore

PROJECT = "artifactstore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Hookspecs:
    @hookspec
    def artifactstore_register_backends(self, register: Callable[[type[ArtifactStore]], None]) -> None:
        """Call ``register(StoreClass)`` for every backend this plugin provides.

        The class's ``name`` attribute is the backend name (``artifactstore+<name>://``).
        Import heavy dependencies lazily, inside the store, so that listing backends stays fast.
        """

    @hookspec
    def artifactstore_conformance_targets(self, register: Callable[[str, ConformanceTarget], None]) -> None:
        """Call ``register(backend_name, target)`` to let ``artifactstore conformance`` test a backend.

        The target creates fresh stores, starts any server they need (the s3 backend starts
        a local S3-protocol server) and knows how to corrupt stored bytes for integrity tests.
        """


__all__ = ["PROJECT", "Hookspecs", "hookimpl", "hookspec"]
