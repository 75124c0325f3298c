"""Logical directories on git trees, with a hash fan-out for large ones.

A directory of up to :data:`LEAF_MAX` entries is an ordinary git tree, so ``git show``
and ``git ls-tree`` show it as it is. A larger one becomes a 16-way fan-out on the SHA-1 of
each casefolded entry name (one hex digit per level), the way git notes fan out: subtree
entries are named ``:0`` ... ``:f``, a name no artifact path can contain, and a node splits
when it would exceed :data:`LEAF_MAX` entries and collapses back when its entries fit in
one leaf again. The shape is therefore a pure function of the directory's contents (equal
directories have equal tree ids), and a commit rewrites one node per level: O(log n) bytes,
never the whole directory.

Because names that differ only by case hash to the same bucket, the case-collision check
looks at one leaf, never at the whole directory.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from dulwich.objects import ObjectID, Tree

from ..errors import InvalidPath, NotADirectory, NotFound
from .objects import PendingObjects

LEAF_MAX = 128
FANOUT_PREFIX = b":"
DIR_MODE = stat.S_IFDIR
FILE_MODE = 0o100644


@dataclass(frozen=True, slots=True)
class TreeItem:
    mode: int
    sha: bytes

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


# A modification of one directory: name -> new item, or None to delete.
Mods = Mapping[bytes, "TreeItem | None"]


def bucket_key(name: bytes) -> str:
    return hashlib.sha1(name.decode("utf-8").casefold().encode("utf-8")).hexdigest()


def is_fanout(tree: Tree) -> bool:
    # A fan-out node holds only ":x" entries and a leaf none (user names cannot contain ":"),
    # so any one name decides; iterating names avoids sorting the whole tree.
    for name in tree:
        return bool(name.startswith(FANOUT_PREFIX))
    return False


def _by_bucket(mods: Mods, depth: int) -> dict[bytes, dict[bytes, TreeItem | None]]:
    by_bucket: dict[bytes, dict[bytes, TreeItem | None]] = {}
    for name, item in mods.items():
        by_bucket.setdefault(FANOUT_PREFIX + bucket_key(name)[depth].encode(), {})[name] = item
    return by_bucket


class TreeOps:
    """Reads and rewrites logical directories; new trees go to ``pending``."""

    def __init__(self, pending: PendingObjects) -> None:
        self.pending = pending

    # ------------------------------------------------------------------ reading
    def entries(self, tree_id: bytes) -> Iterator[tuple[bytes, TreeItem]]:
        """Every entry of a logical directory (fan-out flattened), unsorted."""
        tree = self.pending.tree(tree_id)
        if is_fanout(tree):
            for entry in tree.iteritems():
                yield from self.entries(entry.sha)
        else:
            for entry in tree.iteritems():
                yield entry.path, TreeItem(entry.mode, entry.sha)

    def lookup(self, tree_id: bytes, name: bytes) -> TreeItem | None:
        """The entry ``name`` of a logical directory, or ``None``."""
        key = None
        depth = 0
        tree = self.pending.tree(tree_id)
        while is_fanout(tree):
            key = key or bucket_key(name)
            child = _get(tree, FANOUT_PREFIX + key[depth].encode())
            if child is None:
                return None
            tree = self.pending.tree(child.sha)
            depth += 1
        return _get(tree, name)

    def lookup_path(self, root: bytes, path: str) -> TreeItem | None:
        """The entry at ``path`` ("" is the root itself), or ``None`` when absent."""
        item = TreeItem(DIR_MODE, root)
        if path == "":
            return item
        for segment in path.encode("utf-8").split(b"/"):
            if not item.is_dir:
                return None
            found = self.lookup(item.sha, segment)
            if found is None:
                return None
            item = found
        return item

    def require_dir(self, root: bytes, path: str) -> bytes:
        item = self.lookup_path(root, path)
        if item is None:
            raise NotFound(f"directory {path!r} does not exist")
        if not item.is_dir:
            raise NotADirectory(f"{path!r} is a file, not a directory")
        return item.sha

    # ------------------------------------------------------------------ writing
    def update(self, tree_id: bytes | None, mods: Mods, *, where: str, depth: int = 0) -> bytes | None:
        """Apply ``mods`` to one logical directory; return its new tree id, ``None`` if now empty."""
        tree = self.pending.tree(tree_id) if tree_id is not None else Tree()
        if is_fanout(tree):
            return self._update_fanout(tree, mods, where=where, depth=depth)
        entries = {e.path: TreeItem(e.mode, e.sha) for e in tree.iteritems()}
        _apply_leaf(entries, mods, where)
        if len(entries) > LEAF_MAX:
            return self._build(entries, depth)
        return self._write_leaf(entries)

    def _update_fanout(self, tree: Tree, mods: Mods, *, where: str, depth: int) -> bytes | None:
        children: dict[bytes, bytes] = {e.path: e.sha for e in tree.iteritems()}
        for bucket, bucket_mods in _by_bucket(mods, depth).items():
            new_child = self.update(children.get(bucket), bucket_mods, where=where, depth=depth + 1)
            if new_child is None:
                children.pop(bucket, None)
            else:
                children[bucket] = new_child
        if not children:
            return None
        if any(item is None for item in mods.values()):
            collapsed = self._try_collapse(children)
            if collapsed is not None:
                return self._write_leaf(collapsed) if collapsed else None
        node = Tree()
        for bucket, sha in children.items():
            node.add(bucket, DIR_MODE, ObjectID(sha))
        return self.pending.add(node)

    def _try_collapse(self, children: dict[bytes, bytes]) -> dict[bytes, TreeItem] | None:
        """All entries below a fan-out node when they fit in one leaf, else ``None``."""
        merged: dict[bytes, TreeItem] = {}
        for sha in children.values():
            child = self.pending.tree(sha)
            if is_fanout(child):
                return None
            for e in child.iteritems():
                merged[e.path] = TreeItem(e.mode, e.sha)
            if len(merged) > LEAF_MAX:
                return None
        return merged

    def _build(self, entries: dict[bytes, TreeItem], depth: int) -> bytes:
        if len(entries) <= LEAF_MAX:
            written = self._write_leaf(entries)
            assert written is not None
            return written
        buckets: dict[bytes, dict[bytes, TreeItem]] = {}
        for name, item in entries.items():
            buckets.setdefault(FANOUT_PREFIX + bucket_key(name)[depth].encode(), {})[name] = item
        node = Tree()
        for bucket, sub in buckets.items():
            node.add(bucket, DIR_MODE, ObjectID(self._build(sub, depth + 1)))
        return self.pending.add(node)

    def _write_leaf(self, entries: Mapping[bytes, TreeItem]) -> bytes | None:
        if not entries:
            return None
        tree = Tree()
        for name, item in entries.items():
            tree.add(name, item.mode, ObjectID(item.sha))
        return self.pending.add(tree)

    def empty_tree(self) -> bytes:
        return self.pending.add(Tree())


#: What :class:`CheckOps` returns for a directory it did not build.
UNBUILT = b"0" * 40


class CheckOps(TreeOps):
    """The checks :meth:`TreeOps.update` makes, without building or hashing any tree.

    A commit validates its paths against the current tree with this before it stores a
    byte; it reads only the leaves the changed names fall in. Returned ids are
    :data:`UNBUILT`, never to be stored.
    """

    def update(self, tree_id: bytes | None, mods: Mods, *, where: str, depth: int = 0) -> bytes | None:
        tree = self.pending.tree(tree_id) if tree_id is not None else Tree()
        if is_fanout(tree):
            children = {e.path: e.sha for e in tree.iteritems()}
            for bucket, bucket_mods in _by_bucket(mods, depth).items():
                self.update(children.get(bucket), bucket_mods, where=where, depth=depth + 1)
            return UNBUILT
        entries = {e.path: TreeItem(e.mode, e.sha) for e in tree.iteritems()}
        _apply_leaf(entries, mods, where)
        return UNBUILT

    def empty_tree(self) -> bytes:
        return UNBUILT


def _get(tree: Tree, name: bytes) -> TreeItem | None:
    try:
        mode, sha = tree[name]
    except KeyError:
        return None
    return TreeItem(mode, sha)


def _apply_leaf(entries: dict[bytes, TreeItem], mods: Mods, where: str) -> None:
    for name, item in mods.items():
        if item is None:
            entries.pop(name, None)
    folded = {n.decode("utf-8").casefold(): n for n in entries}
    for name, item in mods.items():
        if item is None:
            continue
        if name not in entries:
            key = name.decode("utf-8").casefold()
            other = folded.get(key)
            if other is not None and other != name:
                path = f"{where}/{name.decode()}" if where else name.decode()
                raise InvalidPath(
                    f"path {path!r} differs only by case from existing {other.decode()!r}; "
                    "case-insensitive file systems could not hold both"
                )
            folded[key] = name
        entries[name] = item


__all__ = ["DIR_MODE", "FILE_MODE", "LEAF_MAX", "UNBUILT", "CheckOps", "TreeItem", "TreeOps", "bucket_key", "is_fanout"]
