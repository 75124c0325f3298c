"""Store URIs and named stores: parse (syntax only), locate (the backend's answer), open.

``artifactstore+<backend>://<location>[@<revision>][/<path inside the store>]``

* ``artifactstore+memory://demo``, ``artifactstore+git:///srv/artifacts``,
  ``artifactstore+s3://bucket/prefix``, ``artifactstore+xet:///srv/artifacts``.
* The revision follows the first ``@`` as one path segment: a branch, a tag or a commit id
  (full or abbreviated), with ``~N``/``^`` first-parent steps. It is percent-decoded (write
  ``/`` inside a branch name as ``%2F``); nothing else in a URI is ever percent-decoded.
  Never a query string: MLflow appends ``<experiment>/<run>/artifacts`` after whatever the
  root URI ends with.
* MLflow rewrites ``scheme:///path`` as ``scheme:/path``; both parse the same.
* ``artifactstore://<name>`` (or a bare name given to :func:`open`) looks the name up in
  the config file (``$ARTIFACTSTORE_CONFIG``, else ``$XDG_CONFIG_HOME/artifactstore/config.toml``);
  ``$ARTIFACTSTORE_ENV`` picks a per-environment URI, so one name maps to a git store on a
  laptop and to an S3 store in production without code changes::

      [stores.models]
      uri = "artifactstore+git:///srv/models"
      [stores.models.environments.prod]
      uri = "artifactstore+s3://ml-artifacts/models"
      options = { allow_unconditional_writes = false }

Three steps, each for its own caller:

1. :func:`parse_uri` reads the syntax only: it loads no plugin and touches no file system
   (a named store's config file aside), so it is cheap enough to run per request.
2. :func:`locate` asks the backend where the store ends when the URI has no ``@``: git and
   xet walk up the file system to the repository, s3 looks for the store's marker object,
   memory takes the first segment. A URI with ``@`` is located by its syntax already.
3. :func:`open_with_path` does both and opens the store, returning the located URI with it
   (:func:`open` returns the store alone; :mod:`artifactstore.cache` keeps one per process).

A revision is what readers read at. A store opened from a URI, and every write through it,
needs a branch: :attr:`StoreURI.branch` refuses a revision with ``~N``/``^`` steps, and
:meth:`StoreURI.write_branch` also refuses the store's tags and commit ids.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .errors import ConfigError, InvalidRefName, InvalidURI, NotFound
from .registry import get_registry
from .store import ArtifactStore
from .validation import is_hex_id, split_revision, validate_path, validate_ref_name

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
    """A parsed store URI: which backend, where its store is, which revision, which sub-path.

    ``location`` is where the store is, as its backend reads it (``/srv/a``, ``bucket/prefix``,
    ``demo``) when ``located`` is true: the URI had an ``@``, or :func:`locate` asked the
    backend. Until then it is the URI's location text, whose end may be a path inside the
    store: ``//<host>/<path>``, or without a host ``/<path>`` (whatever the number of
    slashes, so MLflow's rewrite parses the same) or a relative ``<path>``.

    ``revision`` is the text after ``@``, percent-decoded and checked to be a branch, tag or
    commit id with optional ``~N``/``^`` steps (``None``: the store's default branch).
    ``path`` is a valid path inside the store (``""`` for its root); ``options`` are the
    named store's options (and, from :func:`open_with_path`, the caller's).
    """

    backend: str
    location: str
    revision: str | None = None
    path: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    located: bool = True

    @property
    def branch(self) -> str | None:
        """The revision as a branch name (``None`` without ``@``), for opening a store on it and writing.

        Raises :class:`~artifactstore.errors.InvalidRefName` when the revision cannot be a
        branch (it has ``~N``/``^`` steps). Whether it names a tag or a commit of the store
        instead is the store's to say: see :meth:`write_branch`.
        """
        if self.revision is None:
            return None
        try:
            return validate_ref_name(self.revision)
        except InvalidRefName:
            raise InvalidRefName(f"cannot write at revision {self.revision!r}: writes need a branch name after '@'") from None

    def write_branch(self, store: ArtifactStore) -> str:
        """The branch a write through this URI goes to in ``store``: the one after ``@``, else its default branch.

        Raises :class:`~artifactstore.errors.InvalidRefName` for a revision with
        ``~N``/``^`` steps, for a tag of ``store`` (tags never move) and for a commit id
        (full or abbreviated) that is not also a branch's name. Any other name is a branch,
        new or not.
        """
        branch = self.branch
        if branch is None:
            return store.default_branch
        if branch in store.tags():
            raise InvalidRefName(f"cannot write to tag {branch!r}: tags never move; write to a branch")
        if is_hex_id(branch) and branch not in store.branches():
            try:
                store.resolve(branch)
            except NotFound:
                return branch  # a new branch whose name looks like a commit id
            raise InvalidRefName(f"cannot write at commit {branch!r}: commits never change; write to a branch")
        return branch

    @property
    def store_identity(self) -> tuple[str, str, str | None, tuple[tuple[str, str], ...]]:
        """What names the store opened, without the path inside it: backend, location, revision and options.

        Two URIs of one store have one identity once both are located.
        """
        return self.backend, self.location, self.revision, tuple(sorted((k, repr(v)) for k, v in self.options.items()))


def parse_uri(uri: str) -> StoreURI:
    """Parse ``uri`` into a :class:`StoreURI` by its syntax alone.

    Loads no plugin and asks no backend: an unknown backend is named when the URI is
    located or opened. Without ``@`` the result is not located (see :func:`locate`).
    Raises :class:`~artifactstore.errors.InvalidURI`,
    :class:`~artifactstore.errors.InvalidRevision`, :class:`~artifactstore.errors.InvalidPath`
    and, for a named store, :class:`~artifactstore.errors.ConfigError`.
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
        name, revision, sub = _split_marker(text) if "@" in text else (text, None, "")
        name, _, tail = name.partition("/")
        return _named(name, "/".join(p for p in (tail, sub) if p), revision)
    if not scheme.startswith(SCHEME_PREFIX):
        raise InvalidURI(
            f"URI {uri!r} is not an artifactstore URI; use artifactstore+<backend>://..., "
            "e.g. artifactstore+git:///srv/artifacts"
        )
    backend = scheme[len(SCHEME_PREFIX) :]
    combined = netloc + path
    if "@" not in combined:
        # Without a host, "///x", "/x" (MLflow's rewrite) and "////x" are one path, "/x".
        text = f"//{netloc}{path}".rstrip("/") if netloc else "/" * path.startswith("/") + path.strip("/")
        if not combined.strip("/"):
            raise InvalidURI(f"URI {uri!r} names no store location")
        return StoreURI(backend, text, located=False)
    location, revision, sub = _split_marker(combined)
    _check_location(location, f"URI {uri!r}")
    return StoreURI(backend, location, revision, _inside(sub))


