"""Branches and tags (``branch``, ``tag``) and ``merge``."""

from __future__ import annotations

import click
from rich.text import Text

from ._app import main
from ._common import open_store, reports_errors
from ._output import Output, json_option, print_commit, print_json, short_id


@main.command(short_help="List, create or delete branches.")
@click.argument("uri", metavar="URI")
@click.argument("name", metavar="[NAME]", required=False)
@click.option("--from", "from_rev", metavar="REV", help="Where the new branch starts (default: the default branch).")
@click.option("-d", "--delete", "delete", metavar="NAME", help="Delete branch NAME (its commits stay until gc).")
@json_option
@reports_errors
def branch(uri: str, name: str | None, from_rev: str | None, delete: str | None, as_json: bool) -> None:
    """List branches, create branch NAME, or delete one with -d NAME."""
    if delete and name:
        raise click.UsageError("give either NAME to create a branch or -d NAME to delete one, not both")
    if from_rev and not name:
        raise click.UsageError("--from needs the NAME of the branch to create")
    with open_store(uri) as (store, _):
        if delete:
            old = store.branches().get(delete)
            store.delete_branch(delete)
            _report(
                as_json, {"deleted": delete, "id": old}, f"deleted branch {delete}" + (f" (was {short_id(old)})" if old else "")
            )
        elif name:
            commit_id = store.create_branch(name, rev=from_rev)
            _report(as_json, {"created": name, "id": commit_id}, f"created branch {name} at {short_id(commit_id)}")
        else:
            _list_refs(store.branches(), as_json, current=store.default_branch)


@main.command(short_help="List, create or delete tags.")
@click.argument("uri", metavar="URI")
@click.argument("name", metavar="[NAME]", required=False)
@click.argument("rev", metavar="[REV]", required=False)
@click.option("-d", "--delete", "delete", metavar="NAME", help="Delete tag NAME.")
@json_option
@reports_errors
def tag(uri: str, name: str | None, rev: str | None, delete: str | None, as_json: bool) -> None:
    """List tags, mark REV (default: the default branch) with tag NAME, or delete one with -d NAME."""
    if delete and name:
        raise click.UsageError("give either NAME to create a tag or -d NAME to delete one, not both")
    with open_store(uri) as (store, _):
        if delete:
            old = store.tags().get(delete)
            store.delete_tag(delete)
            _report(as_json, {"deleted": delete, "id": old}, f"deleted tag {delete}" + (f" (was {short_id(old)})" if old else ""))
        elif name:
            commit_id = store.create_tag(name, rev=rev)
            _report(as_json, {"created": name, "id": commit_id}, f"tagged {short_id(commit_id)} as {name}")
        else:
            _list_refs(store.tags(), as_json, current=None)


def _report(as_json: bool, data: dict[str, str | None], text: str) -> None:
    if as_json:
        print_json(data)
    else:
        Output().line(text)


def _list_refs(refs: dict[str, str], as_json: bool, *, current: str | None) -> None:
    if as_json:
        print_json([{"name": name, "id": commit_id, "default": name == current} for name, commit_id in sorted(refs.items())])
        return
    out = Output()
    rows = []
    for name, commit_id in sorted(refs.items()):
        marker = "*" if name == current else " "
        style = "bold green" if name == current else ""
        rows.append(
            [
                Text(marker, style=style),
                Text(name, style=style),
                Text(commit_id if not out.rich else short_id(commit_id), style="yellow"),
            ]
        )
    if current is None:
        rows = [row[1:] for row in rows]
        out.table(["name", "commit"], rows)
    else:
        out.table(["", "name", "commit"], rows)


@main.command(short_help="Merge a revision into a branch.")
@click.argument("uri", metavar="URI")
@click.argument("source", metavar="SOURCE")
@click.option("--into", metavar="BRANCH", help="Branch to merge into (default: the URI's branch).")
@click.option("-m", "--message", metavar="MSG", help="Message of a three-way merge commit.")
@json_option
@reports_errors
def merge(uri: str, source: str, into: str | None, message: str | None, as_json: bool) -> None:
    """Merge revision SOURCE into a branch: fast-forward, or a three-way merge at file level.

    A file changed differently on both sides is a conflict: every such path is named and
    nothing is written (exit code 1).
    """
    with open_store(uri) as (store, _):
        target = into or store.default_branch
        before = store.branches().get(target)
        source_id = store.resolve(source)
        commit = store.merge(source, into=into, message=message)
    if commit.id == before:
        how = "already up to date"
    elif commit.id == source_id:
        how = "fast-forward"
    else:
        how = "merge commit"
    if as_json:
        print_json({"into": target, "source": source, "result": how, "commit": commit})
        return
    out = Output()
    if out.rich:
        out.line(Text.assemble(f"merged {source} into ", (target, "bold green"), f": {how} ", (short_id(commit.id), "yellow")))
    else:
        print_commit(commit, branch=target, as_json=False)
