"""Tree diff over logical directories (fan-out aware: equal buckets are skipped)."""

from __future__ import annotations

from collections.abc import Iterator

from dulwich.objects import Tree

from .tree import FANOUT_PREFIX, TreeItem, TreeOps, is_fanout

FileChange = tuple[str, "TreeItem | None", "TreeItem | None"]


def diff_dirs(ops: TreeOps, a: bytes | None, b: bytes | None, where: str = "") -> Iterator[FileChange]:
    """Yield ``(path, old, new)`` for every file that differs between two logical directories."""
    yield from _diff_nodes(ops, a, b, where)


def _diff_nodes(ops: TreeOps, a: bytes | None, b: bytes | None, where: str) -> Iterator[FileChange]:
    if a == b:
        return
    ta = ops.pending.tree(a) if a is not None else None
    tb = ops.pending.tree(b) if b is not None else None
    if ta is not None and tb is not None and is_fanout(ta) and is_fanout(tb):
        buckets_a = _children(ta)
        buckets_b = _children(tb)
        for bucket in sorted(buckets_a.keys() | buckets_b.keys()):
            yield from _diff_nodes(ops, buckets_a.get(bucket), buckets_b.get(bucket), where)
        return
    ea = dict(ops.entries(a)) if a is not None else {}
    eb = dict(ops.entries(b)) if b is not None else {}
    for name in sorted(ea.keys() | eb.keys()):
        old, new = ea.get(name), eb.get(name)
        if old == new:
            continue
        path = f"{where}/{name.decode()}" if where else name.decode()
        old_dir = old is not None and old.is_dir
        new_dir = new is not None and new.is_dir
        if old_dir or new_dir:
            yield from _diff_nodes(ops, old.sha if old_dir and old else None, new.sha if new_dir and new else None, path)
        if not old_dir or not new_dir:
            file_old = None if old_dir else old
            file_new = None if new_dir else new
            if file_old != file_new:
                yield path, file_old, file_new


def _children(tree: Tree) -> dict[bytes, bytes]:
    return {e.path: e.sha for e in tree.iteritems() if e.path.startswith(FANOUT_PREFIX)}


def walk_files(ops: TreeOps, tree_id: bytes, where: str = "") -> Iterator[tuple[str, TreeItem]]:
    """Every file below a logical directory, in path order."""
    for name, item in sorted(ops.entries(tree_id)):
        path = f"{where}/{name.decode()}" if where else name.decode()
        if item.is_dir:
            yield from walk_files(ops, item.sha, path)
        else:
            yield path, item


__all__ = ["FileChange", "diff_dirs", "walk_files"]
