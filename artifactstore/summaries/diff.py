"""Turning a :class:`~artifactstore.values.Change` into a :class:`FileDiff`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from .formats import detect_format
from .model import BinaryDiff, FileDiff, StructuredDiff
from .structured import UnparseableDocument, diff_values, load_document
from .tabular import DEFAULT_ROW_LIMIT, UnparseableTable, table_diff

if TYPE_CHECKING:
    from ..store import ArtifactStore
    from ..values import Change

log = logging.getLogger(__name__)


def diff_summary(
    store: ArtifactStore,
    change: Change,
    *,
    old_rev: str,
    new_rev: str,
    key: str | None = None,
    row_limit: int = DEFAULT_ROW_LIMIT,
) -> FileDiff:
    """Summarize one change between ``old_rev`` and ``new_rev`` (as returned by ``store.diff``).

    Pass resolved commit ids as revisions when summarizing many changes, so that every file
    is read at the same commits even if a branch moves meanwhile. ``key`` names the CSV
    key column (default: detected, see :func:`~artifactstore.summaries.tabular.choose_key`);
    ``row_limit`` bounds the memory of CSV row comparison.
    """
    binary = BinaryDiff(
        change.old.size if change.old else None,
        change.new.size if change.new else None,
        change.old.sha256 if change.old else None,
        change.new.sha256 if change.new else None,
    )
    fmt = detect_format(change.path)
    old = _opener(store, change.path, old_rev) if change.old is not None else None
    new = _opener(store, change.path, new_rev) if change.new is not None else None
    if fmt in ("csv", "tsv"):
        try:
            table = table_diff(old, new, delimiter="\t" if fmt == "tsv" else ",", key=key, row_limit=row_limit)
        except UnparseableTable as exc:
            return FileDiff(change.path, change.kind, "binary", binary, notes=(str(exc),))
        return FileDiff(change.path, change.kind, "table", binary, table=table)
    if fmt in ("json", "yaml"):
        try:
            before = _load(old, fmt) if old is not None else None
            after = _load(new, fmt) if new is not None else None
        except UnparseableDocument as exc:
            return FileDiff(change.path, change.kind, "binary", binary, notes=(str(exc),))
        if old is None or new is None:
            changes = tuple(diff_values({}, after)) if old is None else tuple(diff_values(before, {}))
        else:
            changes = tuple(diff_values(before, after))
        return FileDiff(change.path, change.kind, "structured", binary, structured=StructuredDiff(fmt, changes))
    return FileDiff(change.path, change.kind, "binary", binary)


def diff_summaries(
    store: ArtifactStore,
    rev_a: str,
    rev_b: str | None = None,
    *,
    prefix: str | None = None,
    key: str | None = None,
    row_limit: int = DEFAULT_ROW_LIMIT,
) -> list[FileDiff]:
    """:func:`diff_summary` of every file changed between two revisions (below ``prefix``)."""
    a = store.resolve(rev_a)
    b = store.resolve(rev_b)
    return [
        diff_summary(store, change, old_rev=a, new_rev=b, key=key, row_limit=row_limit)
        for change in store.diff(a, b, prefix=prefix)
    ]


def _opener(store: ArtifactStore, path: str, rev: str) -> Callable[[], BinaryIO]:
    return lambda: store.open(path, rev=rev)


def _load(opener: Callable[[], BinaryIO], fmt: str) -> object:
    with opener() as stream:
        return load_document(stream, fmt)


__all__ = ["diff_summaries", "diff_summary"]
