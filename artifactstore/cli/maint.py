"""Maintenance: ``gc``, ``fsck`` and ``stats``."""

from __future__ import annotations

import click

from ._app import main
from ._common import CommandError, open_store, reports_errors
from ._output import Output, human_size, json_option, print_json


@main.command(short_help="Remove data no branch or tag reaches.")
@click.argument("uri", metavar="URI")
@click.option("--dry-run", is_flag=True, help="Report what would be removed; remove nothing.")
@click.option(
    "--grace",
    "grace_seconds",
    type=click.FloatRange(min=0),
    default=3600.0,
    show_default=True,
    metavar="SECONDS",
    help=(
        "Keep unreachable data younger than this. gc waits for the writes in progress (on S3: of this process only; "
        "keep the grace longer than an upload takes there)."
    ),
)
@json_option
@reports_errors
def gc(uri: str, dry_run: bool, grace_seconds: float, as_json: bool) -> None:
    """Remove objects and content that no branch or tag reaches."""
    with open_store(uri) as (store, _):
        report = store.gc(dry_run=dry_run, grace_seconds=grace_seconds)
    if as_json:
        print_json(report)
        return
    verb = "would remove" if report.dry_run else "removed"
    Output().line(
        f"{verb} {report.objects_removed} objects and {report.content_removed} content files, {human_size(report.bytes_freed)}"
    )


@main.command(short_help="Verify every object and file hash.")
@click.argument("uri", metavar="URI")
@json_option
@reports_errors
def fsck(uri: str, as_json: bool) -> None:
    """Re-hash every reachable object and file; exit 1 when any problem is found."""
    with open_store(uri) as (store, _):
        report = store.fsck()
    if as_json:
        print_json(report)
    else:
        out = Output()
        for problem in report.problems:
            out.line(f"problem: {problem}", style="red")
        out.line(
            f"checked {report.objects_checked} objects and {report.content_checked} content files; "
            f"{len(report.problems)} problems; unreachable: {report.unreachable_objects} objects, "
            f"{report.unreachable_content} content files",
            style="green" if report.ok else "bold red",
        )
    if not report.ok:
        noun = "problem" if len(report.problems) == 1 else "problems"
        raise CommandError(f"fsck found {len(report.problems)} {noun} in {uri}")


@main.command(short_help="Logical vs stored bytes, dedup ratio.")
@click.argument("uri", metavar="URI")
@click.option("-r", "--rev", metavar="REV", help="Count only files reachable from REV (default: every ref).")
@json_option
@reports_errors
def stats(uri: str, rev: str | None, as_json: bool) -> None:
    """Logical bytes of every file versus bytes stored, and the deduplication ratio."""
    with open_store(uri) as (store, _):
        result = store.stats(rev)
    if as_json:
        print_json(result)
        return
    out = Output()
    out.table(
        ["", ""],
        [
            ["files", str(result.files)],
            ["logical", f"{human_size(result.logical_bytes)} ({result.logical_bytes} bytes)"],
            ["stored", f"{human_size(result.stored_bytes)} ({result.stored_bytes} bytes)"],
            ["dedup ratio", f"{result.dedup_ratio:.2f}x"],
        ],
    )


__all__ = ["fsck", "gc", "stats"]
