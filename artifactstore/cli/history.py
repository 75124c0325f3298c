"""History: ``log`` and ``diff``.

``diff`` renders each :class:`~artifactstore.values.Change` through :data:`CHANGE_STYLES`
and :func:`change_detail`, with the content-aware summary of :mod:`artifactstore.summaries`
(``--stat`` skips reading the files).
"""

from __future__ import annotations

from collections import Counter

import click
from rich.text import Text

from ..summaries import DEFAULT_ROW_LIMIT, FileDiff, diff_summary
from ..summaries.render import details, headline
from ..values import Change, Commit
from ._app import main
from ._common import join_path, open_store, reports_errors
from ._output import Output, human_size, json_option, print_json, short_id, to_jsonable

#: One letter and a colour per change kind, as in ``git diff --name-status``.
CHANGE_STYLES = {"added": ("A", "green"), "modified": ("M", "yellow"), "deleted": ("D", "red")}


@main.command(short_help="Show the commit history.")
@click.argument("uri", metavar="URI")
@click.argument("path", metavar="[PATH]", required=False, default="")
@click.option("-r", "--rev", metavar="REV", help="Revision to start from (default: the URI's branch).")
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=1), metavar="N", help="Show at most N commits.")
@click.option("--oneline", is_flag=True, help="One line per commit: short id and first line of the message.")
@json_option
@reports_errors
def log(uri: str, path: str, rev: str | None, limit: int | None, oneline: bool, as_json: bool) -> None:
    """Show commits newest first; with PATH, only those that changed it."""
    with open_store(uri) as (store, base):
        target = join_path(base, path)
        commits = list(store.log(rev, path=target or None, limit=limit))
    if as_json:
        print_json(commits)
        return
    out = Output()
    for index, commit in enumerate(commits):
        if oneline:
            first = commit.message.splitlines()[0] if commit.message else ""
            out.line(Text.assemble((short_id(commit.id), "yellow"), " ", first))
            continue
        if index:
            out.line()
        _print_commit(out, commit)


def _print_commit(out: Output, commit: Commit) -> None:
    out.line(Text.assemble(("commit ", "yellow"), (commit.id, "yellow")))
    if len(commit.parents) > 1:
        out.line("Merge:  " + " ".join(short_id(p) for p in commit.parents))
    out.line(f"Author: {commit.author}")
    out.line(f"Date:   {commit.time.isoformat(sep=' ', timespec='seconds')}")
    if commit.logical_bytes is not None:
        new = human_size(commit.new_bytes) if commit.new_bytes is not None else "unknown"
        out.line(f"Bytes:  {human_size(commit.logical_bytes)} written, {new} new")
    out.line()
    for text in (commit.message or "").splitlines() or [""]:
        out.line(f"    {text}")


@main.command(short_help="What changed between two revisions, file by file.")
@click.argument("uri", metavar="URI")
@click.argument("rev_a", metavar="REV_A")
@click.argument("rev_b", metavar="REV_B")
@click.argument("path", metavar="[PATH]", required=False, default="")
@click.option("--stat", is_flag=True, help="Only the list of changed files with their sizes.")
@click.option("--key", metavar="COL", help="Key column for CSV row comparison (default: detected).")
@click.option(
    "--row-limit",
    type=click.IntRange(min=0),
    default=DEFAULT_ROW_LIMIT,
    show_default=True,
    metavar="N",
    help="Compare CSV rows only up to N rows a side (memory ~100 bytes a row); counts only above.",
)
@json_option
@reports_errors
def diff(uri: str, rev_a: str, rev_b: str, path: str, stat: bool, key: str | None, row_limit: int, as_json: bool) -> None:
    """Files added, modified and deleted going from REV_A to REV_B (below PATH, if given).

    Each file is summarized by its content: CSV/TSV rows added, removed and changed (by a
    key column), columns added and removed and numeric column statistics; JSON/YAML
    (MLmodel, metrics, params) keys added, removed and changed; anything else its size
    (and SHA-256 in --json). --stat lists the files only.
    """
    with open_store(uri) as (store, base):
        target = join_path(base, path)
        old_id, new_id = store.resolve(rev_a), store.resolve(rev_b)
        changes = store.diff(old_id, new_id, prefix=target or None)
        if stat:
            summaries = None
        else:
            summaries = [
                diff_summary(store, change, old_rev=old_id, new_rev=new_id, key=key, row_limit=row_limit)
                for change in changes
            ]
    if as_json:
        if summaries is None:
            print_json(changes)
        else:
            # A superset of the --stat shape, so scripts written against it keep working.
            print_json([{**to_jsonable(c), "summary": to_jsonable(s)} for c, s in zip(changes, summaries, strict=True)])
        return
    out = Output()
    if summaries is None:
        out.table(["", "path", "size"], [change_row(out, change) for change in changes])
    else:
        for change, summary in zip(changes, summaries, strict=False):
            letter, colour = CHANGE_STYLES.get(change.kind, ("?", "white"))
            out.line(Text.assemble((letter, colour), " ", (change.path, colour), "  ", change_detail(out, change, summary)))
            for text in details(summary):
                out.line(f"    {text}", style="dim")
    counts: Counter[str] = Counter(change.kind for change in changes)
    if out.rich:
        summary_line = ", ".join(f"{counts[kind]} {kind}" for kind in CHANGE_STYLES)
        out.line(f"{summary_line} ({rev_a} -> {rev_b})" if changes else f"no changes between {rev_a} and {rev_b}", style="dim")


def change_row(out: Output, change: Change) -> list[str | Text]:
    letter, colour = CHANGE_STYLES.get(change.kind, ("?", "white"))
    return [Text(letter, style=colour), Text(change.path, style=colour), change_detail(out, change)]


def change_detail(out: Output, change: Change, summary: FileDiff | None = None) -> str:
    """What changed about one file: its size, or with ``summary`` a content-aware headline."""
    if summary is not None and summary.kind != "binary":
        return headline(summary, out.size)
    old = change.old.size if change.old else None
    new = change.new.size if change.new else None
    if change.kind == "modified":
        return f"{out.size(old)} -> {out.size(new)}"
    return out.size(new if change.kind == "added" else old)


__all__ = ["CHANGE_STYLES", "change_detail", "change_row", "diff", "log"]
