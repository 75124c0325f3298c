"""Plain-text rendering of a :class:`FileDiff` (the CLI adds colour around these lines)."""

from __future__ import annotations

import json
from typing import Any

from .model import ColumnChange, FileDiff, TableDiff

MAX_VALUE_CHARS = 60


def headline(diff: FileDiff, size: Any = str) -> str:
    """One line: rows and columns for a table, keys for a document, sizes for anything else."""
    if diff.table is not None:
        return _table_headline(diff.table)
    if diff.structured is not None:
        counts = {"added": 0, "removed": 0, "changed": 0}
        for change in diff.structured.changes:
            counts[change.kind] += 1
        if not diff.structured.changes:
            return "keys: no change"
        return "keys: " + ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    b = diff.binary
    if diff.change == "modified":
        return f"{size(b.old_size)} -> {size(b.new_size)}, sha256 {(b.old_sha256 or '')[:12]} -> {(b.new_sha256 or '')[:12]}"
    if diff.change == "added":
        return f"{size(b.new_size)}, sha256 {(b.new_sha256 or '')[:12]}"
    return f"{size(b.old_size)}, sha256 {(b.old_sha256 or '')[:12]}"


def details(diff: FileDiff) -> list[str]:
    """Indented detail lines under the headline (changed keys, numeric columns, notes)."""
    lines: list[str] = []
    if diff.table is not None:
        t = diff.table
        if t.columns_added:
            lines.append("columns added: " + ", ".join(t.columns_added))
        if t.columns_removed:
            lines.append("columns removed: " + ", ".join(t.columns_removed))
        lines.extend(_column_line(c) for c in t.columns)
        lines.extend(t.notes)
    if diff.structured is not None:
        for change in diff.structured.changes:
            if change.kind == "added":
                lines.append(f"+ {change.path}: {_value(change.new)}")
            elif change.kind == "removed":
                lines.append(f"- {change.path}: {_value(change.old)}")
            else:
                lines.append(f"~ {change.path}: {_value(change.old)} -> {_value(change.new)}")
    lines.extend(diff.notes)
    return lines


def _table_headline(t: TableDiff) -> str:
    rows = f"rows {_n(t.rows_old)} -> {_n(t.rows_new)}"
    if t.rows_added is not None:
        parts = [f"+{t.rows_added}", f"-{t.rows_removed}"]
        if t.rows_changed is not None:
            parts.append(f"~{t.rows_changed}")
        rows += " (" + " ".join(parts) + (f" by {t.key}" if t.key else "") + ")"
    cols = []
    if t.columns_added:
        cols.append(f"+{len(t.columns_added)} columns")
    if t.columns_removed:
        cols.append(f"-{len(t.columns_removed)} columns")
    return ", ".join([rows, *cols])


def _column_line(c: ColumnChange) -> str:
    parts = []
    for stat in ("count", "mean", "min", "max"):
        before = getattr(c.old, stat) if c.old else None
        after = getattr(c.new, stat) if c.new else None
        if before == after:
            parts.append(f"{stat} {_num(after)}")
        else:
            parts.append(f"{stat} {_num(before)} -> {_num(after)}")
    return f"{c.name}: " + ", ".join(parts)


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def _num(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _value(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


__all__ = ["details", "headline"]
