"""``artifactstore demo``: the README's first command, a short tour on a local store."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.text import Text

from ..registry import get_registry
from ..store import ArtifactStore
from ..values import Put
from ._app import main
from ._common import open_store, reports_errors
from ._output import Output, human_size, short_id
from .history import change_row

DEMO_DIR = Path("artifactstore-data") / "demo"
DEMO_BRANCH = "experiment"


def default_demo_uri() -> str:
    """A git store under ./artifactstore-data/demo when the git backend is installed, else memory."""
    if "git" in get_registry().backends():
        return f"artifactstore+git://{DEMO_DIR.resolve().as_posix()}"
    return "artifactstore+memory://demo"


def _json(data: dict[str, float]) -> bytes:
    return json.dumps(data, sort_keys=True).encode() + b"\n"


@main.command(short_help="A short tour: commit, branch, diff.")
@click.option("--store", "uri", metavar="URI", help="Store to use (default: git under ./artifactstore-data/demo, else memory).")
@reports_errors
def demo(uri: str | None) -> None:
    """Commit, branch, time-travel and diff on a local store, printing each step."""
    uri = uri or default_demo_uri()
    out = Output()
    with open_store(uri, create=True) as (store, _):
        out.line(Text.assemble("artifactstore demo on ", (store.uri, "bold"), "\n"))
        run_demo(store, out)
        out.line()
        if store.persistent:
            out.line(f"Try it yourself:  artifactstore log {store.uri} -r {DEMO_BRANCH}", style="bold")
        else:
            out.line("This was a memory store, gone when the command exits; pip install artifactstore-git to keep one.")


def run_demo(store: ArtifactStore, out: Output) -> None:
    main_branch = store.default_branch
    first = store.commit(
        [Put("params.json", _json({"learning_rate": 0.1})), Put("metrics.json", _json({"accuracy": 0.81}))],
        branch=main_branch,
        message="first training run",
    )
    _step(out, 1, f"committed params.json and metrics.json to {main_branch}", first.id)

    if DEMO_BRANCH in store.branches():
        store.delete_branch(DEMO_BRANCH)  # left by an earlier demo run on this store
    store.create_branch(DEMO_BRANCH, rev=main_branch)
    _step(out, 2, f"created branch {DEMO_BRANCH} from {main_branch}")

    second = store.commit(
        [Put("params.json", _json({"learning_rate": 0.01})), Put("metrics.json", _json({"accuracy": 0.87}))],
        branch=DEMO_BRANCH,
        message="lower the learning rate",
    )
    _step(out, 3, f"changed both files on {DEMO_BRANCH}", second.id)

    _step(out, 4, "read params.json back at three revisions:")
    for rev, note in ((main_branch, ""), (DEMO_BRANCH, ""), (f"{DEMO_BRANCH}~1", "  (the old revision)")):
        content = store.read_bytes("params.json", rev=rev).decode().strip()
        out.line(Text.assemble(f"     {rev:<14} ", (content, "cyan"), note))

    _step(out, 5, f"log of {DEMO_BRANCH}:")
    for commit in store.log(DEMO_BRANCH, limit=5):
        written = f"  ({human_size(commit.logical_bytes)})" if commit.logical_bytes is not None else ""
        out.line(Text.assemble("     ", (short_id(commit.id), "yellow"), f"  {commit.message}{written}"))

    _step(out, 6, f"diff {main_branch} {DEMO_BRANCH}:")
    for change in store.diff(main_branch, DEMO_BRANCH):
        letter, path, _ = change_row(out, change)
        old = human_size(change.old.size) if change.old else "-"
        new = human_size(change.new.size) if change.new else "-"
        out.line(Text.assemble("     ", letter, " ", path, f"  {old} -> {new}"))


def _step(out: Output, number: int, text: str, commit_id: str | None = None) -> None:
    line = Text.assemble((f"{number}. ", "bold"), text)
    if commit_id:
        line.append("  ")
        line.append(short_id(commit_id), style="yellow")
    out.line(line)


__all__ = ["default_demo_uri", "demo", "run_demo"]
