"""One metrics file read at several revisions, as a table of values.

``compare_metrics(store, "eval/metrics.json", ["main", "exp-1", "v1"])`` gives one row per
metric and one column per revision. Formats:

* JSON / YAML: every leaf of the document, nested keys dotted (``val.mae``);
* CSV / TSV: by default the **last** row (a metrics log written once per step or epoch ends
  with the final values); ``reduce="mean"`` gives the mean of each numeric column instead (a
  per-example file such as ``abs_error`` per prediction becomes the mean absolute error). A
  two-column ``name,value`` (or ``metric,value``) table is read as one metric per row.

A revision where the file does not exist gets ``None`` values and is listed in ``missing``.
CSV is streamed, never loaded whole; JSON/YAML files are capped at
:data:`~artifactstore.summaries.structured.MAX_DOCUMENT_BYTES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .errors import InvalidInput, NotFound
from .summaries.formats import detect_format
from .summaries.structured import UnparseableDocument, flatten, load_document
from .summaries.tabular import UnparseableTable, column_values
from .validation import validate_path

if TYPE_CHECKING:
    from .store import ArtifactStore

Reduce = Literal["last", "mean"]


@dataclass(frozen=True, slots=True)
class MetricsTable:
    """``values[metric][i]`` is the metric's value at ``revisions[i]`` (commit ``commits[i]``)."""

    path: str
    revisions: tuple[str, ...]
    commits: tuple[str, ...]
    metrics: tuple[str, ...]
    values: dict[str, tuple[Any, ...]]
    missing: tuple[str, ...] = ()

    def value(self, metric: str, revision: str) -> Any:
        """The value of ``metric`` at ``revision`` (one of :attr:`revisions`)."""
        return self.values[metric][self.revisions.index(revision)]


def compare_metrics(
    store: ArtifactStore, path: str, revisions: Sequence[str], *, reduce: Reduce = "last"
) -> MetricsTable:
    """Read metrics file ``path`` at every revision (branch, tag or commit id) into one table."""
    validate_path(path, what="metrics file path")
    if not revisions:
        raise InvalidInput("compare needs at least one revision")
    if reduce not in ("last", "mean"):
        raise InvalidInput(f"reduce {reduce!r} must be 'last' or 'mean'")
    fmt = detect_format(path)
    if fmt == "binary":
        raise InvalidInput(f"{path!r} is not a metrics file compare can read; use a .json, .yaml/.yml, .csv or .tsv file")
    commits = tuple(store.resolve(rev) for rev in revisions)
    columns: list[dict[str, Any] | None] = []
    for rev, commit in zip(revisions, commits, strict=True):
        try:
            columns.append(_read(store, path, commit, fmt, reduce))
        except NotFound:
            columns.append(None)
        except (UnparseableDocument, UnparseableTable) as exc:
            raise InvalidInput(f"{path!r} at {rev!r} cannot be read: {exc}") from None
    metrics = tuple(dict.fromkeys(name for column in columns if column for name in column))
    values = {m: tuple(column.get(m) if column else None for column in columns) for m in metrics}
    missing = tuple(rev for rev, column in zip(revisions, columns, strict=True) if column is None)
    if len(missing) == len(revisions):
        raise NotFound(f"{path!r} exists at none of the revisions {', '.join(revisions)}")
    return MetricsTable(path, tuple(revisions), commits, metrics, values, missing)


def _read(store: ArtifactStore, path: str, commit: str, fmt: str, reduce: Reduce) -> dict[str, Any]:
    if fmt in ("csv", "tsv"):
        return column_values(lambda: store.open(path, rev=commit), "\t" if fmt == "tsv" else ",", reduce=reduce)
    with store.open(path, rev=commit) as stream:
        document = load_document(stream, fmt)
    return dict(flatten(document))


__all__ = ["MetricsTable", "Reduce", "compare_metrics"]
