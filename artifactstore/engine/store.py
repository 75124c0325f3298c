""":class:`EngineStore`: every :class:`ArtifactStore` method, written once, on three ports."""

from __future__ import annotations

import builtins
import contextlib
import functools
import getpass
import hashlib
import io
import logging
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

from dulwich.objects import Blob, ObjectID
from dulwich.objects import Commit as GitCommit

from .. import faults
from ..errors import (
    AlreadyExists,
    ArtifactStoreError,
    Conflict,
    HeadMoved,
    IntegrityError,
    InvalidInput,
    InvalidPath,
    InvalidRevision,
    IsADirectory,
    NotADirectory,
    NotFound,
    RevisionNotFound,
)
from ..store import DEFAULT_BRANCH, ArtifactStore, as_stream
from ..validation import is_hex_id, split_revision, validate_path, validate_ref_name
from ..values import Change, Commit, Delete, Entry, FsckReport, GCReport, Operation, Put, StoreStats
from . import maintenance
from .diff import diff_dirs, walk_files
from .group import CommitQueue, CommitRequest
from .history import is_ancestor, merge_base, walk
from .objects import ObjectReader, PendingObjects
from .pointer import encode_pointer, parse_pointer
from .ports import ContentInfo, ContentPort, ObjectPort, RefPort
from .streams import PrefixedReader, VerifiedReader, read_at_most
from .tree import DIR_MODE, FILE_MODE, CheckOps, TreeItem, TreeOps

log = logging.getLogger(__name__)

HEADS = "refs/heads/"
TAGS = "refs/tags/"
DEFAULT_INLINE_THRESHOLD = 1024 * 1024
_TRAILER = re.compile(r"\n\nArtifactstore-Logical-Bytes: (\d+)\nArtifactstore-New-Bytes: (\d+)\n?$")
_AUTHOR = re.compile(r"^[^<>\n]+ <[^<>\n]*>$")
_PLACEHOLDER = TreeItem(FILE_MODE, b"0" * 40)
# Per-commit retry budget when other writers keep moving the branch.
MAX_ATTEMPTS = 200
# Inline blobs held in memory before they are written (an upload of many small files).
BLOB_BATCH_BYTES = 32 * 1024 * 1024
MAX_BACKOFF = 0.5


