"""Walking commit history: log order, ancestry and merge bases."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from dulwich.objects import Commit

from .objects import ObjectReader


def walk(reader: ObjectReader, start: bytes) -> Iterator[Commit]:
    """Commits reachable from ``start``, newest first (by commit time, then discovery order)."""
    seen = {start}
    counter = 0
    heap: list[tuple[int, int, bytes]] = [(-reader.commit(start).commit_time, counter, start)]
    while heap:
        _, _, oid = heapq.heappop(heap)
        commit = reader.commit(oid)
        yield commit
        for parent in commit.parents:
            if parent not in seen:
                seen.add(parent)
                counter += 1
                heapq.heappush(heap, (-reader.commit(parent).commit_time, counter, parent))


def is_ancestor(reader: ObjectReader, ancestor: bytes, descendant: bytes) -> bool:
    if ancestor == descendant:
        return True
    return any(commit.id == ancestor for commit in walk(reader, descendant))


def merge_base(reader: ObjectReader, a: bytes, b: bytes) -> bytes | None:
    """A best common ancestor of ``a`` and ``b`` (the newest common one), or ``None``."""
    ancestors_a = {c.id for c in walk(reader, a)}
    for commit in walk(reader, b):
        if commit.id in ancestors_a:
            return commit.id
    return None


__all__ = ["is_ancestor", "merge_base", "walk"]
