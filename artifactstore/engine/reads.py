"""The engine's read side: revisions, files, listings, history and diff."""

from __future__ import annotations

import builtins
import hashlib
import io
import threading
from collections.abc import Iterator, Mapping
from typing import BinaryIO, NamedTuple

from ..errors import InvalidInput, InvalidRevision, IsADirectory, NotADirectory, NotFound, RevisionNotFound
from ..store import ArtifactStore
from ..validation import is_hex_id, split_revision, validate_path
from ..values import Change, Commit, Entry
from .commits import CommitMessage, check_trailers, commit_value
from .diff import diff_dirs, walk_files
from .history import walk
from .objects import ObjectReader, PendingObjects
from .pointer import parse_pointer
from .ports import ContentInfo, ContentPort, ObjectPort, RefPort
from .streams import VerifiedReader
from .tree import TreeItem, TreeOps

HEADS = "refs/heads/"
TAGS = "refs/tags/"
#: Inline blobs whose SHA-256 is remembered (stat and list of small files hash them once).
SHA256_CACHE_ITEMS = 200_000


class FileInfo(NamedTuple):
    """A file blob: its size and SHA-256, and where its bytes are (a content pointer, or inline)."""

    size: int
    sha256: str
    pointer: ContentInfo | None
    data: bytes | None


class EngineReads(ArtifactStore):
    """Every read of :class:`~artifactstore.engine.EngineStore`, on its object, ref and content ports."""

    objects: ObjectPort
    refs: RefPort
    content: ContentPort
    reader: ObjectReader
    inline_threshold: int
    _sha256_cache: dict[bytes, tuple[int, str]]
    _cache_lock: threading.Lock

    # ------------------------------------------------------------------ revisions
    def resolve(self, rev: str | None = None) -> str:
        return self.resolve_id(rev).decode()

    def resolve_id(self, rev: str | None) -> bytes:
        """The commit id ``rev`` names, as the ports spell ids (40 hex ASCII bytes)."""
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
                matches = {c.id for head in self.ref_heads() for c in walk(self.reader, head) if c.id.decode().startswith(base)}
                if len(matches) == 1:
                    return matches.pop()
                if len(matches) > 1:
                    raise InvalidRevision(f"revision {rev!r} is ambiguous: {len(matches)} commits start with it")
        raise RevisionNotFound(f"revision {rev!r} is not a branch, tag or commit of this store")

    def ref_heads(self) -> builtins.list[bytes]:
        """The commit of every branch and tag, each once."""
        return list({*self.refs.list(HEADS).values(), *self.refs.list(TAGS).values()})

    def root_tree(self, rev: str | None) -> bytes:
        """The id of the root tree at ``rev``."""
        return bytes(self.reader.commit(self.resolve_id(rev)).tree)

    def tree_ops(self) -> TreeOps:
        """Tree lookups on this store's objects (read-only use)."""
        return TreeOps(PendingObjects(self.reader))

    # ------------------------------------------------------------------ files
    def _item(self, path: str, rev: str | None) -> tuple[TreeItem, TreeOps]:
        validate_path(path, allow_root=True)
        ops = self.tree_ops()
        item = ops.lookup_path(self.root_tree(rev), path)
        if item is None:
            raise NotFound(f"{path!r} does not exist at revision {rev or self.default_branch!r}")
        return item, ops

    def file_info(self, item: TreeItem) -> FileInfo:
        """Size, SHA-256 and where the bytes are, of the file blob ``item``."""
        data = self.reader.blob(item.sha).as_raw_string()
        info = parse_pointer(data)
        if info is not None:
            return FileInfo(info.size, info.sha256, info, None)
        with self._cache_lock:
            cached = self._sha256_cache.get(item.sha)
        if cached is None:
            cached = (len(data), hashlib.sha256(data).hexdigest())
            with self._cache_lock:
                if len(self._sha256_cache) > SHA256_CACHE_ITEMS:
                    self._sha256_cache.clear()
                self._sha256_cache[item.sha] = cached
        return FileInfo(cached[0], cached[1], None, data)

    def find_file(self, path: str, rev: str | None) -> FileInfo:
        """:meth:`file_info` of the file at ``path``; a directory is refused."""
        item, _ = self._item(path, rev)
        if item.is_dir:
            raise IsADirectory(f"{path!r} is a directory; list it or download it instead")
        return self.file_info(item)

    def _entry(self, path: str, item: TreeItem) -> Entry:
        if item.is_dir:
            return Entry(path, "dir")
        info = self.file_info(item)
        return Entry(path, "file", info.size, info.sha256)

    def stat(self, path: str, *, rev: str | None = None) -> Entry:
        item, _ = self._item(path, rev)
        return self._entry(path, item)

    def open(self, path: str, *, rev: str | None = None) -> BinaryIO:
        info = self.find_file(path, rev)
        if info.pointer is None:
            assert info.data is not None
            return io.BytesIO(info.data)
        try:
            inner = self.content.open(info.pointer)
        except KeyError:
            raise content_missing(info.sha256, path) from None
        label = f"content of {path!r} ({info.sha256[:12]})"
        return VerifiedReader(inner, sha256=info.sha256, size=info.size, label=label)  # type: ignore[return-value]

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

    # ------------------------------------------------------------------ history
    def get_commit(self, rev: str | None = None) -> Commit:
        return commit_value(self.reader.commit(self.resolve_id(rev)))

    def log(
        self,
        rev: str | None = None,
        *,
        path: str | None = None,
        limit: int | None = None,
        trailers: Mapping[str, str] | None = None,
    ) -> Iterator[Commit]:
        if path is not None:
            validate_path(path, allow_root=True)
        if limit is not None and limit < 0:
            raise InvalidInput(f"limit must be >= 0, got {limit}")
        wanted = dict(check_trailers(trailers, reserved_ok=True))
        start = self.resolve_id(rev)
        return self._log(start, path, limit, wanted)

    def _log(self, start: bytes, path: str | None, limit: int | None, trailers: Mapping[str, str]) -> Iterator[Commit]:
        ops = self.tree_ops()
        count = 0
        for commit in walk(self.reader, start):
            if limit is not None and count >= limit:
                return
            if trailers and not CommitMessage.parse(commit.message.decode("utf-8", "replace")).has(trailers):
                continue
            if path:
                mine = ops.lookup_path(commit.tree, path)
                others = [ops.lookup_path(self.reader.commit(p).tree, path) for p in commit.parents]
                if (not others and mine is None) or any(o == mine for o in others):
                    continue
            count += 1
            yield commit_value(commit)

    def diff(self, a: str, b: str | None = None, *, prefix: str | None = None) -> builtins.list[Change]:
        if prefix:
            validate_path(prefix)
        ops = self.tree_ops()
        tree_a, tree_b = self.root_tree(a), self.root_tree(b)
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


def content_missing(sha256: str, path: str) -> NotFound:
    """The error for a file whose pointer names content the content port does not have."""
    return NotFound(f"content {sha256} of {path!r} is missing from the content store; run 'artifactstore fsck'")


__all__ = ["HEADS", "TAGS", "EngineReads", "FileInfo", "content_missing"]
