"""The values a content-aware diff returns: one :class:`FileDiff` per changed file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SummaryKind = Literal["table", "structured", "binary"]


@dataclass(frozen=True, slots=True)
class ColumnStats:
    """Numeric summary of one CSV column on one side (``None`` when the side lacks the column).

    A column is numeric when every non-empty value parses as a number; ``count`` is the
    number of such values.
    """

    count: int
    mean: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class ColumnChange:
    """How a numeric column's ``count``, ``mean``, ``min`` and ``max`` moved between two sides."""

    name: str
    old: ColumnStats | None
    new: ColumnStats | None


@dataclass(frozen=True, slots=True)
class TableDiff:
    """Summary of a CSV/TSV file's change.

    ``rows_added``/``rows_removed``/``rows_changed`` are ``None`` when the files are too
    large for row comparison (see ``row_limit`` of :func:`diff_summary`). Without a key
    column rows are compared as whole rows (over the columns both sides share), so a row
    edited in place counts as one removed and one added and ``rows_changed`` is ``None``.
    """

    key: str | None
    rows_old: int | None
    rows_new: int | None
    rows_added: int | None
    rows_removed: int | None
    rows_changed: int | None
    columns_added: tuple[str, ...]
    columns_removed: tuple[str, ...]
    columns: tuple[ColumnChange, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ValueChange:
    """One key whose value differs; ``path`` is dotted (``flavors.sklearn.sklearn_version``, ``items[2]``)."""

    path: str
    kind: Literal["added", "removed", "changed"]
    old: Any = None
    new: Any = None


@dataclass(frozen=True, slots=True)
class StructuredDiff:
    """A JSON or YAML document compared key by key (``format`` is ``json`` or ``yaml``)."""

    format: str
    changes: tuple[ValueChange, ...]


@dataclass(frozen=True, slots=True)
class BinaryDiff:
    """Any other file: sizes and SHA-256 of both sides."""

    old_size: int | None
    new_size: int | None
    old_sha256: str | None
    new_sha256: str | None


@dataclass(frozen=True, slots=True)
class FileDiff:
    """The content-aware summary of one :class:`~artifactstore.values.Change`.

    ``kind`` says which of ``table``, ``structured`` or ``binary`` is set; a file that
    looked like CSV/JSON/YAML but could not be parsed falls back to ``binary`` with the
    reason in ``notes``.
    """

    path: str
    change: str
    kind: SummaryKind
    binary: BinaryDiff
    table: TableDiff | None = None
    structured: StructuredDiff | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


__all__ = [
    "BinaryDiff",
    "ColumnChange",
    "ColumnStats",
    "FileDiff",
    "StructuredDiff",
    "SummaryKind",
    "TableDiff",
    "ValueChange",
]
