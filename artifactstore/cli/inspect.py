"""Looking at history: ``show``, ``compare``, ``export`` and ``expire``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from rich.text import Text

from ..compare import compare_metrics
from ..errors import InvalidInput
from ..expire import expire as expire_history
from ..expire import parse_duration
from ..export import export as export_tree
from ..export import plan_export
from ..store import ArtifactStore
from ..values import Change
from ._app import main
from ._common import CommandError, join_path, open_store, reports_errors
from ._output import Output, human_size, json_option, print_json, short_id, to_jsonable
from ._progress import progress_option, transfer_bar, wants_progress
from .history import CHANGE_STYLES, _print_commit, change_detail


@main.command(short_help="A commit and the files it changed.")
@click.argument("uri", metavar="URI")
@click.argument("rev", metavar="REV", required=False)
@json_option
@reports_errors
def show(uri: str, rev: str | None, as_json: bool) -> None:
    """Show commit REV (default: the URI's branch head) with its change list against its first parent."""
    with open_store(uri) as (store, _):
        commit = store.get_commit(rev)
        changes = store.diff(commit.parents[0], commit.id) if commit.parents else [c for c in _root_changes(store, commit.id)]
    if as_json:
        print_json({"commit": commit, "changes": changes})
        return
    out = Output()
    _print_commit(out, commit)
    out.line()
    for change in changes:
        letter, colour = CHANGE_STYLES.get(change.kind, ("?", "white"))
        out.line(Text.assemble((letter, colour), " ", (change.path, colour), "  ", change_detail(out, change)))


def _root_changes(store: ArtifactStore, commit_id: str) -> list[Change]:
    return [Change("added", e.path, None, e) for e in store.list("", rev=commit_id, recursive=True)]


@main.command(short_help="A metrics file's values across revisions.")
@click.argument("uri", metavar="URI")
@click.argument("path", metavar="PATH")
@click.argument("revs", metavar="REV...", nargs=-1, required=True)
@click.option(
    "--reduce",
    type=click.Choice(["last", "mean"]),
    default="last",
    show_default=True,
    help="For CSV: the last row, or the mean of each numeric column.",
)
@json_option
@reports_errors
def compare(uri: str, path: str, revs: tuple[str, ...], reduce: str, as_json: bool) -> None:
    """One table of the values in metrics file PATH (JSON, YAML or CSV) at each REV."""
    with open_store(uri) as (store, base):
        table = compare_metrics(store, join_path(base, path), revs, reduce=reduce)  # type: ignore[arg-type]
    if as_json:
        print_json(table)
        return
    out = Output()
    rows = [[name, *(_cell(v) for v in table.values[name])] for name in table.metrics]
    out.table(["metric", *table.revisions], rows, right=list(range(1, len(revs) + 1)))
    for rev in table.missing:
        out.line(f"{path} does not exist at {rev}", style="dim")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@main.command(short_help="Write a tree at a revision to a local directory.")
@click.argument("uri", metavar="URI")
@click.argument("dest", metavar="DIR", type=click.Path(path_type=Path))
@click.option("-r", "--rev", metavar="REV", help="Branch, tag or commit to export (default: the URI's branch).")
@click.option("--path", "sub", metavar="P", default="", help="Export only this file or directory.")
@click.option("--force", is_flag=True, help="Write into a non-empty DIR (overwriting files of the same name).")
@progress_option
@json_option
@reports_errors
def export(uri: str, dest: Path, rev: str | None, sub: str, force: bool, progress: bool | None, as_json: bool) -> None:
    """Write every file at REV (or only --path) below DIR, each verified against its SHA-256."""
    with open_store(uri) as (store, base):
        target = join_path(base, sub)
        plan = plan_export(store, dest, rev=rev, path=target, force=force)
        with transfer_bar(wants_progress(progress), plan.total_bytes, f"export {target or '/'}") as bar:
            report = export_tree(store, dest, rev=plan.commit, path=target, force=force, on_bytes=bar.advance)
    if as_json:
        print_json(report)
        return
    noun = "file" if report.files == 1 else "files"
    Output().line(f"{report.files} {noun} ({human_size(report.bytes)}) of {short_id(report.commit)} -> {dest}")


@main.command(short_help="Drop history older than a cutoff (then run gc).")
@click.argument("uri", metavar="URI")
@click.option("--older-than", metavar="DURATION", help="Expire commits older than this: 90d, 12h, 2w, 1d12h.")
@click.option("--before", metavar="TIME", help="Expire commits before this ISO time (2024-01-31T00:00:00+00:00).")
@click.option("--path", "sub", metavar="P", help="Only remove P from the expired commits' trees; keep the commits.")
@click.option("--dry-run", is_flag=True, help="Report what would be freed; change nothing.")
@json_option
@reports_errors
def expire(uri: str, older_than: str | None, before: str | None, sub: str | None, dry_run: bool, as_json: bool) -> None:
    """Rewrite every branch and tag so history older than the cutoff holds no data alive.

    Without --path, the commits before the cutoff are squashed: the newest of them becomes a
    root commit with the same files. With --path, only P is removed from those commits. Kept
    commits keep their files but get new ids. Then 'artifactstore gc URI' reclaims the space.
    """
    if (older_than is None) == (before is None):
        raise click.UsageError("give exactly one of --older-than DURATION or --before TIME")
    try:
        delta = parse_duration(older_than) if older_than is not None else None
        when = datetime.fromisoformat(before) if before is not None else None
    except ValueError as exc:
        message = str(exc) if isinstance(exc, InvalidInput) else f"--before {before!r} is not an ISO time: {exc}"
        raise CommandError(message) from None
    with open_store(uri) as (store, base):
        path = join_path(base, sub) if sub else None
        report = expire_history(store, older_than=delta, before=when, path=path, dry_run=dry_run)  # type: ignore[arg-type]
    if as_json:
        print_json({**to_jsonable(report), "bytes_freed": report.bytes_freed})
        return
    out = Output()
    verb = "would move" if dry_run else "moved"
    for name, (old, new) in report.refs.items():
        out.line(f"{verb} {name}: {short_id(old)} -> {short_id(new)}")
    freed = "would become" if dry_run else "became"
    out.line(
        f"{report.commits_expired} commits older than {report.cutoff.isoformat(timespec='seconds')}; "
        f"{report.commits_dropped} dropped, {report.commits_rewritten} rewritten; "
        f"{report.content_freed} content files ({human_size(report.content_bytes)}) and "
        f"{human_size(report.inline_bytes)} of small files {freed} unreferenced"
    )
    if not dry_run and report.bytes_freed:
        out.line(f"run 'artifactstore gc {uri}' to reclaim them", style="dim")


__all__ = ["compare", "expire", "export", "show"]
