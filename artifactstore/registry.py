"""The plugin registry: a typed facade over pluggy's plugin manager.

Backends are found through the ``artifactstore`` entry-point group. Set
``ARTIFACTSTORE_PLUGINS`` to a comma-separated list of entry-point names to load only those
(our test-suite does, so plugins installed on the machine never leak into a run); an empty
value loads none but the built-in memory backend.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from importlib.metadata import entry_points

import pluggy

from .conformance_target import ConformanceTarget
from .errors import BackendUnavailable, UnknownBackend
from .hookspecs import PROJECT, Hookspecs
from .store import ArtifactStore

log = logging.getLogger(__name__)

#: Plugins that ship inside the core distribution.
BUILTIN_PLUGINS = ("artifactstore.backends.memory",)
#: Backends we know of, with the distribution that provides each, for install hints.
KNOWN_BACKENDS = {
    "git": "artifactstore-git",
    "s3": "artifactstore-s3",
    "xet": "artifactstore-xet",
}
ENV_PLUGINS = "ARTIFACTSTORE_PLUGINS"


class Registry:
    """Loads plugins once and answers which backends exist."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(PROJECT)
        self._pm.add_hookspecs(Hookspecs)
        self._backends: dict[str, type[ArtifactStore]] = {}
        self._targets: dict[str, ConformanceTarget] = {}
        self._failed: dict[str, BaseException] = {}
        self._loaded = False
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            for module_name in BUILTIN_PLUGINS:
                self._pm.register(importlib.import_module(module_name), name=module_name)
            wanted = os.environ.get(ENV_PLUGINS)
            allowed = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()}
            for ep in entry_points(group=PROJECT):
                if allowed is not None and ep.name not in allowed:
                    continue
                if self._pm.has_plugin(ep.name):
                    continue
                try:
                    plugin = ep.load()
                except ImportError as exc:
                    # Kept, and raised when the backend is asked for: listing must still work.
                    log.debug("cannot load artifactstore plugin %s: %s", ep.name, exc)
                    self._failed[ep.name] = exc
                    continue
                self._pm.register(plugin, name=ep.name)
            self._pm.check_pending()
            self._pm.hook.artifactstore_register_backends(register=self._register_backend)
            self._pm.hook.artifactstore_conformance_targets(register=self._register_target)
            self._loaded = True

    def _register_backend(self, cls: type[ArtifactStore]) -> None:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"backend class {cls!r} has no 'name' attribute")
        if name in self._backends and self._backends[name] is not cls:
            raise ValueError(f"two plugins register a backend named {name!r}: {self._backends[name]!r} and {cls!r}")
        self._backends[name] = cls

    def _register_target(self, name: str, target: ConformanceTarget) -> None:
        self._targets[name] = target

    def backends(self) -> dict[str, type[ArtifactStore]]:
        """Installed backends by name."""
        self._load()
        return dict(sorted(self._backends.items()))

    def backend(self, name: str) -> type[ArtifactStore]:
        """The backend class called ``name``; a clear error when it is unknown or cannot load."""
        self._load()
        if name in self._backends:
            return self._backends[name]
        if name in self._failed:
            raise BackendUnavailable(
                f"backend {name!r} is installed but cannot load ({self._failed[name]}); "
                f"reinstall it with: pip install {KNOWN_BACKENDS.get(name, 'artifactstore-' + name)}"
            )
        if name in KNOWN_BACKENDS:
            raise BackendUnavailable(
                f"backend {name!r} is not installed; install it with: pip install {KNOWN_BACKENDS[name]}"
            )
        installed = ", ".join(self._backends) or "none"
        raise UnknownBackend(f"unknown backend {name!r}; installed backends: {installed}")

    def conformance_target(self, name: str) -> ConformanceTarget:
        self.backend(name)
        try:
            return self._targets[name]
        except KeyError:
            raise UnknownBackend(f"backend {name!r} provides no conformance target") from None


_registry: Registry | None = None
_registry_env: str | None = None


def get_registry() -> Registry:
    """The process-wide registry (plugins are loaded on first use).

    It is rebuilt when ``ARTIFACTSTORE_PLUGINS`` changes, so the set of loaded plugins always
    matches the environment (tests narrow it per module).
    """
    global _registry, _registry_env
    wanted = os.environ.get(ENV_PLUGINS)
    if _registry is None or wanted != _registry_env:
        _registry = Registry()
        _registry_env = wanted
    return _registry


def reset_registry() -> None:
    """Forget loaded plugins (tests that change ``ARTIFACTSTORE_PLUGINS``)."""
    global _registry
    _registry = None


__all__ = ["BUILTIN_PLUGINS", "ENV_PLUGINS", "KNOWN_BACKENDS", "Registry", "get_registry", "reset_registry"]
