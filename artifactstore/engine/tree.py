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

import binascii
import hashlib
import stat
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from dulwich.objects import ObjectID, Tree

from ..errors import InvalidPath
from .objects import PendingObjects

LEAF_MAX = 128
FANOUT_PREFIX = b":"
DIR_MODE = stat.S_IFDIR
FILE_MODE = 0o100644


class TreeItem(NamedTuple):
    """One tree entry; a tuple, so dulwich's own ``(mode, sha)`` entries can stand in for it."""

    mode: int
    sha: bytes

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


# A modification of one directory: name -> new item, or None to delete.
Mods = Mapping[bytes, "TreeItem | None"]
# The entries of one tree: name -> (mode, hex sha), as dulwich holds them.
Entries = dict[bytes, tuple[int, bytes]]


def bucket_key(name: bytes) -> str:
    return hashlib.sha1(name.decode("utf-8").casefold().encode("utf-8")).hexdigest()


def is_fanout(tree: Tree) -> bool:
    # A fan-out node holds only ":x" entries and a leaf none (user names cannot contain ":"),
    # so any one name decides; iterating names avoids sorting the whole tree.
    for name in tree:
        return bool(name.startswith(FANOUT_PREFIX))
    return False


def tree_entries(tree: Tree) -> Entries:
    """``tree``'s entries, unsorted (``Tree.iteritems`` sorts them on every call)."""
    return {name: tree[name] for name in tree}


def _git_order(entry: tuple[bytes, tuple[int, bytes]]) -> bytes:
    name, (mode, _) = entry
    return name + b"/" if mode == DIR_MODE else name


def make_tree(entries: Mapping[bytes, tuple[int, bytes]]) -> Tree:
    """A tree of ``entries``, serialized and hashed once.

    A ``Tree`` built with ``add`` serializes itself again for its id, its length and its
    bytes, sorting its entries each time; this writes git's canonical form directly (entries
    in git's order, a directory sorting as if its name ended in ``/``) and gives the tree a
    copy of ``entries`` instead of having dulwich parse the bytes back.
    """
    unhex = binascii.unhexlify
    body = b"".join([b"%04o %s\0%s" % (mode, name, unhex(sha)) for name, (mode, sha) in sorted(entries.items(), key=_git_order)])
    digest = hashlib.sha1(b"tree %d\0" % len(body))
    digest.update(body)
    tree = _BuiltTree()
    tree.set_raw_string(body, ObjectID(digest.hexdigest().encode("ascii")))
    tree._entries = dict(entries)  # type: ignore[arg-type]  # ObjectID is bytes at run time
    return tree


class _BuiltTree(Tree):
    """A tree :func:`make_tree` wrote: its entries are known, so its bytes are not parsed back."""

    __slots__ = ()

    def _deserialize(self, chunks: list[bytes]) -> None:
        pass  # make_tree sets the entries


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
            for name in tree:
                yield from self.entries(tree[name][1])
        else:
            for name in tree:
                mode, sha = tree[name]
                yield name, TreeItem(mode, sha)

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

    # ------------------------------------------------------------------ writing
    def update(self, tree_id: bytes | None, mods: Mods, *, where: str, depth: int = 0) -> bytes | None:
        """Apply ``mods`` to one logical directory; return its new tree id, ``None`` if now empty."""
        tree = self.pending.tree(tree_id) if tree_id is not None else Tree()
        if is_fanout(tree):
            return self._update_fanout(tree, mods, where=where, depth=depth)
        entries = tree_entries(tree)
        _apply_leaf(entries, mods, where)
        if len(entries) > LEAF_MAX:
            return self._build(entries, depth)
        return self._write_leaf(entries)

    def _update_fanout(self, tree: Tree, mods: Mods, *, where: str, depth: int) -> bytes | None:
        children: dict[bytes, bytes] = {name: tree[name][1] for name in tree}
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
        return self.pending.add(make_tree({bucket: (DIR_MODE, sha) for bucket, sha in children.items()}))

    def _try_collapse(self, children: dict[bytes, bytes]) -> Entries | None:
        """All entries below a fan-out node when they fit in one leaf, else ``None``."""
        merged: Entries = {}
        for sha in children.values():
            child = self.pending.tree(sha)
            if is_fanout(child):
                return None
            merged.update(tree_entries(child))
            if len(merged) > LEAF_MAX:
                return None
        return merged

    def _build(self, entries: Entries, depth: int) -> bytes:
        if len(entries) <= LEAF_MAX:
            written = self._write_leaf(entries)
            assert written is not None
            return written
        buckets: dict[bytes, Entries] = {}
        for name, item in entries.items():
            buckets.setdefault(FANOUT_PREFIX + bucket_key(name)[depth].encode(), {})[name] = item
        return self.pending.add(make_tree({bucket: (DIR_MODE, self._build(sub, depth + 1)) for bucket, sub in buckets.items()}))

    def _write_leaf(self, entries: Mapping[bytes, tuple[int, bytes]]) -> bytes | None:
        if not entries:
            return None
        return self.pending.add(make_tree(entries))

    def empty_tree(self) -> bytes:
        return self.pending.add(make_tree({}))


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
            for bucket, bucket_mods in _by_bucket(mods, depth).items():
                child = tree[bucket][1] if bucket in tree else None
                self.update(child, bucket_mods, where=where, depth=depth + 1)
            return UNBUILT
        _apply_leaf(tree_entries(tree), mods, where)
        return UNBUILT

    def empty_tree(self) -> bytes:
        return UNBUILT


def _get(tree: Tree, name: bytes) -> TreeItem | None:
    try:
        mode, sha = tree[name]
    except KeyError:
        return None
    return TreeItem(mode, sha)


def _apply_leaf(entries: Entries, mods: Mods, where: str) -> None:
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


__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "LEAF_MAX",
    "UNBUILT",
    "CheckOps",
    "Entries",
    "TreeItem",
    "TreeOps",
    "bucket_key",
    "is_fanout",
    "make_tree",
    "tree_entries",
]
