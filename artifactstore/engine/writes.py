"""The engine's write path: content first, then trees and commits, then one ref swap.

A commit stores its files' bytes (large ones through the content port, small ones as blobs
written with the trees), then joins its branch's queue (:mod:`.group`): one thread builds
every waiting request as a chain of commits, writes their objects in one batch and moves
the branch once, under the branch's writer lock. A lost compare-and-swap re-reads the head
and re-applies the chain on it; a request whose paths changed under it fails alone with
:class:`~artifactstore.errors.Conflict`. Writers hold the gc guard shared (:mod:`.gcguard`)
from their first stored byte to their ref swap.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from dulwich.objects import Blob
from dulwich.objects import Commit as GitCommit

from .. import faults
from ..errors import (
    AlreadyExists,
    ArtifactStoreError,
    Conflict,
    HeadMoved,
    InvalidInput,
    InvalidPath,
    IsADirectory,
    NotFound,
)
from ..store import as_stream
from ..validation import validate_path, validate_ref_name
from ..values import Commit, Delete, Operation, Put
from .commits import (
    CommitMessage,
    author_line,
    check_trailers,
    commit_message,
    commit_value,
    expected_head,
    make_commit,
    short,
)
from .group import CommitQueue, CommitRequest
from .objects import PendingObjects
from .pointer import encode_pointer, parse_pointer
from .ports import ContentInfo
from .reads import HEADS, TAGS, EngineReads
from .rewrite import apply_changes, paths_at
from .streams import PrefixedReader, read_at_most
from .tree import FILE_MODE, CheckOps, TreeItem, TreeOps

log = logging.getLogger(__name__)

_PLACEHOLDER = TreeItem(FILE_MODE, b"0" * 40)
# Per-commit retry budget when other writers keep moving the branch.
MAX_ATTEMPTS = 200
# Inline blobs held in memory before they are written (an upload of many small files).
BLOB_BATCH_BYTES = 32 * 1024 * 1024
MAX_BACKOFF = 0.5


class EngineWrites(EngineReads):
    """Every commit of :class:`~artifactstore.engine.EngineStore`: ``commit`` and what it is built on."""

    _queues: dict[str, CommitQueue]
    _queues_guard: threading.Lock
    _writes: threading.local  # per thread: how deep in writes (the gc guard is taken once)

    def commit(
        self,
        changes: Iterable[Operation],
        *,
        branch: str | None = None,
        message: str | None = None,
        expect_head: str | None = None,
        author: str | None = None,
        trailers: Mapping[str, str] | None = None,
    ) -> Commit:
        with self.writing():
            return self._commit(
                changes, branch=branch, message=message, expect_head=expect_head, author=author, trailers=trailers
            )

    def _commit(
        self,
        changes: Iterable[Operation],
        *,
        branch: str | None,
        message: str | None,
        expect_head: str | None,
        author: str | None,
        trailers: Mapping[str, str] | None,
    ) -> Commit:
        branch = validate_ref_name(branch or self.default_branch)
        self._check_branch_writable(branch)
        ops_in = list(changes)
        wanted = _changes_by_path(ops_in)  # paths first: a bad path is named before anything else
        by = author_line(author)
        text = commit_message(message, ops_in)
        extra = check_trailers(trailers)
        expected = expected_head(expect_head)
        ref = HEADS + branch

        head = self.refs.get(ref)
        if head is None and self.refs.get(TAGS + branch) is not None:
            raise AlreadyExists(f"a tag named {branch!r} exists; commit to a branch with another name")
        if expected is not None and head != (expected.encode() or None):
            raise HeadMoved(f"branch {branch!r} is at {short(head)}, not at expected {expect_head!r}")
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
                apply_changes(CheckOps(PendingObjects(self.reader)), base_tree, placeholders)

        items, logical, new, unwritten = self._stage_content(wanted, before_write=check_paths)
        faults.point("after-content")
        request = CommitRequest(
            items=items,
            head=head,
            base_tree=base_tree,
            expects_head=expected is not None,
            author=by,
            message=CommitMessage(text, extra, logical, new).format(),
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
            request.finish(result=commit_value(commit))

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
                request.before = paths_at(ops, request.base_tree, request.items)

    def _chain_one(
        self, request: CommitRequest, tip: bytes | None, tip_tree: bytes | None, ops: TreeOps, branch: str
    ) -> tuple[bytes, GitCommit]:
        """Build ``request``'s tree and commit on ``tip``; return the new tree id and the commit."""
        items = request.items
        if tip != request.head:
            if request.expects_head:
                raise HeadMoved(f"branch {branch!r} moved to {short(tip)} while committing")
            # Re-apply onto the new head if it left our paths alone.
            before = request.before if request.before is not None else paths_at(ops, request.base_tree, items)
            items = self._rebase_items(items, before, tip_tree, branch, ops)
        tree_id = apply_changes(ops, tip_tree, items)
        return tree_id, make_commit(tree_id, [tip] if tip else [], request.author, request.message)

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

    def kept_inline(self, head: bytes) -> bool:
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
            if self.kept_inline(head):
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


__all__ = ["MAX_ATTEMPTS", "EngineWrites"]
