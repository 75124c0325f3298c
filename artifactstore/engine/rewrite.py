"""Rewriting trees: set many paths at once, and a batch of new objects to write together.

:class:`TreeEditor` is the API for code that makes commits outside the commit path
(``merge``, ``expire``): look paths up, apply changes to a tree, add commits, and write
every new object in one :meth:`~TreeEditor.flush`. Nothing is visible until a ref points
at what was written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dulwich.objects import Commit, ShaFile, Tree

from ..errors import InvalidPath, NotFound
from .objects import ObjectReader, PendingObjects
from .tree import DIR_MODE, TreeItem, TreeOps


def apply_changes(ops: TreeOps, root: bytes | None, changes: Mapping[str, TreeItem | None]) -> bytes:
    """The id of ``root`` with each path of ``changes`` set to its item (``None`` deletes it).

    Paths are validated store paths. Raises :class:`~artifactstore.errors.NotFound` for a
    delete of a missing path and :class:`~artifactstore.errors.InvalidPath` where a file
    and a directory would collide. ``root`` ``None`` is the empty tree.
    """
    nested = {tuple(p.encode("utf-8").split(b"/")): item for p, item in changes.items()}
    new_root = _apply_dir(ops, root, nested, "")
    return new_root if new_root is not None else ops.empty_tree()


def paths_at(ops: TreeOps, tree: bytes | None, paths: Iterable[str]) -> dict[str, TreeItem | None]:
    """What each of ``paths`` holds in ``tree`` (``None`` where nothing is)."""
    return {path: ops.lookup_path(tree, path) if tree else None for path in paths}


class TreeEditor:
    """New trees and commits on top of a store's objects, written together by :meth:`flush`."""

    def __init__(self, reader: ObjectReader) -> None:
        self.reader = reader
        self._pending = PendingObjects(reader)
        self.ops = TreeOps(self._pending)

    def lookup_path(self, tree: bytes, path: str) -> TreeItem | None:
        """What ``path`` holds in ``tree`` (pending trees included), or ``None``."""
        return self.ops.lookup_path(tree, path)

    def apply(self, root: bytes | None, changes: Mapping[str, TreeItem | None]) -> bytes:
        """:func:`apply_changes` on this editor's pending objects."""
        return apply_changes(self.ops, root, changes)

    def add(self, obj: ShaFile) -> bytes:
        """Add a new object (a commit) to be written; return its id."""
        return self._pending.add(obj)

    def tree(self, oid: bytes) -> Tree:
        """The tree ``oid``, pending or stored."""
        return self._pending.tree(oid)

    def commit(self, oid: bytes) -> Commit:
        """The commit ``oid``, pending or stored."""
        obj = self._pending.new.get(oid)
        return obj if isinstance(obj, Commit) else self.reader.commit(oid)

    def flush(self) -> None:
        """Write every pending object in one batch."""
        self._pending.flush()


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


def _join(where: str, name: bytes) -> str:
    return f"{where}/{name.decode()}" if where else name.decode()


__all__ = ["TreeEditor", "apply_changes", "paths_at"]
