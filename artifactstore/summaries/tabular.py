"""CSV/TSV summaries, computed by streaming both sides through the stdlib ``csv`` module.

Memory is bounded: neither file is ever held whole. Row comparison keeps, for the old
side, one 64-bit digest of the key and one of the row per row (and for the new side the
key digests, to notice duplicates) - about 100 bytes a row, so the default
:data:`DEFAULT_ROW_LIMIT` of 500,000 rows caps it near 50 MB. Above the limit the
summary falls back to row counts and column statistics (``rows_added`` etc. are ``None``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import InvalidInput
from .model import ColumnChange, ColumnStats, TableDiff

DEFAULT_ROW_LIMIT = 500_000
#: Column names taken as the row key when no ``key`` is given (case-insensitive), in this order.
KEY_NAMES = ("id", "key", "run_id", "uuid", "row_id", "index", "name")

Opener = Callable[[], BinaryIO]


class UnparseableTable(ValueError):
    """The file is not CSV the ``csv`` module can read (a NUL byte, a giant field...)."""


class _KeyFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Accumulator:
    """Count, sum, min and max of one column's numeric values (``numeric`` false once a value is not)."""

    count: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    numeric: bool = True

    def add(self, value: str) -> None:
        if not self.numeric or value == "":
            return
        try:
            number = float(value)
        except ValueError:
            self.numeric = False
            return
        if math.isnan(number):
            return
        self.count += 1
        self.total += number
        self.low = min(self.low, number)
        self.high = max(self.high, number)

    def stats(self) -> ColumnStats | None:
        if not self.numeric:
            return None
        if not self.count:
            return ColumnStats(0, None, None, None)
        return ColumnStats(self.count, self.total / self.count, self.low, self.high)


@dataclass
class _Side:
    header: list[str]
    rows: int = 0
    columns: list[_Accumulator] = field(default_factory=list)


def _reader(opener: Opener, delimiter: str) -> Iterator[list[str]]:
    with opener() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")  # type: ignore[arg-type]
        try:
            yield from csv.reader(text, delimiter=delimiter)
        except csv.Error as exc:
            raise UnparseableTable(f"not readable as {'TSV' if delimiter == chr(9) else 'CSV'}: {exc}") from None
        finally:
            text.detach()


def read_header(opener: Opener, delimiter: str) -> list[str]:
    """The first row of a CSV file (reads only as far as that row)."""
    rows = _reader(opener, delimiter)
    try:
        return next(rows, [])
    finally:
        rows.close()  # type: ignore[attr-defined]


