"""Store URIs and named stores.

``artifactstore+<backend>://<location>[@<branch>][/<path inside the store>]``

* ``artifactstore+memory://demo``, ``artifactstore+git:///srv/artifacts``,
  ``artifactstore+s3://bucket/prefix``, ``artifactstore+xet:///srv/artifacts``.
* The branch follows the first ``@`` as one path segment (write ``/`` inside a branch name
  as ``%2F``; nothing else in a URI is ever percent-decoded). Never a query string: MLflow
  appends ``<experiment>/<run>/artifacts`` after whatever the root URI ends with.
* MLflow rewrites ``scheme:///path`` as ``scheme:/path``; both parse the same.
* Without ``@``, the backend decides where its store ends (git walks up to the repository).
* ``artifactstore://<name>`` (or a bare name given to :func:`open`) looks the name up in
  the config file (``$ARTIFACTSTORE_CONFIG``, else ``$XDG_CONFIG_HOME/artifactstore/config.toml``);
  ``$ARTIFACTSTORE_ENV`` picks a per-environment URI, so one name maps to a git store on a
  laptop and to an S3 store in production without code changes::

      [stores.models]
      uri = "artifactstore+git:///srv/models"
      [stores.models.environments.prod]
      uri = "artifactstore+s3://ml-artifacts/models"
      options = { allow_unconditional_writes = false }
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .errors import ConfigError, InvalidURI
from .registry import get_registry
from .store import ArtifactStore
from .validation import validate_path, validate_ref_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)

SCHEME_PREFIX = "artifactstore+"
NAMED_SCHEME = "artifactstore"
ENV_CONFIG = "ARTIFACTSTORE_CONFIG"
ENV_ENVIRONMENT = "ARTIFACTSTORE_ENV"
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):(.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class StoreURI:
    """A parsed store URI: which backend, where its store is, which branch, which sub-path."""

    backend: str
    location: str
    branch: str | None = None
    path: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def store_identity(self) -> tuple[str, str, str | None, tuple[tuple[str, str], ...]]:
        """What names the store opened, without the path inside it: backend, location, branch and options."""
        return self.backend, self.location, self.branch, tuple(sorted((k, repr(v)) for k, v in self.options.items()))


def parse_uri(uri: str, *, create: bool = False) -> StoreURI:
    """Parse ``uri`` into a :class:`StoreURI`, asking the backend where its store ends.

    With ``create`` the whole location names the store to create: the backend is not asked
    to find an existing store above it (``init`` inside a git checkout must not pick the
    checkout).
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidURI(f"store URI must be a non-empty string, got {uri!r}")
    match = _SCHEME.match(uri)
    if not match:
        return _named(uri, "", None)
    scheme, rest = match.groups()
    netloc, path = _split_authority(rest)
    if scheme == NAMED_SCHEME:
        text = netloc + path
        name, branch, sub = _split_marker(text) if "@" in text else (text, None, "")
        name, _, tail = name.partition("/")
        return _named(name, "/".join(p for p in (tail, sub) if p), branch)
    if not scheme.startswith(SCHEME_PREFIX):
        raise InvalidURI(
            f"URI {uri!r} is not an artifactstore URI; use artifactstore+<backend>://..., "
            "e.g. artifactstore+git:///srv/artifacts"
        )
    backend = scheme[len(SCHEME_PREFIX) :]
    cls = get_registry().backend(backend)
    combined = netloc + path
    if "@" in combined:
        location, branch, sub = _split_marker(combined)
    else:
        location, sub = cls.split_root(netloc, path)
        branch = None
        if create and sub.strip("/"):
            location, sub = f"{location.rstrip('/')}/{sub.strip('/')}", ""
    if not location:
        raise InvalidURI(f"URI {uri!r} names no store location")
    if "?" in location:
        # Read as a path, "?fsync=false" would silently become part of the store's name.
        raise InvalidURI(
            f"URI {uri!r} has '?' in its store location {location!r}, but store URIs take no query string; "
            "give store options as keyword arguments of artifactstore.open() or as the 'options' of a named store "
            f"in {str(config_path())!r}"
        )
    sub = sub.strip("/")
    if sub:
        validate_path(sub, what=f"path in URI {uri!r}")
    return StoreURI(backend, location, branch, sub)


def _split_authority(rest: str) -> tuple[str, str]:
    if rest.startswith("//"):
        netloc, slash, path = rest[2:].partition("/")
        return netloc, slash + path
    return "", rest


def _split_marker(text: str) -> tuple[str, str | None, str]:
    location, _, after = text.partition("@")
    branch_raw, _, sub = after.partition("/")
    branch = unquote(branch_raw)
    validate_ref_name(branch, what="branch in URI")
    return location.rstrip("/"), branch, sub


def _named(name: str, sub: str, branch: str | None) -> StoreURI:
    entry = _config_entry(name)
    target = parse_uri(entry["uri"])
    return StoreURI(
        target.backend,
        target.location,
        branch or target.branch,
        "/".join(p for p in (target.path, sub) if p),
        dict(entry.get("options", {})),
    )


def config_path() -> Path:
    """Where named stores are configured."""
    if os.environ.get(ENV_CONFIG):
        return Path(os.environ[ENV_CONFIG])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "artifactstore" / "config.toml"


def _config_entry(name: str) -> dict[str, Any]:
    path = config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{name!r} is neither a store URI nor a named store: config file {str(path)!r} does not exist "
            f"(set {ENV_CONFIG} or write artifactstore+<backend>://...)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    stores = data.get("stores", {})
    if name not in stores:
        known = ", ".join(sorted(stores)) or "none"
        raise ConfigError(f"no store named {name!r} in {str(path)!r}; configured: {known}")
    entry = dict(stores[name])
    environment = os.environ.get(ENV_ENVIRONMENT)
    if environment:
        override = entry.get("environments", {}).get(environment)
        if override is None:
            log.debug("store %r has no entry for environment %r; using its default", name, environment)
        else:
            entry.update(override)
    if not isinstance(entry.get("uri"), str):
        raise ConfigError(f"store {name!r} in {str(path)!r} has no 'uri' string")
    return entry


def open(uri: str, *, create: bool = False, **options: Any) -> ArtifactStore:  # noqa: A001
    """Open the store a URI (or a configured store name) names.

    ``create`` makes an empty store where none exists (``artifactstore init``). Keyword
    options override those of the named-store configuration.
    """
    store, _ = open_with_path(uri, create=create, **options)
    return store


def open_with_path(uri: str, *, create: bool = False, **options: Any) -> tuple[ArtifactStore, str]:
    """Like :func:`open`, and also return the path inside the store the URI points at."""
    parsed = parse_uri(uri, create=create)
    cls = get_registry().backend(parsed.backend)
    merged = {**parsed.options, **options}
    store = cls.from_location(parsed.location, branch=parsed.branch, create=create, options=merged)
    return store, parsed.path


__all__ = ["ENV_CONFIG", "ENV_ENVIRONMENT", "StoreURI", "config_path", "open", "open_with_path", "parse_uri"]
