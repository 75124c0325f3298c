"""History-aware expiry: drop history older than a cutoff that no branch or tag still needs.

``expire(store, older_than=timedelta(days=90))`` rewrites every branch and tag so that
commits made before the cutoff ("expired" commits) no longer hold data alive; a later
:meth:`~artifactstore.ArtifactStore.gc` then reclaims the content only they referenced.

Two modes:

* **squash** (no ``path``): each expired commit that a kept commit (or a ref) points at
  directly - the *boundary* - is replaced by a root commit with the **same tree**, author,
  time and message (plus a note). Everything older becomes unreachable. Because the
  boundary keeps its tree, every kept commit shows the same diff against its parent as
  before, and a branch or tag whose head is itself expired still reads back the same files.
* **path** (``path="runs/old"``): no commit is dropped; ``path`` (a file or a directory) is
  removed from the trees of the expired commits only. Kept commits keep their trees.

In both modes kept commits keep their trees, authors, times and messages, but get new ids
because their ancestry changed (as with ``git filter-repo``); :attr:`ExpireReport.commit_map`
maps old ids to new. Branches and tags are moved with compare-and-swap: a branch that
another writer moves meanwhile is rewritten again from its new head. Tags move too (to a
commit with the same tree): a tag pins the files it marks, not the history behind them.
Content a kept commit references is never unreferenced, so gc never loses it; a dry run
reports what gc would free without writing anything.

Running ``expire`` twice with the same cutoff changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from dulwich.objects import Commit as GitCommit
from dulwich.objects import ObjectID

from .engine import CommitMessage, TreeEditor, parse_pointer
from .errors import Conflict, InvalidInput
from .validation import validate_path

if TYPE_CHECKING:
    from .engine import EngineStore

log = logging.getLogger(__name__)

HEADS = "refs/heads/"
TAGS = "refs/tags/"
MAX_REF_ATTEMPTS = 50
_DIR_MODE_MASK = 0o170000
_DIR_MODE = 0o040000


@dataclass(frozen=True, slots=True)
class ExpireReport:
    """What :func:`expire` changed (or with ``dry_run`` would change).

    ``refs`` maps each moved ref (``refs/heads/main``) to ``(old id, new id)``;
    ``commits_expired`` counts expired commits reachable before, ``commits_dropped`` the
    commits no ref reaches afterwards and that have no rewritten copy, ``commits_rewritten``
    those replaced by a copy (see ``commit_map``). ``content_freed``/``content_bytes`` are the content files
    (and their logical bytes) no remaining commit references and ``inline_bytes`` the small
    files stored inline that became unreferenced: what the next ``gc`` reclaims from this
    expiry (plus commits and trees).
    """

    cutoff: datetime
    path: str | None
    dry_run: bool
    refs: dict[str, tuple[str, str]]
    commits_expired: int
    commits_dropped: int
    commits_rewritten: int
    content_freed: int
    content_bytes: int
    inline_bytes: int
    commit_map: dict[str, str] = field(default_factory=dict)

    @property
    def bytes_freed(self) -> int:
        return self.content_bytes + self.inline_bytes


def parse_duration(text: str) -> timedelta:
    """``"90d"``, ``"12h"``, ``"2w"``, ``"30m"``, ``"45s"`` (or combined: ``"1d12h"``) as a timedelta."""
    import re

    units = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)([wdhms])", text.strip().lower())
    if not parts or "".join(n + u for n, u in parts) != text.strip().lower():
        raise InvalidInput(f"duration {text!r} is not like 90d, 12h, 2w, 30m or 1d12h")
    return timedelta(seconds=sum(float(n) * units[u] for n, u in parts))

#: The trailer a squashed commit carries, saying what it stands for.
EXPIRED_TRAILER = "Artifactstore-Expired"


class _Rewriter:
    """Maps old commit ids to rewritten ones, memoized, writing new objects through a :class:`~artifactstore.engine.TreeEditor`."""

    def __init__(self, store: EngineStore, cutoff: int, path: str | None, note: str) -> None:
        self.store = store
        self.reader = store.reader
        self.cutoff = cutoff
        self.path = path
        self.note = note
        self.editor = TreeEditor(store.reader)
        self.memo: dict[bytes, bytes] = {}
        self.trees: dict[bytes, bytes] = {}

    def expired(self, commit: GitCommit) -> bool:
        return bool(commit.commit_time < self.cutoff)

    def rewrite(self, head: bytes) -> bytes:
        """The rewritten id of ``head`` (iterative post-order: histories are long)."""
        stack = [head]
        while stack:
            oid = stack[-1]
            if oid in self.memo:
                stack.pop()
                continue
            commit = self.reader.commit(oid)
            squash = self.path is None and self.expired(commit)
            todo = [] if squash else [p for p in commit.parents if p not in self.memo]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            self.memo[oid] = self._rewrite_one(oid, commit, squash)
        return self.memo[head]

    def _rewrite_one(self, oid: bytes, commit: GitCommit, squash: bool) -> bytes:
        if squash:
            if not commit.parents:
                return oid
            return self._copy(commit, commit.tree, [], _with_note(commit.message, self.note))
        parents = list(dict.fromkeys(self.memo[p] for p in commit.parents))
        tree = commit.tree
        if self.path is not None and self.expired(commit):
            tree = self._without_path(tree)
        if tree == commit.tree and parents == list(commit.parents):
            return oid
        return self._copy(commit, tree, parents, commit.message)

    def _without_path(self, tree: bytes) -> bytes:
        assert self.path is not None
        if tree not in self.trees:
            if self.editor.lookup_path(tree, self.path) is None:
                self.trees[tree] = tree
            else:
                self.trees[tree] = self.editor.apply(tree, {self.path: None})
        return self.trees[tree]

    def _copy(self, commit: GitCommit, tree: bytes, parents: list[bytes], message: bytes) -> bytes:
        new = GitCommit()
        new.tree = ObjectID(tree)
        new.parents = [ObjectID(p) for p in parents]
        new.author = commit.author
        new.committer = commit.committer
        new.author_time = commit.author_time
        new.commit_time = commit.commit_time
        new.author_timezone = commit.author_timezone
        new.commit_timezone = commit.commit_timezone
        if commit.encoding:
            new.encoding = commit.encoding
        new.message = message
        return self.editor.add(new)

    def commit(self, oid: bytes) -> GitCommit:
        return self.editor.commit(oid)


def _with_note(message: bytes, note: str) -> bytes:
    # The note replaces the trailers: they described what this one commit wrote, not the squashed history.
    text = CommitMessage.parse(message.decode("utf-8", "replace")).text
    return CommitMessage(text, ((EXPIRED_TRAILER, note),)).format().encode("utf-8")


@dataclass
class _Reach:
    commits: set[bytes] = field(default_factory=set)
    expired: int = 0
    blobs: set[bytes] = field(default_factory=set)


def _reach(rw: _Rewriter, heads: Iterable[bytes]) -> _Reach:
    found = _Reach()
    stack = list(heads)
    trees: set[bytes] = set()
    tree_stack: list[bytes] = []
    while stack:
        oid = stack.pop()
        if oid in found.commits:
            continue
        found.commits.add(oid)
        commit = rw.commit(oid)
        found.expired += rw.expired(commit)
        stack.extend(commit.parents)
        tree_stack.append(commit.tree)
    while tree_stack:
        tid = tree_stack.pop()
        if tid in trees:
            continue
        trees.add(tid)
        for entry in rw.editor.tree(tid).iteritems():
            if entry.mode & _DIR_MODE_MASK == _DIR_MODE:
                tree_stack.append(entry.sha)
            else:
                found.blobs.add(entry.sha)
    return found


def expire(
    store: EngineStore,
    *,
    older_than: timedelta | None = None,
    before: datetime | None = None,
    path: str | None = None,
    dry_run: bool = False,
) -> ExpireReport:
    """Rewrite every branch and tag so history before the cutoff holds no data alive.

    Give the cutoff as ``older_than`` (relative to now) or ``before`` (a timezone-aware
    datetime). See the module documentation for the two modes; run
    :meth:`~artifactstore.ArtifactStore.gc` afterwards to reclaim the space.
    """
    if (older_than is None) == (before is None):
        raise InvalidInput("give exactly one of older_than (a duration) or before (a datetime)")
    if older_than is not None:
        if older_than < timedelta(0):
            raise InvalidInput(f"older_than {older_than} is negative; give a duration like 90d")
        cutoff = datetime.now(timezone.utc) - older_than
    else:
        assert before is not None
        if before.tzinfo is None:
            raise InvalidInput(f"before {before.isoformat()} has no time zone; give an aware datetime")
        cutoff = before
    if path is not None:
        validate_path(path, what="expire path")
    if not hasattr(store, "refs") or not hasattr(store, "reader"):
        raise InvalidInput(f"{type(store).__name__} is not built on the commit engine; expire needs an EngineStore")
    note = f"history before {cutoff.isoformat(timespec='seconds')} squashed"
    with store.writing():  # a rewritten commit may be one gc found unreachable (expire run again)
        rw = _Rewriter(store, int(cutoff.timestamp()), path, note)

        old_refs = {**store.refs.list(HEADS), **store.refs.list(TAGS)}
        new_refs = {name: rw.rewrite(oid) for name, oid in old_refs.items()}
        old_reach = _reach(rw, old_refs.values())
        new_reach = _reach(rw, new_refs.values())
        moved: dict[str, tuple[str, str]] = {}
        if not dry_run:
            rw.editor.flush()  # objects are durable before any ref points at them
            for name, old in old_refs.items():
                final = _move_ref(store, rw, name, old, new_refs[name])
                if final is not None:
                    moved[name] = final
            now = [oid for name in old_refs if (oid := store.refs.get(name)) is not None]
            new_reach = _reach(rw, now)
        else:
            moved = {n: (o.decode(), new_refs[n].decode()) for n, o in old_refs.items() if new_refs[n] != o}

    content_freed, content_bytes, inline_bytes = _freed(store, old_reach.blobs, new_reach.blobs)
    commit_map = {o.decode(): n.decode() for o, n in rw.memo.items() if o != n and n in new_reach.commits}
    report = ExpireReport(
        cutoff=cutoff,
        path=path,
        dry_run=dry_run,
        refs=moved,
        commits_expired=old_reach.expired,
        commits_dropped=len({c for c in old_reach.commits - new_reach.commits if c.decode() not in commit_map}),
        commits_rewritten=len(commit_map),
        content_freed=content_freed,
        content_bytes=content_bytes,
        inline_bytes=inline_bytes,
        commit_map=commit_map,
    )
    log.info(
        "expire %s %d refs; %d content files (%d bytes) and %d inline bytes become unreferenced",
        "would move" if dry_run else "moved",
        len(moved),
        content_freed,
        content_bytes,
        inline_bytes,
    )
    return report


def _move_ref(store: EngineStore, rw: _Rewriter, name: str, old: bytes, new: bytes) -> tuple[str, str] | None:
    """Compare-and-swap ``name`` from ``old`` to ``new``; rewrite again from wherever a writer moved it."""
    first = old
    for _attempt in range(MAX_REF_ATTEMPTS):
        if new == old:
            return None if old == first else (first.decode(), new.decode())
        if store.refs.compare_and_swap(name, old, new):
            return first.decode(), new.decode()
        current = store.refs.get(name)
        if current is None:
            log.info("%s was deleted while expiring; leaving it deleted", name)
            return None
        old = current
        new = rw.rewrite(current)
        rw.editor.flush()
    raise Conflict(f"gave up expiring {name}: other writers keep moving it; run expire again")


def _freed(store: EngineStore, old_blobs: set[bytes], new_blobs: set[bytes]) -> tuple[int, int, int]:
    """Content files, their bytes, and inline bytes referenced before but not after."""
    kept_content: set[str] = set()
    for blob in new_blobs:
        info = parse_pointer(store.reader.blob(blob).as_raw_string())
        if info is not None:
            kept_content.add(info.sha256)
    gone_content: dict[str, int] = {}
    inline = 0
    for blob in old_blobs - new_blobs:
        data = store.reader.blob(blob).as_raw_string()
        info = parse_pointer(data)
        if info is None:
            inline += len(data)
        elif info.sha256 not in kept_content:
            gone_content[info.sha256] = info.size
    return len(gone_content), sum(gone_content.values()), inline


__all__ = ["ExpireReport", "expire", "parse_duration"]