def _digest(values: Sequence[str]) -> int:
    h = hashlib.blake2b(digest_size=8)
    for value in values:
        h.update(value.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return int.from_bytes(h.digest(), "little")


def choose_key(old_header: Sequence[str] | None, new_header: Sequence[str] | None, key: str | None) -> str | None:
    """The key column: ``key`` if given (it must be in every side), else a column named like
    :data:`KEY_NAMES`, else the first column; ``None`` when the sides share no candidate."""
    headers = [h for h in (old_header, new_header) if h is not None]
    if key is not None:
        for h in headers:
            if key not in h:
                shown = ", ".join(h[:10])
                raise InvalidInput(f"key column {key!r} is not in the CSV header ({shown}); pass --key with one of those")
        return key
    if not headers or not all(headers):
        return None
    shared = [c for c in headers[0] if all(c in h for h in headers)]
    lowered = {c.lower(): c for c in reversed(shared)}
    for name in KEY_NAMES:
        if name in lowered:
            return lowered[name]
    first = headers[0][0]
    return first if first in shared else None


class _Pass:
    """One streaming pass over one side: statistics always, row digests while under the limit."""

    def __init__(self, opener: Opener, delimiter: str, common: Sequence[str]) -> None:
        self.opener = opener
        self.delimiter = delimiter
        self.common = common

    def run(self, key: str | None, visit: Callable[[int | None, int], None] | None) -> _Side:
        rows = _reader(self.opener, self.delimiter)
        header = next(rows, [])
        side = _Side(header, columns=[_Accumulator() for _ in header])
        positions = [header.index(c) for c in self.common]
        key_at = header.index(key) if key is not None else None
        width = len(header)
        for row in rows:
            if len(row) < width:
                row = row + [""] * (width - len(row))
            side.rows += 1
            for acc, value in zip(side.columns, row, strict=False):
                acc.add(value)
            if visit is None:
                continue
            key_digest = None
            if key_at is not None:
                if row[key_at] == "":
                    raise _KeyFailed(f"key column {key!r} has an empty value in row {side.rows}")
                key_digest = _digest((row[key_at],))
            visit(key_digest, _digest([row[i] for i in positions]))
        return side


@dataclass
class _Comparison:
    added: int | None = None
    removed: int | None = None
    changed: int | None = None


def _compare(
    old: _Pass | None, new: _Pass | None, key: str | None, row_limit: int
) -> tuple[_Side | None, _Side | None, _Comparison]:
    """Stream old then new; count added, removed and (with a key) changed rows."""
    result = _Comparison()
    by_key: dict[int, int] | None = {} if key is not None else None
    whole: Counter[int] | None = Counter() if key is None else None
    within = True
    old_rows = 0

    def visit_old(key_digest: int | None, row_digest: int) -> None:
        nonlocal within, by_key, whole, old_rows
        old_rows += 1
        if not within:
            return
        if old_rows > row_limit:
            within, by_key, whole = False, None, None
            return
        if by_key is not None:
            assert key_digest is not None
            if key_digest in by_key:
                raise _KeyFailed(f"key column {key!r} is not unique in the old file")
            by_key[key_digest] = row_digest
        elif whole is not None:
            whole[row_digest] += 1

    old_side = old.run(key, visit_old) if old is not None else None
    seen_new: set[int] = set()
    added = changed = new_rows = 0

    def visit_new(key_digest: int | None, row_digest: int) -> None:
        nonlocal within, added, changed, new_rows, by_key, whole
        new_rows += 1
        if not within:
            return
        if new_rows > row_limit:
            within, by_key, whole = False, None, None
            seen_new.clear()
            return
        if by_key is not None:
            assert key_digest is not None
            if key_digest in seen_new:
                raise _KeyFailed(f"key column {key!r} is not unique in the new file")
            seen_new.add(key_digest)
            before = by_key.pop(key_digest, None)
            if before is None:
                added += 1
            elif before != row_digest:
                changed += 1
        elif whole is not None:
            if whole[row_digest] > 0:
                whole[row_digest] -= 1
            else:
                added += 1

    new_side = new.run(key, visit_new) if new is not None else None
    if within:
        result.added = added
        if by_key is not None:
            result.removed = len(by_key)
            result.changed = changed
        elif whole is not None:
            result.removed = sum(whole.values())
    return old_side, new_side, result


def table_diff(
    old: Opener | None, new: Opener | None, *, delimiter: str = ",", key: str | None = None, row_limit: int = DEFAULT_ROW_LIMIT
) -> TableDiff:
    """Summarize how a CSV/TSV file changed; ``old``/``new`` open each side (``None``: absent).

    Raises :class:`UnparseableTable` when a side is not CSV, :class:`InvalidInput` when an
    explicit ``key`` is not a column.
    """
    if row_limit < 0:
        raise InvalidInput(f"row_limit must be >= 0, got {row_limit}")
    old_header = read_header(old, delimiter) if old is not None else None
    new_header = read_header(new, delimiter) if new is not None else None
    chosen = choose_key(old_header, new_header, key)
    if old_header is not None and new_header is not None:
        common = sorted(set(old_header) & set(new_header))
    else:
        common = sorted(set(old_header or new_header or []))
    notes: list[str] = []

    def make(opener: Opener | None) -> _Pass | None:
        return _Pass(opener, delimiter, common) if opener is not None else None

    try:
        old_side, new_side, cmp = _compare(make(old), make(new), chosen, row_limit)
    except _KeyFailed as exc:
        notes.append(f"{exc.reason}; rows compared whole")
        chosen = None
        old_side, new_side, cmp = _compare(make(old), make(new), None, row_limit)
    if cmp.added is None:
        notes.append(f"more than {row_limit} rows: row comparison skipped, counts and column statistics only")
    old_cols = old_side.header if old_side else []
    new_cols = new_side.header if new_side else []
    columns = []
    for name in dict.fromkeys([*old_cols, *new_cols]):
        if name == chosen:
            continue  # a key's mean or max says nothing about the data
        before = old_side.columns[old_cols.index(name)].stats() if old_side and name in old_cols else None
        after = new_side.columns[new_cols.index(name)].stats() if new_side and name in new_cols else None
        old_numeric = old_side is None or name not in old_cols or before is not None
        new_numeric = new_side is None or name not in new_cols or after is not None
        if (before is not None or after is not None) and old_numeric and new_numeric:
            columns.append(ColumnChange(name, before, after))
    return TableDiff(
        key=chosen if old is not None and new is not None else None,
        rows_old=old_side.rows if old_side else None,
        rows_new=new_side.rows if new_side else None,
        rows_added=cmp.added,
        rows_removed=cmp.removed,
        rows_changed=cmp.changed,
        columns_added=tuple(c for c in new_cols if c not in old_cols) if old_side else (),
        columns_removed=tuple(c for c in old_cols if c not in new_cols) if new_side else (),
        columns=tuple(columns),
        notes=tuple(notes),
    )


def column_values(opener: Opener, delimiter: str, *, reduce: str) -> dict[str, float | str]:
    """One value per column of a metrics CSV: its ``last`` row, or the ``mean`` of each numeric column.

    A two-column ``name,value`` (or ``metric``/``key``) table gives one value per row instead.
    """
    rows = _reader(opener, delimiter)
    header = next(rows, [])
    if len(header) == 2 and header[0].lower() in ("name", "metric", "key", "param") and header[1].lower() == "value":
        return {row[0]: _number(row[1]) for row in rows if len(row) >= 2 and row[0]}
    if reduce == "last":
        last: list[str] | None = None
        for row in rows:
            if any(cell != "" for cell in row):
                last = row
        if last is None:
            return {}
        return {name: _number(value) for name, value in zip(header, last, strict=False)}
    accs = [_Accumulator() for _ in header]
    for row in rows:
        for acc, value in zip(accs, row, strict=False):
            acc.add(value)
    result: dict[str, float | str] = {}
    for name, acc in zip(header, accs, strict=False):
        stats = acc.stats()
        if stats is not None and stats.mean is not None:
            result[name] = stats.mean
    return result


def _number(text: str) -> float | str:
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


__all__ = ["DEFAULT_ROW_LIMIT", "KEY_NAMES", "UnparseableTable", "choose_key", "column_values", "read_header", "table_diff"]