def split_scheme(uri: str) -> tuple[str, str] | None:
    """``(backend, the rest)`` of an ``artifactstore+<backend>:`` URI, the rest without an authority's ``//``.

    ``None`` for any other text. Syntax only, as :func:`parse_uri`.
    """
    match = _SCHEME.match(uri)
    if not match or not match.group(1).startswith(SCHEME_PREFIX):
        return None
    rest = match.group(2)
    return match.group(1)[len(SCHEME_PREFIX) :], rest[2:] if rest.startswith("//") else rest


def _split_authority(rest: str) -> tuple[str, str]:
    if rest.startswith("//"):
        netloc, slash, path = rest[2:].partition("/")
        return netloc, slash + path
    return "", rest


def _split_marker(text: str) -> tuple[str, str, str]:
    location, _, after = text.partition("@")
    revision_raw, _, sub = after.partition("/")
    revision = unquote(revision_raw)
    split_revision(revision)
    return location.rstrip("/"), revision, sub


def _inside(path: str) -> str:
    path = path.strip("/")
    return validate_path(path, what="path in URI") if path else path


def _check_location(location: str, source: str) -> None:
    if not location:
        raise InvalidURI(f"{source} names no store location")
    if "?" in location:
        # Read as a path, "?fsync=false" would silently become part of the store's name.
        raise InvalidURI(
            f"{source} has '?' in its store location {location!r}, but store URIs take no query string; "
            "give store options as keyword arguments of artifactstore.open() or as the 'options' of a named store "
            f"in {str(config_path())!r}"
        )


def _named(name: str, sub: str, revision: str | None) -> StoreURI:
    entry = _config_entry(name)
    target = parse_uri(entry["uri"])
    return replace(
        target,
        revision=revision or target.revision,
        path=_inside("/".join(p for p in (target.path, sub) if p)),
        options=dict(entry.get("options", {})),
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


def locate(parsed: StoreURI, *, create: bool = False) -> StoreURI:
    """``parsed`` with its store's location and the path inside it, as the backend says (``split_root``).

    A located URI (one with ``@``) is returned as it is. With ``create`` the whole location
    names the store to create: the backend is not asked to find an existing store above it
    (``init`` inside a git checkout must not pick the checkout). Loads the backend's plugin:
    raises :class:`~artifactstore.errors.UnknownBackend` or
    :class:`~artifactstore.errors.BackendUnavailable`, and what the backend's ``split_root`` raises.
    """
    if parsed.located:
        return parsed
    cls = get_registry().backend(parsed.backend)
    location, inner = cls.split_root(*_split_authority(parsed.location))
    if create and inner.strip("/"):
        location, inner = f"{location.rstrip('/')}/{inner.strip('/')}", ""
    _check_location(location, f"{SCHEME_PREFIX}{parsed.backend} URI")
    path = _inside("/".join(p for p in (inner.strip("/"), parsed.path) if p))
    return replace(parsed, location=location, path=path, located=True)


def open_located(uri: StoreURI, *, create: bool = False) -> ArtifactStore:
    """Open (with ``create``, create) the store ``uri`` names, on its branch, with its options.

    ``uri`` is located first if it is not yet (:func:`locate`).
    """
    uri = locate(uri, create=create)
    cls = get_registry().backend(uri.backend)
    return cls.from_location(uri.location, branch=uri.branch, create=create, options=uri.options)


def open(uri: str, *, create: bool = False, **options: Any) -> ArtifactStore:  # noqa: A001
    """Open the store a URI (or a configured store name) names.

    ``create`` makes an empty store where none exists (``artifactstore init``). Keyword
    options override those of the named-store configuration.
    """
    store, _ = open_with_path(uri, create=create, **options)
    return store


def open_with_path(uri: str, *, create: bool = False, **options: Any) -> tuple[ArtifactStore, StoreURI]:
    """Like :func:`open`, and also return the located URI (``.path`` is the path inside the store it points at).

    The URI's ``options`` are those the store was opened with: the named store's, overridden by ``options``.
    """
    located = locate(parse_uri(uri), create=create)
    if options:
        located = replace(located, options={**located.options, **options})
    return open_located(located, create=create), located


__all__ = [
    "ENV_CONFIG",
    "ENV_ENVIRONMENT",
    "SCHEME_PREFIX",
    "StoreURI",
    "config_path",
    "locate",
    "open",
    "open_located",
    "open_with_path",
    "parse_uri",
    "split_scheme",
]
