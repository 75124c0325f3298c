"""Writing to a store: ``put``, ``rm`` and ``import``. Each is exactly one commit."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ..values import Commit, Put
from ._app import main
from ._common import CommandError, join_path, open_store, reports_errors
from ._output import json_option, print_commit
from ._progress import CountingReader, as_binary, progress_option, transfer_bar, wants_progress

BRANCH_HELP = "Branch to commit to (default: the URI's branch, else the store's default branch)."
MESSAGE_HELP = "Commit message (default: says what was written)."


@main.command(short_help="Commit a local file or directory.")
@click.argument("uri", metavar="URI")
@click.argument("src", metavar="SRC", type=click.Path(exists=True, allow_dash=True, path_type=Path))
@click.argument("dest", metavar="[DEST]", required=False)
@click.option("-b", "--branch", metavar="BRANCH", help=BRANCH_HELP)
@click.option("-m", "--message", metavar="MSG", help=MESSAGE_HELP)
@progress_option
@json_option
@reports_errors
def put(
    uri: str, src: Path, dest: str | None, branch: str | None, message: str | None, progress: bool | None, as_json: bool
) -> None:
    """Commit local file or directory SRC ("-" reads stdin) at DEST in the store.

    A file goes to DEST (default: its name at the URI's path). A directory becomes ONE
    commit of every file below it, placed below DEST (default: at the URI's path itself).
    Prints the new commit's id.
    """
    with open_store(uri) as (store, base):
        show = wants_progress(progress)
        if str(src) == "-":
            if not dest:
                raise click.UsageError("name the DEST path when reading SRC from stdin")
            target = join_path(base, dest)
            stdin = sys.stdin.buffer
            with transfer_bar(show, None, f"put {dest}") as bar:
                commit = store.put_file(
                    target, as_binary(CountingReader("<stdin>", bar, stream=stdin)), branch=branch, message=message
                )
        elif src.is_dir():
            commit = _put_dir(store, src, join_path(base, dest), branch=branch, message=message, show=show)
        else:
            target = join_path(base, dest or src.name)
            if show:
                with transfer_bar(True, src.stat().st_size, f"put {src.name}") as bar, CountingReader(src, bar) as reader:
                    commit = store.put_file(target, as_binary(reader), branch=branch, message=message)
            else:
                commit = store.put_file(target, str(src), branch=branch, message=message)
        print_commit(commit, branch=branch or store.default_branch, as_json=as_json)


def _put_dir(store: Any, src: Path, prefix: str, *, branch: str | None, message: str | None, show: bool) -> Commit:
    files = list(_walk_files(src))
    if not files:
        raise CommandError(f"directory {str(src)!r} holds no files; nothing to commit")
    if not show:
        commit: Commit = store.upload_dir(src, prefix, branch=branch, message=message)
        return commit
    total = sum(local.stat().st_size for _, local in files)
    with transfer_bar(True, total, f"put {src.name or src}") as bar:
        readers = [CountingReader(local, bar) for _, local in files]
        try:
            puts = [Put(join_path(prefix, rel), as_binary(reader)) for (rel, _), reader in zip(files, readers, strict=True)]
            where = prefix or "/"
            commit = store.commit(puts, branch=branch, message=message or f"upload {len(puts)} files to {where}")
        finally:
            for reader in readers:
                reader.close()
    return commit


def _walk_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Files below ``root`` as (relative posix path, local path), sorted; symlinks followed."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        for name in sorted(filenames):
            yield (name if rel_dir == "." else f"{rel_dir}/{name}"), here / name


@main.command(short_help="Delete a file or directory (one commit).")
@click.argument("uri", metavar="URI")
@click.argument("path", metavar="PATH")
@click.option("-b", "--branch", metavar="BRANCH", help=BRANCH_HELP)
@click.option("-m", "--message", metavar="MSG", help=MESSAGE_HELP)
@json_option
@reports_errors
def rm(uri: str, path: str, branch: str | None, message: str | None, as_json: bool) -> None:
    """Delete file or directory PATH in one commit (history keeps it). Prints the commit id."""
    with open_store(uri) as (store, base):
        commit = store.delete(join_path(base, path), branch=branch, message=message)
        print_commit(commit, branch=branch or store.default_branch, as_json=as_json)


@main.command(name="import", short_help="Import an existing tree as one commit.")
@click.argument("src", metavar="SRC")
@click.argument("uri", metavar="URI")
@click.option("-b", "--branch", metavar="BRANCH", help=BRANCH_HELP)
@click.option("-m", "--message", metavar="MSG", help=MESSAGE_HELP)
@json_option
@reports_errors
def import_(src: str, uri: str, branch: str | None, message: str | None, as_json: bool) -> None:
    """Import the existing tree SRC into the store at URI as one commit.

    SRC is a local directory (an MLflow ``mlartifacts/`` or ``mlruns/`` folder) or an
    ``s3://bucket/prefix`` written by MLflow's S3 artifact store; files land below the URI's path.
    """
    from ..importing import import_tree

    with open_store(uri) as (store, base):
        commit = import_tree(store, src, branch=branch, message=message, prefix=base)
        print_commit(commit, branch=branch or store.default_branch, as_json=as_json)


__all__ = ["import_", "put", "rm"]
