"""Reading files out of a store: ``cat``, ``get`` and ``ls``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
from rich.text import Text

from ..errors import NotADirectory
from ..store import COPY_CHUNK, ArtifactStore
from ..values import Entry
from ._app import main
from ._common import binary_stdout, join_path, open_store, relative_to, reports_errors
from ._output import Output, human_size, json_option, print_json
from ._progress import Bar, progress_option, transfer_bar, wants_progress

REV_HELP = "Branch, tag or commit id to read (default: the URI's branch); main~1 is the commit before main."


@main.command(short_help="Print a file's bytes to stdout.")
@click.argument("uri", metavar="URI")
@click.argument("path", metavar="PATH")
@click.option("-r", "--rev", metavar="REV", help=REV_HELP)
@reports_errors
def cat(uri: str, path: str, rev: str | None) -> None:
    """Write the bytes of file PATH to stdout (binary-safe, streamed)."""
    with open_store(uri) as (store, base):
        out = binary_stdout()
        with store.open(join_path(base, path), rev=rev) as source:
            while chunk := source.read(COPY_CHUNK):
                out.write(chunk)
        out.flush()


@main.command(short_help="Copy a file or directory to local disk.")
@click.argument("uri", metavar="URI")
@click.argument("path", metavar="PATH")
@click.argument("dest", metavar="[DEST]", required=False, type=click.Path(path_type=Path))
@click.option("-r", "--rev", metavar="REV", help=REV_HELP)
@progress_option
@json_option
@reports_errors
def get(uri: str, path: str, dest: Path | None, rev: str | None, progress: bool | None, as_json: bool) -> None:
    """Copy file or directory PATH to local DEST.

    A file goes to DEST (or into DEST when DEST is an existing directory; default: its
    name in the current directory). A directory's files go below DEST (default: a
    directory of the same name here). Files appear complete or not at all.
    """
    with open_store(uri) as (store, base):
        target = join_path(base, path)
        commit_id = store.resolve(rev)  # one revision for every file, even if the branch moves
        entry = store.stat(target, rev=commit_id)
        if entry.kind == "file":
            dest = dest or Path(entry.name)
            if dest.is_dir():
                dest = dest / entry.name
            files = [(entry, dest)]
        else:
            if dest is None:
                if not entry.name:
                    raise click.UsageError("name a DEST directory to get the whole store")
                dest = Path(entry.name)
            files = [(item, dest / relative_to(item.path, target)) for item in store.list(target, rev=commit_id, recursive=True)]
        total = sum(item.size or 0 for item, _ in files)
        if wants_progress(progress):
            with transfer_bar(True, total, f"get {path or '/'}") as bar:
                if entry.kind == "dir":
                    dest.mkdir(parents=True, exist_ok=True)
                for item, local in files:
                    _download_file(store, item.path, local, commit_id, bar)
        else:
            store.download(target, dest, rev=commit_id)
        if as_json:
            print_json({"path": target, "rev": commit_id, "dest": str(dest), "files": len(files), "bytes": total})
            return
        noun = "file" if len(files) == 1 else "files"
        Output().line(f"{len(files)} {noun} ({human_size(total)}) -> {dest}")


def _download_file(store: ArtifactStore, path: str, dest: Path, rev: str, bar: Bar) -> None:
    """Copy one file through the progress bar: a temporary name, then an atomic rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, store.open(path, rev=rev) as source:
            while chunk := source.read(COPY_CHUNK):
                out.write(chunk)
                bar.advance(len(chunk))
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@main.command(name="ls", short_help="List a directory at a revision.")
@click.argument("uri", metavar="URI")
@click.argument("path", metavar="[PATH]", required=False, default="")
@click.option("-r", "--rev", metavar="REV", help=REV_HELP)
@click.option("-R", "--recursive", is_flag=True, help="List every file below PATH.")
@click.option("-l", "--long", "long_format", is_flag=True, help="Also show each file's SHA-256.")
@json_option
@reports_errors
def ls(uri: str, path: str, rev: str | None, recursive: bool, long_format: bool, as_json: bool) -> None:
    """List directory PATH (default: the root) at a revision; one level, or every file with -R."""
    with open_store(uri) as (store, base):
        target = join_path(base, path)
        try:
            entries = store.list(target, rev=rev, recursive=recursive)
            listed_dir = target
        except NotADirectory:
            entries = [store.stat(target, rev=rev)]
            listed_dir = target.rsplit("/", 1)[0] if "/" in target else ""
        if as_json:
            print_json(entries)
            return
        out = Output()
        out.table(
            ["size", "sha256", "path"] if long_format else ["size", "path"],
            [_entry_row(out, entry, listed_dir, long_format) for entry in entries],
            right=[0],
        )


def _entry_row(out: Output, entry: Entry, listed_dir: str, long_format: bool) -> list[str | Text]:
    name = relative_to(entry.path, listed_dir)
    shown = Text(name + "/", style="bold blue") if entry.kind == "dir" else Text(name)
    size = out.size(entry.size)
    return [size, entry.sha256 or "-", shown] if long_format else [size, shown]


__all__ = ["cat", "get", "ls"]
