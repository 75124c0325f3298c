"""Garbage collection, integrity checks and storage statistics, generic over the ports."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dulwich.objects import Blob, Commit, Tag, Tree

from ..errors import ArtifactStoreError
from ..values import FsckReport, GCReport, StoreStats
from .pointer import parse_pointer
from .ports import ContentInfo
from .streams import CHUNK

if TYPE_CHECKING:
    from .store import EngineStore

log = logging.getLogger(__name__)


@dataclass
class Reachable:
    objects: set[bytes] = field(default_factory=set)
    content: dict[str, ContentInfo] = field(default_factory=dict)
    # (path, blob id) of every file version, and the size of each, for stats
    versions: dict[tuple[str, bytes], int] = field(default_factory=dict)
    inline_bytes: dict[bytes, int] = field(default_factory=dict)
    blob_sizes: dict[bytes, int] = field(default_factory=dict)
    # A tree is walked once per path it appears at, so stats count a copied directory twice.
    seen_trees: set[tuple[bytes, str]] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def reachable(
    store: EngineStore, heads: Iterable[bytes], *, strict: bool = False, found: Reachable | None = None
) -> Reachable:
    """Walk every commit, tree and blob reachable from ``heads``.

    With ``strict`` a damaged object is recorded as a problem and the walk goes on; without,
    the first damaged object raises (gc must never delete on the basis of a partial walk).
    Given the ``found`` of an earlier walk, only what it did not reach is walked, into it.
    """
    found = found if found is not None else Reachable()
    stack = list(heads)
    trees: list[tuple[bytes, str]] = []
    while stack or trees:
        if trees:
            oid, where = trees.pop()
            _visit_tree(store, oid, where, found, trees, strict)
            continue
        oid = stack.pop()
        if oid in found.objects:
            continue
        try:
            obj = store.reader.get(oid)
        except ArtifactStoreError as exc:
            if not strict:
                raise
            found.problems.append(str(exc))
            continue
        found.objects.add(oid)
        if isinstance(obj, Tag):
            stack.append(obj.object[1])
        elif isinstance(obj, Commit):
            stack.extend(obj.parents)
            trees.append((obj.tree, ""))
    return found


def _visit_tree(
    store: EngineStore, oid: bytes, where: str, found: Reachable, trees: list[tuple[bytes, str]], strict: bool
) -> None:
    if (oid, where) in found.seen_trees:
        return
    found.seen_trees.add((oid, where))
    try:
        tree = store.reader.get(oid)
    except ArtifactStoreError as exc:
        if not strict:
            raise
        found.problems.append(f"{exc} (tree of {where or '/'})")
        return
    found.objects.add(oid)
    if not isinstance(tree, Tree):
        found.problems.append(f"object {oid.decode()} at {where or '/'} should be a tree")
        return
    for entry in tree.iteritems():
        name = entry.path.decode("utf-8", "replace")
        path = where if name.startswith(":") else (f"{where}/{name}" if where else name)
        if entry.mode & 0o170000 == 0o040000:
            trees.append((entry.sha, path))
            continue
        if entry.sha in found.blob_sizes:
            found.versions[(path, entry.sha)] = found.blob_sizes[entry.sha]
            continue
        try:
            blob = store.reader.get(entry.sha)
        except ArtifactStoreError as exc:
            if not strict:
                raise
            found.problems.append(f"{exc} (file {path!r})")
            continue
        found.objects.add(entry.sha)
        data = blob.as_raw_string() if isinstance(blob, Blob) else b""
        info = parse_pointer(data)
        if info is not None:
            found.content.setdefault(info.sha256, info)
            size = info.size
        else:
            size = found.inline_bytes[entry.sha] = len(data)
        found.blob_sizes[entry.sha] = size
        found.versions[(path, entry.sha)] = size


def gc(store: EngineStore, *, dry_run: bool, grace_seconds: float) -> GCReport:
    """Delete what no ref reaches and is older than the grace period; see :mod:`.gcguard` for writers."""
    live = reachable(store, store.ref_heads())
    cutoff = time.time() - grace_seconds
    dead_objects = {oid for oid, mtime in store.objects.iter_ids() if oid not in live.objects and mtime <= cutoff}
    dead_content = {
        sha: size for sha, size, mtime in store.content.iter_ids() if sha not in live.content and mtime <= cutoff
    }
    object_sizes: dict[bytes, int] = {}
    for oid in dead_objects:
        with contextlib.suppress(KeyError):
            object_sizes[oid] = len(store.objects.read(oid)[1])
    if not dry_run:
        # No write is in progress while gc holds this, so no staged upload is a live one either.
        with store.refs.gc_guard(exclusive=True):
            if dead_objects or dead_content:
                # Commits that landed since the walk may reuse what it found dead: walk what is new, spare it.
                reachable(store, store.ref_heads(), found=live)
                dead_objects -= live.objects
                dead_content = {sha: size for sha, size in dead_content.items() if sha not in live.content}
                store.objects.delete(sorted(dead_objects))
                store.content.delete(sorted(dead_content))
            swept = store.content.sweep_staging(cutoff)
        if swept:
            log.info("gc removed %d abandoned staging items", swept)
    freed = sum(dead_content.values()) + sum(object_sizes.get(oid, 0) for oid in dead_objects)
    log.info(
        "gc %s %d objects and %d content files (%d bytes)",
        "would remove" if dry_run else "removed",
        len(dead_objects),
        len(dead_content),
        freed,
    )
    return GCReport(len(dead_objects), len(dead_content), freed, dry_run)


def fsck(store: EngineStore) -> FsckReport:
    problems: list[str] = []
    heads = []
    for name, oid in {**store.refs.list("refs/heads/"), **store.refs.list("refs/tags/")}.items():
        if not store.objects.contains(oid):
            problems.append(f"ref {name} points at missing commit {oid.decode()}")
        else:
            heads.append(oid)
    live = reachable(store, heads, strict=True)
    problems.extend(live.problems)
    for _sha, info in sorted(live.content.items()):
        problem = _check_content(store, info)
        if problem:
            problems.append(problem)
    all_objects = sum(1 for _ in store.objects.iter_ids())
    all_content = {sha for sha, _, _ in store.content.iter_ids()}
    return FsckReport(
        objects_checked=len(live.objects),
        content_checked=len(live.content),
        problems=tuple(problems),
        unreachable_objects=max(all_objects - len(live.objects), 0),
        unreachable_content=len(all_content - live.content.keys()),
    )


def _check_content(store: EngineStore, info: ContentInfo) -> str | None:
    try:
        stream = store.content.open(info)
    except KeyError:
        return f"content {info.sha256} is missing"
    except Exception as exc:  # a backend's foreign error must not stop fsck
        return f"content {info.sha256} cannot be read: {type(exc).__name__}: {exc}"
    digest = hashlib.sha256()
    size = 0
    try:
        with stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except Exception as exc:  # a backend's foreign error must not stop fsck
        return f"content {info.sha256} cannot be read: {type(exc).__name__}: {exc}"
    if size != info.size:
        return f"content {info.sha256} has {size} bytes, its pointer says {info.size}"
    if digest.hexdigest() != info.sha256:
        return f"content {info.sha256} is corrupt: it hashes to {digest.hexdigest()}"
    return None


def stats(store: EngineStore, rev: str | None) -> StoreStats:
    heads = [store.resolve_id(rev)] if rev is not None else store.ref_heads()
    live = reachable(store, heads)
    logical = sum(live.versions.values())
    stored = store.content.stored_bytes() + sum(live.inline_bytes.values())
    return StoreStats(files=len(live.versions), logical_bytes=logical, stored_bytes=stored)


def remove_files_older_than(paths: Iterable[Path], older_than: float) -> int:
    """Delete the files last modified at or before ``older_than``; return how many went.

    What a file-based :meth:`ContentPort.sweep_staging` does with the staging files (partial
    uploads, spools) that killed writers leave; a file that vanishes meanwhile is skipped.
    """
    removed = 0
    for path in paths:
        try:
            if path.stat().st_mtime <= older_than:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


__all__ = ["Reachable", "fsck", "gc", "reachable", "remove_files_older_than", "stats"]
