"""Content-aware summaries of what changed in a file between two revisions.

``diff_summary(store, change, old_rev=..., new_rev=...)`` looks at the file's name to pick
a summary (see :func:`~artifactstore.summaries.formats.detect_format`):

* CSV/TSV: rows added, removed and changed (by a key column), columns added and removed,
  and per numeric column the change in count, mean, min and max - streamed, never loaded
  whole (:mod:`.tabular` documents the memory bound);
* JSON and YAML (``MLmodel``, ``MLproject``, ``*.yaml``/``*.yml``): keys added, removed
  and changed;
* anything else, or a file that does not parse: size and SHA-256.

Every backend gives the same summaries: they only use ``open``/``stat`` at a revision.
"""

from __future__ import annotations

from .diff import diff_summaries, diff_summary
from .formats import detect_format
from .model import (
    BinaryDiff,
    ColumnChange,
    ColumnStats,
    FileDiff,
    StructuredDiff,
    TableDiff,
    ValueChange,
)
from .tabular import DEFAULT_ROW_LIMIT

__all__ = [
    "DEFAULT_ROW_LIMIT",
    "BinaryDiff",
    "ColumnChange",
    "ColumnStats",
    "FileDiff",
    "StructuredDiff",
    "TableDiff",
    "ValueChange",
    "detect_format",
    "diff_summaries",
    "diff_summary",
]
