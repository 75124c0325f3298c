"""``ArtifactStoreFileSystem``: every backend as an fsspec filesystem, any revision in the path.

Paths are store URIs without the scheme, with an optional revision after ``@``::

    artifactstore+git:///srv/store@exp-1/data/metrics.csv     # branch exp-1
    artifactstore+git:///srv/store@v1/data/metrics.csv        # tag v1
    artifactstore+git:///srv/store@3f9d90f2/data/metrics.csv  # a commit (full or short id)
    artifactstore+git:///srv/store@main%7E1/data/metrics.csv  # main~1 (``~`` may be written raw too)
    artifactstore+memory://demo/data/metrics.csv              # no @: the default branch

so ``pandas.read_csv("artifactstore+git:///srv/store@exp-1/data/metrics.csv")``,
``fsspec.open(...)``, ``fs.ls``, ``fs.info``, ``fs.cat`` read any revision. Paths are read
by :func:`artifactstore.uri.parse_uri` and located by :func:`artifactstore.uri.locate`, as
every store URI is: the text after ``@`` is percent-decoded (``%2F`` for a ``/`` in a
branch name) and may carry ``~N``/``^`` steps; without ``@`` the backend finds where the
store ends. Names returned (``ls``, ``info``) are ``<store location>[@<revision>]/<path>``
with the revision percent-encoded again. :class:`ArtifactStoreFileSystem` serves every
scheme; each scheme has a subclass (``ArtifactStoreGitFileSystem`` for ``artifactstore+git``
etc., :func:`filesystem_class` for a third-party backend) so fsspec caches one instance per
scheme.

Writes go to the branch named after ``@`` (the default branch without one; a tag, a commit
id or ``~`` is refused). Outside a transaction each file written (``open(..., "wb")``,
``pipe``, ``put``) or removed (``rm``) is one commit. Inside one, everything becomes one
commit per branch when the transaction ends::

    fs = fsspec.filesystem("artifactstore+git")
    with fs.start_transaction(message="nightly evaluation"):
        fs.pipe("/srv/store@main/eval/metrics.json", b'{"mae": 0.21}')
        with fs.open("/srv/store@main/eval/preds.csv", "w") as f:
            f.write("id,pred\\n1,0.3\\n")
    # -> one commit "nightly evaluation" on main

Reads inside a transaction see the committed state, not the pending writes. An exception
inside ``with fs.transaction:`` discards the pending writes. A file written twice in one
transaction keeps its last content. Files being written are spooled to a temporary file
(in memory up to 8 MiB), so a large write never sits in memory. Directories exist only
through their files: ``mkdir`` does nothing.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, BinaryIO
from urllib.parse import quote

from fsspec.spec import AbstractFileSystem
from fsspec.transaction import Transaction
from fsspec.utils import stringify_path

from .cache import cached_store, clear
from .errors import InvalidInput, IsADirectory
from .registry import get_registry
from .store import ArtifactStore
from .uri import SCHEME_PREFIX, StoreURI, locate, parse_uri, split_scheme
from .validation import validate_path
from .values import Delete, Entry, Operation, Put

BACKEND_SCHEMES = ("artifactstore+memory", "artifactstore+git", "artifactstore+s3", "artifactstore+xet")
SPOOL_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Target:
    store: ArtifactStore
    uri: StoreURI  # located; its revision is what reads read at

    @property
    def location(self) -> str:
        return self.uri.location

    @property
    def rev(self) -> str | None:
        return self.uri.revision

    @property
    def path(self) -> str:
        return self.uri.path

    def name(self, path: str) -> str:
        prefix = self.location if self.rev is None else f"{self.location}@{quote(self.rev, safe='~^')}"
        return f"{prefix}/{path}" if path else prefix

    @property
    def branch(self) -> str:
        return self.uri.write_branch(self.store)


class StoreTransaction(Transaction):  # type: ignore[misc]
    """An fsspec transaction that becomes one commit per branch (with ``message``) when it ends."""

    def __init__(self, fs: ArtifactStoreFileSystem, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(fs, **kwargs)
        self.message = message
        self.ops: list[tuple[_Target, str, Operation]] = []

    def start(self) -> None:
        super().start()
        self.ops = []

    def add(self, target: _Target, branch: str, op: Operation) -> None:
        self.ops.append((target, branch, op))

    def complete(self, commit: bool = True) -> None:
        try:
            if commit:
                self._commit()
        finally:
            while self.files:
                self.files.popleft().discard()
            self.ops = []
            if self.fs is not None:
                self.fs._intrans = False
                self.fs._transaction = None

    def _commit(self) -> None:
        groups: dict[tuple[str, str], tuple[ArtifactStore, dict[str, Operation]]] = {}
        for target, branch, op in self.ops:
            _, by_path = groups.setdefault((target.location, branch), (target.store, {}))
            by_path.pop(op.path, None)  # the last write of a path wins
            by_path[op.path] = op
        for (_, branch), (store, by_path) in groups.items():
            message = self.message or f"fsspec transaction: {len(by_path)} changes"
            store.commit(list(by_path.values()), branch=branch, message=message)


class _StagedFile(io.RawIOBase):
    """A file being written: spooled locally, committed on close (or with its transaction)."""

    def __init__(self, fs: ArtifactStoreFileSystem, target: _Target, branch: str, autocommit: bool) -> None:
        super().__init__()
        self.fs = fs
        self.target = target
        self.branch = branch
        self.autocommit = autocommit
        self.path = target.name(target.path)
        self._spool: Any = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed in discard()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed file")
        return int(self._spool.write(data))

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self._spool.seek(0)
        if self.autocommit:
            try:
                self.commit()
            finally:
                self.discard()
        else:
            self.fs.transaction.add(self.target, self.branch, Put(self.target.path, self._spool))

    def commit(self) -> None:
        """Commit this file alone (outside a transaction)."""
        self._spool.seek(0)
        self.target.store.commit([Put(self.target.path, self._spool)], branch=self.branch, message=f"write {self.target.path}")

    def discard(self) -> None:
        self._spool.close()


class ArtifactStoreFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """fsspec access to artifact stores; ``backend`` is the scheme's backend (git, s3, xet, memory).

    Instances are cached by fsspec per ``backend`` and options. The stores they read and
    write come from the process's store cache (:mod:`artifactstore.cache`, shared with
    MLflow's repositories): one per location and options, opened on the default branch.
    ``store_options`` are passed to every store's ``from_location`` (as the named-store
    configuration's ``options`` would be).
    """

    protocol: Any = BACKEND_SCHEMES
    root_marker = ""
    transaction_type = StoreTransaction
    #: Set by the per-scheme subclasses (:func:`filesystem_class`); the base class takes ``backend``.
    backend_name: str | None = None

    def __init__(self, backend: str | None = None, store_options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(backend=backend, store_options=store_options, **kwargs)
        backend = backend or self.backend_name
        if backend is None:
            raise InvalidInput("ArtifactStoreFileSystem needs a backend: pass backend='git' or use the artifactstore+git scheme")
        get_registry().backend(backend)  # an unknown or uninstalled backend fails here, naming it
        self.backend = backend
        self.store_options = dict(store_options or {})

    # ------------------------------------------------------------------ paths
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = stringify_path(path)
        split = split_scheme(text)
        return (text if split is None else split[1]).rstrip("/")

    @classmethod
    def _get_kwargs_from_urls(cls, path: str) -> dict[str, Any]:
        if cls.backend_name is not None:
            return {}  # the class is the scheme's: no argument, so fsspec caches one instance
        split = split_scheme(stringify_path(path))
        return {} if split is None else {"backend": split[0]}

    def unstrip_protocol(self, name: str) -> str:
        return name if split_scheme(name) else f"{SCHEME_PREFIX}{self.backend}://{name}"

    def _target(self, path: Any) -> _Target:
        # A malformed revision or path is named here, before anything is read.
        uri = locate(parse_uri(f"{SCHEME_PREFIX}{self.backend}://{self._strip_protocol(path)}"))
        # One store per location, on its default branch: the revision is read at per call.
        store = cached_store(replace(uri, revision=None, path="", options=self.store_options))
        return _Target(store, uri)

    def close_stores(self) -> None:
        """Close every store the process's store cache holds (:func:`artifactstore.cache.clear`).

        They are shared with the other filesystems and MLflow's repositories; the next use
        opens them again.
        """
        clear()

    # ------------------------------------------------------------------ reads
    def _info(self, target: _Target, entry: Entry) -> dict[str, Any]:
        return {
            "name": target.name(entry.path),
            "size": entry.size if entry.kind == "file" else 0,
            "type": "file" if entry.kind == "file" else "directory",
            "sha256": entry.sha256,
        }

    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        target = self._target(path)
        return self._info(target, target.store.stat(target.path, rev=target.rev))

    def ls(self, path: Any, detail: bool = True, **kwargs: Any) -> list[Any]:
        target = self._target(path)
        entry = target.store.stat(target.path, rev=target.rev)
        entries = [entry] if entry.kind == "file" else target.store.list(target.path, rev=target.rev)
        infos = [self._info(target, e) for e in entries]
        return infos if detail else [i["name"] for i in infos]

    def ukey(self, path: Any) -> str:
        """The file's SHA-256: equal keys mean equal bytes, at any revision."""
        info = self.info(path)
        return str(info["sha256"] or info["name"])

    def checksum(self, path: Any) -> int:
        return int(self.ukey(path)[:16], 16) if self.info(path)["sha256"] else super().checksum(path)

    def modified(self, path: Any) -> Any:
        """Time of the newest commit (at the path's revision) that changed ``path``."""
        target = self._target(path)
        for commit in target.store.log(target.rev, path=target.path or None, limit=1):
            return commit.time
        raise FileNotFoundError(path)

    def _open(
        self,
        path: Any,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> BinaryIO:
        target = self._target(path)
        if mode == "rb":
            return target.store.open(target.path, rev=target.rev)
        if mode not in ("wb", "xb"):
            raise InvalidInput(f"mode {mode!r} is not supported for {path!r}; artifacts are read ('rb') or replaced ('wb')")
        validate_path(target.path, what="file path")
        if mode == "xb" and target.store.exists(target.path, rev=target.rev):
            raise FileExistsError(f"{path!r} exists and mode 'xb' was asked for")
        if target.store.exists(target.path, rev=target.rev) and target.store.stat(target.path, rev=target.rev).kind == "dir":
            raise IsADirectory(f"cannot write file {path!r}: it is a directory")
        return _StagedFile(self, target, target.branch, autocommit)  # type: ignore[return-value]

    # ------------------------------------------------------------------ writes
    def _write(self, ops: Iterable[tuple[_Target, Operation]], message: str) -> None:
        items = [(t, t.branch, op) for t, op in ops]
        if self._intrans:
            for target, branch, op in items:
                self.transaction.add(target, branch, op)
            return
        groups: dict[tuple[str, str], tuple[ArtifactStore, list[Operation]]] = {}
        for target, branch, op in items:
            groups.setdefault((target.location, branch), (target.store, []))[1].append(op)
        for (_, branch), (store, group) in groups.items():
            store.commit(group, branch=branch, message=message)

    def pipe_file(self, path: Any, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        target = self._target(path)
        validate_path(target.path, what="file path")
        self._write([(target, Put(target.path, bytes(value)))], f"write {target.path}")

    def put_file(self, lpath: Any, rpath: Any, callback: Any = None, mode: str = "overwrite", **kwargs: Any) -> None:
        """Upload a local file; inside a transaction it is read when the transaction commits."""
        target = self._target(rpath)
        validate_path(target.path, what="file path")
        self._write([(target, Put(target.path, stringify_path(lpath)))], f"write {target.path}")

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        paths = path if isinstance(path, list) else [path]
        ops = []
        for one in paths:
            target = self._target(one)
            entry = target.store.stat(target.path, rev=target.rev)
            if entry.kind == "dir" and not recursive:
                raise IsADirectory(f"{one!r} is a directory; pass recursive=True to remove it")
            validate_path(target.path, what="path to remove")
            ops.append((target, Delete(target.path)))
        self._write(ops, f"delete {ops[0][1].path}" if len(ops) == 1 else f"delete {len(ops)} paths")

    def rm_file(self, path: Any) -> None:
        self.rm(path)

    def _rm(self, path: Any) -> None:
        self.rm(path)

    def mkdir(self, path: Any, create_parents: bool = True, **kwargs: Any) -> None:
        """Nothing to do: a directory exists once a file is written below it."""

    def makedirs(self, path: Any, exist_ok: bool = False) -> None:
        """Nothing to do: a directory exists once a file is written below it."""

    def start_transaction(self, message: str | None = None) -> StoreTransaction:  # type: ignore[override]
        """Begin a transaction that becomes one commit per branch, with ``message``."""
        self._intrans = True
        self._transaction = StoreTransaction(self, message=message)
        return self._transaction


_classes: dict[str, type[ArtifactStoreFileSystem]] = {}


def filesystem_class(backend: str) -> type[ArtifactStoreFileSystem]:
    """The filesystem class of scheme ``artifactstore+<backend>`` (what ``fsspec.specs`` entry points name).

    A per-scheme class lets ``fsspec.filesystem("artifactstore+git")`` and
    ``fsspec.open("artifactstore+git:///...")`` share one cached instance, and so one transaction.
    """
    if backend not in _classes:
        title = backend.capitalize()
        _classes[backend] = type(
            f"ArtifactStore{title}FileSystem",
            (ArtifactStoreFileSystem,),
            {"protocol": f"{SCHEME_PREFIX}{backend}", "backend_name": backend, "__module__": __name__},
        )
    return _classes[backend]


def register_all(*, clobber: bool = True) -> None:
    """Register the four built-in schemes with fsspec at run time (the entry points do it when installed)."""
    import fsspec

    for scheme in BACKEND_SCHEMES:
        fsspec.register_implementation(scheme, filesystem_class(scheme[len(SCHEME_PREFIX) :]), clobber=clobber)


ArtifactStoreMemoryFileSystem = filesystem_class("memory")
ArtifactStoreGitFileSystem = filesystem_class("git")
ArtifactStoreS3FileSystem = filesystem_class("s3")
ArtifactStoreXetFileSystem = filesystem_class("xet")

__all__ = [
    "BACKEND_SCHEMES",
    "ArtifactStoreFileSystem",
    "ArtifactStoreGitFileSystem",
    "ArtifactStoreMemoryFileSystem",
    "ArtifactStoreS3FileSystem",
    "ArtifactStoreXetFileSystem",
    "StoreTransaction",
    "filesystem_class",
    "register_all",
]
