"""``artifactstore backends`` and ``artifactstore init``."""

from __future__ import annotations

from typing import Any

import click
from rich.text import Text

from ..errors import ArtifactStoreError
from ..registry import KNOWN_BACKENDS, get_registry
from ..store import CAPABILITIES
from ._app import main
from ._common import open_store, reports_errors
from ._output import Output, json_option, print_json


def backend_rows() -> list[dict[str, Any]]:
    """Installed backends with their capabilities, then known ones that cannot load."""
    registry = get_registry()
    installed = registry.backends()
    rows: list[dict[str, Any]] = []
    for name, cls in installed.items():
        row: dict[str, Any] = {"name": name, "installed": True, "class": f"{cls.__module__}.{cls.__qualname__}"}
        row.update({cap: bool(getattr(cls, cap, False)) for cap in CAPABILITIES})
        rows.append(row)
    for name, distribution in sorted(KNOWN_BACKENDS.items()):
        if name in installed:
            continue
        try:
            registry.backend(name)
        except ArtifactStoreError as exc:
            problem = str(exc)
        else:  # pragma: no cover - appeared between the two calls
            continue
        rows.append({"name": name, "installed": False, "install": f"pip install {distribution}", "problem": problem})
    return rows


@main.command(short_help="Installed backends and their capabilities.")
@json_option
@reports_errors
def backends(as_json: bool) -> None:
    """List installed backends and their capabilities, and how to install the missing ones."""
    rows = backend_rows()
    if as_json:
        print_json(rows)
        return
    out = Output()
    table_rows = []
    for row in rows:
        if row["installed"]:
            caps = ", ".join(cap for cap in CAPABILITIES if row[cap]) or "-"
            table_rows.append([Text(row["name"], style="bold green"), Text("installed"), Text(caps)])
        else:
            table_rows.append([Text(row["name"], style="dim"), Text("missing", style="yellow"), Text(row["install"])])
    out.table(["backend", "status", "capabilities / install"], table_rows)


@main.command(short_help="Create an empty store.")
@click.argument("uri", metavar="URI")
@json_option
@reports_errors
def init(uri: str, as_json: bool) -> None:
    """Create an empty store at URI (a store URI such as artifactstore+git:///srv/artifacts)."""
    with open_store(uri, create=True) as (store, _):
        if as_json:
            print_json({"uri": store.uri, "backend": store.name, "default_branch": store.default_branch})
            return
        Output().line(f"initialized {store.name} store {store.uri} (default branch {store.default_branch})")