class EngineStore(ArtifactStore):
    """The commit engine: git's object model over an object, a ref and a content port.

    Subclasses (one per backend) build the ports and implement ``from_location`` and
    ``uri``. ``inline_threshold`` is the largest file kept as an ordinary git blob; larger
    files go to the content port and the tree holds a Git LFS pointer to them.
    """

    def __init__(
        self,
        *,
        objects: ObjectPort,
        refs: RefPort,
        content: ContentPort,
        default_branch: str | None = None,
        inline_threshold: int = DEFAULT_INLINE_THRESHOLD,
    ) -> None:
        self.default_branch = validate_ref_name(default_branch or DEFAULT_BRANCH)
        if inline_threshold < 0:
            raise InvalidInput(f"inline_threshold must be >= 0, got {inline_threshold}")
        self.objects = objects
        self.refs = refs
        self.content = content
        self.inline_threshold = inline_threshold
        self.reader = ObjectReader(objects)
        self._sha256_cache: dict[bytes, tuple[int, str]] = {}
        self._cache_lock = threading.Lock()
        self._queues: dict[str, CommitQueue] = {}
        self._queues_guard = threading.Lock()
        self._writes = threading.local()  # per thread: how deep in writes (the gc guard is taken once)

    # ================================================================== reads
    def resolve(self, rev: str | None = None) -> str:
        return self._resolve(rev).decode()

    def _resolve(self, rev: str | None) -> bytes:
        if rev is None:
            head = self.refs.get(HEADS + self.default_branch)
            if head is None:
                raise RevisionNotFound(f"branch {self.default_branch!r} has no commits yet")
            return head
        base, steps = split_revision(rev)
        oid = self._resolve_base(base, rev)
        for _ in range(steps):
            parents = self.reader.commit(oid).parents
            if not parents:
                raise RevisionNotFound(f"revision {rev!r} goes back past the first commit")
            oid = parents[0]
        return oid

    def _resolve_base(self, base: str, rev: str) -> bytes:
        for ref in (HEADS + base, TAGS + base):
            oid = self.refs.get(ref)
            if oid is not None:
                return bytes(self.reader.commit(oid).id)
        if is_hex_id(base):
            if len(base) == 40:
                if self.objects.contains(base.encode()):
                    return self.reader.commit(base.encode()).id
            else:
                matches = {c.id for head in self._all_heads() for c in walk(self.reader, head) if c.id.decode().startswith(base)}
                if len(matches) == 1:
                    return matches.pop()
                if len(matches) > 1:
                    raise InvalidRevision(f"revision {rev!r} is ambiguous: {len(matches)} commits start with it")
        raise RevisionNotFound(f"revision {rev!r} is not a branch, tag or commit of this store")

    def _all_heads(self) -> builtins.list[bytes]:
        return list({*self.refs.list(HEADS).values(), *self.refs.list(TAGS).values()})

    def _root(self, rev: str | None) -> bytes:
        return bytes(self.reader.commit(self._resolve(rev)).tree)

    def _ops(self) -> TreeOps:
        return TreeOps(PendingObjects(self.reader))

    def _item(self, path: str, rev: str | None) -> tuple[TreeItem, TreeOps]:
        validate_path(path, allow_root=True)
        ops = self._ops()
        item = ops.lookup_path(self._root(rev), path)
        if item is None:
            raise NotFound(f"{path!r} does not exist at revision {rev or self.default_branch!r}")
        return item, ops

    def _file_info(self, item: TreeItem) -> tuple[int, str, ContentInfo | None, bytes | None]:
        """``(size, sha256, pointer info or None, inline data or None)`` of a file blob."""
        data = self.reader.blob(item.sha).as_raw_string()
        info = parse_pointer(data)
        if info is not None:
            return info.size, info.sha256, info, None
        with self._cache_lock:
            cached = self._sha256_cache.get(item.sha)
        if cached is None:
            cached = (len(data), hashlib.sha256(data).hexdigest())
            with self._cache_lock:
                if len(self._sha256_cache) > 200_000:
                    self._sha256_cache.clear()
                self._sha256_cache[item.sha] = cached
        return cached[0], cached[1], None, data

    def _entry(self, path: str, item: TreeItem) -> Entry:
        if item.is_dir:
            return Entry(path, "dir")
        size, sha256, _, _ = self._file_info(item)
        return Entry(path, "file", size, sha256)

    def stat(self, path: str, *, rev: str | None = None) -> Entry:
        item, _ = self._item(path, rev)
        return self._entry(path, item)

    def _file(self, path: str, rev: str | None) -> tuple[int, str, ContentInfo | None, bytes | None]:
        """:meth:`_file_info` of the file at ``path``; a directory is refused."""
        item, _ = self._item(path, rev)
        if item.is_dir:
            raise IsADirectory(f"{path!r} is a directory; list it or download it instead")
        return self._file_info(item)

    def open(self, path: str, *, rev: str | None = None) -> BinaryIO:
        size, sha256, info, data = self._file(path, rev)
        if info is None:
            assert data is not None
            return io.BytesIO(data)
        try:
            inner = self.content.open(info)
        except KeyError:
            raise _content_missing(sha256, path) from None
        return VerifiedReader(inner, sha256=sha256, size=size, label=f"content of {path!r} ({sha256[:12]})")  # type: ignore[return-value]

    def local_path(self, path: str, *, rev: str | None = None) -> Path | None:
        size, sha256, info, _ = self._file(path, rev)
        local = self.content.local_file(info) if info is not None else None  # inline blobs have no file
        if local is None:
            return None
        try:
            found = local.stat().st_size
        except FileNotFoundError:
            raise _content_missing(sha256, path) from None
        if found != size:
            raise IntegrityError(
                f"content of {path!r} ({sha256[:12]}) in {str(local)!r} holds {found} bytes, not the {size} "
                "its pointer records; run 'artifactstore fsck'"
            )
        return local

    def list(self, path: str = "", *, rev: str | None = None, recursive: bool = False) -> builtins.list[Entry]:
        item, ops = self._item(path, rev)
        if not item.is_dir:
            raise NotADirectory(f"{path!r} is a file, not a directory")
        if recursive:
            result = [self._entry(p, i) for p, i in walk_files(ops, item.sha, path)]
        else:
            result = []
            for name, child in ops.entries(item.sha):
                child_path = f"{path}/{name.decode()}" if path else name.decode()
                result.append(self._entry(child_path, child))
        result.sort(key=lambda e: e.path)
        return result

    # ================================================================== writes
    def commit(
        self,
        changes: Iterable[Operation],
        *,
        branch: str | None = None,
        message: str | None = None,
        expect_head: str | None = None,
        author: str | None = None,
    ) -> Commit:
        with self.writing():
            return self._commit(changes, branch=branch, message=message, expect_head=expect_head, author=author)

    def _commit(
        self,
        changes: Iterable[Operation],
        *,
        branch: str | None,
        message: str | None,
        expect_head: str | None,
        author: str | None,
    ) -> Commit:
        branch = validate_ref_name(branch or self.default_branch)
        self._check_branch_writable(branch)
        ops_in = list(changes)
        wanted = _changes_by_path(ops_in)  # paths first: a bad path is named before anything else
        author_line = _author(author)
        text = _message(message, ops_in)
        expected = _expected_head(expect_head)
        ref = HEADS + branch

        head = self.refs.get(ref)
        if head is None and self.refs.get(TAGS + branch) is not None:
            raise AlreadyExists(f"a tag named {branch!r} exists; commit to a branch with another name")
        if expected is not None and head != (expected.encode() or None):
            raise HeadMoved(f"branch {branch!r} is at {_short(head)}, not at expected {expect_head!r}")
        base_tree = self.reader.commit(head).tree if head else None
        checked = False

        def check_paths() -> None:
            # Every path is checked against the current tree before the first byte is stored.
            # A commit that stores nothing before its turn (small files inline, deletes) skips
            # this: building its tree makes the same checks, and a failure there writes nothing.
            nonlocal checked
            if not checked:
                checked = True
                placeholders = {p: (_PLACEHOLDER if isinstance(c, Put) else None) for p, c in wanted.items()}
                self._apply(placeholders, base_tree, CheckOps(PendingObjects(self.reader)))

        items, logical, new, unwritten = self._stage_content(wanted, before_write=check_paths)
        faults.point("after-content")
        trailer = f"\n\nArtifactstore-Logical-Bytes: {logical}\nArtifactstore-New-Bytes: {new}\n" if logical is not None else ""
        request = CommitRequest(
            items=items,
            head=head,
            base_tree=base_tree,
            expects_head=expected is not None,
            author=author_line,
            message=text + trailer,
            blobs=unwritten,
        )
        return self._queue(ref).submit(request, lambda batch, more: self._commit_batch(ref, branch, batch, more))

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the gc guard shared (:mod:`.gcguard`) for a write; nested writes of a thread take it once."""
        depth = getattr(self._writes, "depth", 0)
        with self.refs.gc_guard(exclusive=False) if not depth else contextlib.nullcontext():
            self._writes.depth = depth + 1
            try:
                yield
            finally:
                self._writes.depth = depth

    def _queue(self, ref: str) -> CommitQueue:
        with self._queues_guard:
            return self._queues.setdefault(ref, CommitQueue())

    def _commit_batch(
        self,
        ref: str,
        branch: str,
        batch: builtins.list[CommitRequest],
        more: Callable[[], builtins.list[CommitRequest]],
    ) -> None:
        """Commit ``batch`` as a chain on ``ref`` with one object write and one ref swap.

        Writers sharing :meth:`RefPort.writer_lock` queue on it instead of each building a
        commit that all but one then throw away; the compare-and-swap still settles races
        with writers outside the lock (another host, git itself): the loser re-reads the head
        and rebuilds the chain on it. A request whose paths changed under it fails alone.
        Once the lock is held, ``more()`` adds the requests that queued while it was awaited:
        the longer other processes keep the branch, the larger the batch that follows.
        """
        self._look_up_bases(ref, batch)
        with self.refs.writer_lock(ref):
            batch.extend(more())
            built = self._swap_in(ref, branch, batch)
        # Done only now: a swap made under the writer lock is durable once it is released.
        for request, commit in built:
            request.finish(result=self._commit_value(commit))

    def _swap_in(
        self, ref: str, branch: str, batch: builtins.list[CommitRequest]
    ) -> builtins.list[tuple[CommitRequest, GitCommit]]:
        """Build ``batch`` as a chain on ``ref``'s current head and swap it in, retrying lost swaps.

        Returns the requests committed with their commits; a request that failed alone is
        finished with its error here.
        """
        attempt = 0
        while True:
            attempt += 1
            current = self.refs.get(ref)
            pending = PendingObjects(self.reader)
            ops = TreeOps(pending)
            tip, tip_tree = current, (self.reader.commit(current).tree if current else None)
            built: builtins.list[tuple[CommitRequest, GitCommit]] = []
            for request in batch:
                if request.done:
                    continue
                mark = pending.mark()
                try:
                    tip_tree, commit = self._chain_one(request, tip, tip_tree, ops, branch)
                except ArtifactStoreError as exc:
                    pending.rollback(mark)  # a failed request leaves no object behind
                    request.finish(error=exc)
                    continue
                # Small blobs go out with the trees and the commits: one durable batch.
                for blob in request.blobs:
                    pending.add(blob)
                pending.add(commit)
                built.append((request, commit))
                tip = commit.id
            if not built:
                return built
            pending.flush()
            faults.point("after-trees")
            faults.point("before-ref-swap")
            if self.refs.compare_and_swap(ref, current, tip):
                faults.point("after-ref-swap")
                log.debug("committed %d commit(s) on %s after %d attempt(s)", len(built), branch, attempt)
                return built
            if attempt >= MAX_ATTEMPTS:
                raise Conflict(
                    f"gave up committing to branch {branch!r} after {attempt} attempts; other writers keep moving it"
                )
            time.sleep(random.uniform(0, min(MAX_BACKOFF, 0.005 * 2 ** min(attempt, 7))))

    def _look_up_bases(self, ref: str, batch: builtins.list[CommitRequest]) -> None:
        """Before the writer lock: what the paths of requests that will need a rebase held.

        Every request but the first of a batch, and any whose branch moved since it read its
        head, is rebased onto the tip; reading its base trees here keeps those reads (often
        trees another process wrote, so not cached) out of the section other writers wait for.
        """
        current = self.refs.get(ref)
        ops: TreeOps | None = None
        for i, request in enumerate(batch):
            if request.before is not None or request.expects_head or (i == 0 and request.head == current):
                continue
            ops = ops or TreeOps(PendingObjects(self.reader))
            with contextlib.suppress(ArtifactStoreError):  # a damaged base: its request fails alone, later
                request.before = _paths_at(ops, request.base_tree, request.items)

    def _chain_one(
        self, request: CommitRequest, tip: bytes | None, tip_tree: bytes | None, ops: TreeOps, branch: str
    ) -> tuple[bytes, GitCommit]:
        """Build ``request``'s tree and commit on ``tip``; return the new tree id and the commit."""
        items = request.items
        if tip != request.head:
            if request.expects_head:
                raise HeadMoved(f"branch {branch!r} moved to {_short(tip)} while committing")
            # Re-apply onto the new head if it left our paths alone.
            before = request.before if request.before is not None else _paths_at(ops, request.base_tree, items)
            items = self._rebase_items(items, before, tip_tree, branch, ops)
        tree_id = self._apply(items, tip_tree, ops)
        return tree_id, _make_commit(tree_id, [tip] if tip else [], request.author, request.message)

    def _rebase_items(
        self,
        items: dict[str, TreeItem | None],
        before: dict[str, TreeItem | None],
        new_tree: bytes | None,
        branch: str,
        ops: TreeOps,
    ) -> dict[str, TreeItem | None]:
        """``items`` to apply on ``new_tree``, given what their paths held in the base tree."""
        kept: dict[str, TreeItem | None] = {}
        conflicts = []
        for path, item in items.items():
            after = ops.lookup_path(new_tree, path) if new_tree else None
            if before[path] == after:
                kept[path] = item
            elif after == item:
                continue  # somebody wrote exactly what we meant to
            else:
                conflicts.append(path)
        if conflicts:
            raise Conflict(
                f"{', '.join(repr(p) for p in conflicts)} changed concurrently on branch {branch!r}; "
                "re-read and commit again",
                conflicts,
            )
        return kept

    def _apply(self, items: dict[str, TreeItem | None], root: bytes | None, ops: TreeOps | None = None) -> bytes:
        ops = ops or self._ops()
        nested = {tuple(p.encode("utf-8").split(b"/")): item for p, item in items.items()}
        new_root = _apply_dir(ops, root, nested, "")
        return new_root if new_root is not None else ops.empty_tree()

    def _stage_content(
        self, wanted: dict[str, Operation], *, before_write: Callable[[], None]
    ) -> tuple[dict[str, TreeItem | None], int | None, int, builtins.list[Blob]]:
        """Store every put's bytes; return tree items, logical and new bytes, and blobs left to write.

        Logical bytes count every file the commit writes (``None`` for a commit of deletes
        only); new bytes count what neither the content store nor the object store held.
        Inline blobs are written in batches of at most :data:`BLOB_BATCH_BYTES`; the last
        batch is returned so that it is written together with the commit's trees.
        ``before_write`` runs before the first byte goes to either store.
        """
        items: dict[str, TreeItem | None] = {}
        logical: int | None = None
        new = 0
        blobs: builtins.list[Blob] = []
        seen: set[bytes] = set()
        batch_bytes = 0
        for path, change in wanted.items():
            if isinstance(change, Delete):
                items[path] = None
                continue
            blob, info = self._blob_for(path, change, before_write)
            items[path] = TreeItem(FILE_MODE, blob.id)
            size = info.size if info is not None else blob.raw_length()
            logical = (logical or 0) + size
            if info is not None:
                new += info.new_bytes
            elif blob.id not in seen and not self.objects.contains(blob.id):
                new += size
            if blob.id in seen:
                continue
            seen.add(blob.id)
            blobs.append(blob)
            batch_bytes += blob.raw_length()
            if batch_bytes > BLOB_BATCH_BYTES:
                before_write()
                self.reader.write(blobs)
                blobs, batch_bytes = [], 0
        return items, logical, new, blobs

    def _kept_inline(self, head: bytes) -> bool:
        """Whether a file starting with (or, up to ``inline_threshold + 1`` bytes, being) ``head`` is stored as a blob."""
        return len(head) <= self.inline_threshold and parse_pointer(head) is None

    def _blob_for(self, path: str, change: Put, before_write: Callable[[], None]) -> tuple[Blob, ContentInfo | None]:
        try:
            stream, owned = as_stream(change.source)
        except FileNotFoundError:
            raise NotFound(f"source file {str(change.source)!r} for {path!r} does not exist") from None
        except IsADirectoryError:
            raise IsADirectory(f"source {str(change.source)!r} for {path!r} is a directory; use upload_dir") from None
        except TypeError as exc:
            raise InvalidInput(f"cannot write {path!r}: {exc}") from None
        try:
            head = read_at_most(stream, self.inline_threshold + 1)
            if self._kept_inline(head):
                return Blob.from_string(head), None
            local = os.fspath(change.source) if isinstance(change.source, (str, os.PathLike)) else None
            size_hint = os.stat(local).st_size if local else None
            reader = PrefixedReader(head, stream, fault_after=(size_hint or 2 * len(head)) // 2)
            before_write()
            info = self.content.write(reader, size_hint=size_hint, local_path=local)  # type: ignore[arg-type]
            return Blob.from_string(encode_pointer(info)), info
        finally:
            if owned:
                stream.close()

    def _check_branch_writable(self, branch: str) -> None:
        """Hook for backends: raise :class:`~artifactstore.errors.WriteRefused` before anything
        is stored when ``branch`` must not be written (git: it is checked out in a working tree)."""

    # ================================================================== history
    def _commit_value(self, commit: GitCommit) -> Commit:
        message = commit.message.decode("utf-8", "replace")
        logical = new = None
        match = _TRAILER.search(message)
        if match:
            logical, new = int(match.group(1)), int(match.group(2))
            message = message[: match.start()]
        tz = timezone(timedelta(seconds=commit.commit_timezone))
        return Commit(
            id=commit.id.decode(),
            tree=commit.tree.decode(),
            parents=tuple(p.decode() for p in commit.parents),
            message=message.rstrip("\n"),
            author=commit.author.decode("utf-8", "replace"),
            time=datetime.fromtimestamp(commit.commit_time, tz),
            logical_bytes=logical,
            new_bytes=new,
        )

    def get_commit(self, rev: str | None = None) -> Commit:
        return self._commit_value(self.reader.commit(self._resolve(rev)))

    def log(self, rev: str | None = None, *, path: str | None = None, limit: int | None = None) -> Iterator[Commit]:
        if path is not None:
            validate_path(path, allow_root=True)
        if limit is not None and limit < 0:
            raise InvalidInput(f"limit must be >= 0, got {limit}")
        start = self._resolve(rev)
        return self._log(start, path, limit)

    def _log(self, start: bytes, path: str | None, limit: int | None) -> Iterator[Commit]:
        ops = self._ops()
        count = 0
        for commit in walk(self.reader, start):
            if limit is not None and count >= limit:
                return
            if path:
                mine = ops.lookup_path(commit.tree, path)
                others = [ops.lookup_path(self.reader.commit(p).tree, path) for p in commit.parents]
                if (not others and mine is None) or any(o == mine for o in others):
                    continue
            count += 1
            yield self._commit_value(commit)

    def diff(self, a: str, b: str | None = None, *, prefix: str | None = None) -> builtins.list[Change]:
        if prefix:
            validate_path(prefix)
        ops = self._ops()
        tree_a, tree_b = self._root(a), self._root(b)
        if prefix:
            item_a, item_b = ops.lookup_path(tree_a, prefix), ops.lookup_path(tree_b, prefix)
            sub_a = item_a.sha if item_a and item_a.is_dir else None
            sub_b = item_b.sha if item_b and item_b.is_dir else None
            raw = list(diff_dirs(ops, sub_a, sub_b, prefix))
            file_a = item_a if item_a and not item_a.is_dir else None
            file_b = item_b if item_b and not item_b.is_dir else None
            if file_a != file_b:
                raw.append((prefix, file_a, file_b))
        else:
            raw = list(diff_dirs(ops, tree_a, tree_b))
        changes = []
        for path, old, new in sorted(raw, key=lambda c: c[0]):
            kind = "added" if old is None else "deleted" if new is None else "modified"
            changes.append(
                Change(
                    kind,  # type: ignore[arg-type]
                    path,
                    self._entry(path, old) if old else None,
                    self._entry(path, new) if new else None,
                )
            )
        return changes

    # ================================================================== refs
    def branches(self) -> dict[str, str]:
        return {k[len(HEADS) :]: v.decode() for k, v in sorted(self.refs.list(HEADS).items())}

    def tags(self) -> dict[str, str]:
        return {k[len(TAGS) :]: self.reader.commit(v).id.decode() for k, v in sorted(self.refs.list(TAGS).items())}

    def _create_ref(self, kind: str, name: str, rev: str | None) -> str:
        with self.writing():  # the revision may be one gc found unreachable
            return self._create_ref_to(kind, name, rev)

    def _create_ref_to(self, kind: str, name: str, rev: str | None) -> str:
        prefix, other = (HEADS, TAGS) if kind == "branch" else (TAGS, HEADS)
        validate_ref_name(name, what=f"{kind} name")
        target = self._resolve(rev)
        if self.refs.get(other + name) is not None:
            what = "tag" if kind == "branch" else "branch"
            raise AlreadyExists(f"a {what} named {name!r} exists; {kind} and {what} names must differ")
        if not self.refs.compare_and_swap(prefix + name, None, target):
            raise AlreadyExists(f"{kind} {name!r} already exists")
        return target.decode()

    def _delete_ref(self, kind: str, name: str) -> None:
        prefix = HEADS if kind == "branch" else TAGS
        validate_ref_name(name, what=f"{kind} name")
        current = self.refs.get(prefix + name)
        if current is None or not self.refs.compare_and_swap(prefix + name, current, None):
            raise NotFound(f"{kind} {name!r} does not exist")

    def create_branch(self, name: str, *, rev: str | None = None) -> str:
        return self._create_ref("branch", name, rev)

    def delete_branch(self, name: str) -> None:
        self._delete_ref("branch", name)

    def create_tag(self, name: str, *, rev: str | None = None) -> str:
        return self._create_ref("tag", name, rev)

    def delete_tag(self, name: str) -> None:
        self._delete_ref("tag", name)

    def merge(self, source: str, *, into: str | None = None, message: str | None = None) -> Commit:
        with self.writing():
            return self._merge(source, into=into, message=message)

    def _merge(self, source: str, *, into: str | None, message: str | None) -> Commit:
        into = validate_ref_name(into or self.default_branch)
        self._check_branch_writable(into)
        source_id = self._resolve(source)
        ref = HEADS + into
        for _attempt in range(MAX_ATTEMPTS):
            head = self.refs.get(ref)
            if head is None:
                raise NotFound(f"branch {into!r} does not exist")
            if is_ancestor(self.reader, source_id, head):
                return self._commit_value(self.reader.commit(head))
            if is_ancestor(self.reader, head, source_id):
                if self.refs.compare_and_swap(ref, head, source_id):
                    return self._commit_value(self.reader.commit(source_id))
                continue
            commit = self._three_way(source, source_id, into, head, message)
            if self.refs.compare_and_swap(ref, head, commit.id):
                return self._commit_value(commit)
        raise Conflict(f"gave up merging into {into!r}: other writers keep moving it")

    def _three_way(self, source: str, source_id: bytes, into: str, head: bytes, message: str | None) -> GitCommit:
        base = merge_base(self.reader, source_id, head)
        base_tree = self.reader.commit(base).tree if base else None
        src_tree = self.reader.commit(source_id).tree
        head_tree = self.reader.commit(head).tree
        ops = self._ops()
        theirs = {p: new for p, _, new in diff_dirs(ops, base_tree, src_tree)}
        ours = {p: new for p, _, new in diff_dirs(ops, base_tree, head_tree)}
        conflicts = sorted(p for p, new in theirs.items() if p in ours and ours[p] != new)
        if conflicts:
            raise Conflict(
                f"cannot merge {source!r} into {into!r}: {len(conflicts)} path(s) changed on both sides: "
                + ", ".join(repr(p) for p in conflicts[:10]),
                conflicts,
            )
        pending = PendingObjects(self.reader)
        ops = TreeOps(pending)
        todo = {p: new for p, new in theirs.items() if p not in ours}
        try:
            tree_id = self._apply(todo, head_tree, ops)
        except (InvalidPath, NotFound, NotADirectory) as exc:
            raise Conflict(f"cannot merge {source!r} into {into!r}: {exc}", list(todo)) from None
        text = message or f"merge {source} into {into}"
        commit = _make_commit(tree_id, [head, source_id], _author(None), text)
        pending.add(commit)
        pending.flush()
        return commit

    # ================================================================== maintenance
    def gc(self, *, dry_run: bool = False, grace_seconds: float = 3600.0) -> GCReport:
        if getattr(self._writes, "depth", 0):
            raise RuntimeError("gc cannot run inside a write of the same store: it waits for every write to finish")
        return maintenance.gc(self, dry_run=dry_run, grace_seconds=grace_seconds)

    def fsck(self) -> FsckReport:
        return maintenance.fsck(self)

    def stats(self, rev: str | None = None) -> StoreStats:
        return maintenance.stats(self, rev)


# ---------------------------------------------------------------------- helpers
def _apply_dir(ops: TreeOps, tree_id: bytes | None, changes: dict[tuple[bytes, ...], TreeItem | None], where: str) -> bytes | None:
    direct: dict[bytes, TreeItem | None] = {}
    nested: dict[bytes, dict[tuple[bytes, ...], TreeItem | None]] = {}
    for parts, item in changes.items():
        if len(parts) == 1:
            direct[parts[0]] = item
        else:
            nested.setdefault(parts[0], {})[parts[1:]] = item
    mods: dict[bytes, TreeItem | None] = {}
    for name, item in direct.items():
        path = _join(where, name)
        existing = ops.lookup(tree_id, name) if tree_id is not None else None
        if item is None:
            if existing is None:
                raise NotFound(f"cannot delete {path!r}: it does not exist")
        elif existing is not None and existing.is_dir and not item.is_dir:
            raise InvalidPath(f"cannot write file {path!r}: a directory of that name exists")
        mods[name] = item
    for name, sub in nested.items():
        path = _join(where, name)
        if name in direct:
            if direct[name] is not None:
                raise InvalidPath(f"cannot write both file {path!r} and paths below it in one commit")
            child = None
        else:
            existing = ops.lookup(tree_id, name) if tree_id is not None else None
            if existing is not None and not existing.is_dir:
                if any(v is not None for v in sub.values()):
                    raise InvalidPath(f"cannot write below {path!r}: it is a file")
                raise NotFound(f"cannot delete below {path!r}: it is a file")
            child = existing.sha if existing else None
        new_child = _apply_dir(ops, child, sub, path)
        mods[name] = TreeItem(DIR_MODE, new_child) if new_child is not None else None
    return ops.update(tree_id, mods, where=where)


def _paths_at(ops: TreeOps, tree: bytes | None, paths: Iterable[str]) -> dict[str, TreeItem | None]:
    return {path: ops.lookup_path(tree, path) if tree else None for path in paths}


def _join(where: str, name: bytes) -> str:
    return f"{where}/{name.decode()}" if where else name.decode()


def _changes_by_path(changes: list[Operation]) -> dict[str, Operation]:
    wanted: dict[str, Operation] = {}
    if not changes:
        raise InvalidInput("a commit needs at least one change")
    for change in changes:
        if not isinstance(change, (Put, Delete)):
            raise InvalidInput(f"commit changes must be Put or Delete, got {type(change).__name__}")
        path = validate_path(change.path)
        if path in wanted:
            raise InvalidPath(f"path {path!r} appears more than once in one commit")
        if isinstance(change, Put):
            _check_source(path, change.source)
        wanted[path] = change
    return wanted


def _check_source(path: str, source: object) -> None:
    if isinstance(source, (bytes, bytearray, memoryview)) or hasattr(source, "read"):
        return
    if isinstance(source, (str, os.PathLike)):
        if not os.path.exists(source):
            raise NotFound(f"source file {os.fspath(source)!r} for {path!r} does not exist")
        if os.path.isdir(source):
            raise IsADirectory(f"source {os.fspath(source)!r} for {path!r} is a directory; use upload_dir")
        return
    raise InvalidInput(f"cannot write {path!r} from a {type(source).__name__}; pass bytes, a file path or a binary stream")


def _author(author: str | None) -> bytes:
    if author is None:
        author = os.environ.get("ARTIFACTSTORE_AUTHOR") or _default_author()
    if not isinstance(author, str) or not _AUTHOR.match(author):
        raise InvalidInput(f"author {author!r} must look like 'Name <email>'")
    return author.encode("utf-8")


@functools.cache
def _default_author() -> str:
    # Once per process: getpass reads the password database and the host name costs a
    # system call, on every commit otherwise.
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "artifactstore"
    host = socket.gethostname() or "localhost"
    return f"{user} <{user}@{host}>"


def _message(message: str | None, changes: list[Operation]) -> str:
    if message is None or message == "":
        if len(changes) == 1:
            change = changes[0]
            verb = "put" if isinstance(change, Put) else "delete"
            return f"{verb} {getattr(change, 'path', '?')}"
        return f"{len(changes)} changes"
    if not isinstance(message, str) or "\x00" in message:
        raise InvalidInput(f"commit message {message!r} must be a string without NUL characters")
    return message


def _expected_head(expect_head: str | None) -> str | None:
    if expect_head is None or expect_head == "":
        return expect_head
    if not isinstance(expect_head, str) or not re.fullmatch(r"[0-9a-f]{40}", expect_head):
        raise InvalidRevision(f"expect_head {expect_head!r} must be a full 40-character commit id or ''")
    return expect_head


def _make_commit(tree: bytes, parents: list[bytes], author: bytes, message: str) -> GitCommit:
    commit = GitCommit()
    commit.tree = tree
    commit.parents = [ObjectID(p) for p in parents]
    commit.author = commit.committer = author
    now = int(time.time())
    offset = -time.altzone if time.daylight and time.localtime(now).tm_isdst > 0 else -time.timezone
    commit.author_time = commit.commit_time = now
    commit.author_timezone = commit.commit_timezone = offset
    commit.encoding = b"UTF-8"
    commit.message = message.encode("utf-8") if message.endswith("\n") else (message + "\n").encode("utf-8")
    return commit


def _short(oid: bytes | None) -> str:
    return oid.decode()[:12] if oid else "(no commit)"


def _content_missing(sha256: str, path: str) -> NotFound:
    return NotFound(f"content {sha256} of {path!r} is missing from the content store; run 'artifactstore fsck'")


__all__ = ["DEFAULT_INLINE_THRESHOLD", "HEADS", "TAGS", "EngineStore"]
