"""How the commands print: rich on a terminal, plain text in a pipe, JSON on request.

Human output goes through :class:`Output`; it asks rich whether stdout is a terminal
(rich honours ``FORCE_COLOR``, ``NO_COLOR`` and ``TTY_COMPATIBLE``), so one code path
gives colour and tables to people and stable, uncoloured lines to scripts. Scripts that
parse output should use ``--json`` instead: its shape is the stable interface.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from ..values import Commit

F = TypeVar("F", bound=Callable[..., Any])

SHORT_ID = 12


def json_option(func: F) -> F:
    """Add ``--json`` (stored as ``as_json``) to a command."""
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(func)


def to_jsonable(value: Any) -> Any:
    """Turn our frozen dataclasses (and what they hold) into JSON-compatible values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        # Derived properties a script would otherwise recompute.
        for prop in ("ok", "dedup_ratio"):
            if hasattr(type(value), prop):
                data[prop] = to_jsonable(getattr(value, prop))
        return data
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("ascii", "backslashreplace")
    return value


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    click.echo(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False, default=str))


def human_size(size: int | None) -> str:
    """``1536`` -> ``"1.5 KiB"``; ``None`` (a directory) -> ``"-"``."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def short_id(commit_id: str) -> str:
    return commit_id[:SHORT_ID]


class Output:
    """Human-readable output on stdout; rich when stdout is a terminal, plain text otherwise."""

    def __init__(self) -> None:
        self.console = Console(file=sys.stdout, highlight=False, soft_wrap=True)

    @property
    def rich(self) -> bool:
        return self.console.is_terminal

    def size(self, size: int | None) -> str:
        """Human units for people; exact byte counts in a pipe."""
        if self.rich:
            return human_size(size)
        return "-" if size is None else str(size)

    def line(self, text: str | Text = "", style: str | None = None) -> None:
        if self.rich:
            self.console.print(text, style=style)
        else:
            click.echo(text.plain if isinstance(text, Text) else text)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str | Text]], *, right: Sequence[int] = ()) -> None:
        """A rich table on a terminal; aligned, header-less columns in a pipe."""
        if self.rich:
            table = Table(*headers, box=None, pad_edge=False, header_style="bold", show_header=any(headers))
            for index in right:
                table.columns[index].justify = "right"
            for row in rows:
                table.add_row(*row)
            self.console.print(table)
            return
        plain = [[cell.plain if isinstance(cell, Text) else cell for cell in row] for row in rows]
        widths = [max((len(row[i]) for row in plain), default=0) for i in range(len(headers))]
        for row in plain:
            cells = [
                cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) if i < len(row) - 1 else cell
                for i, cell in enumerate(row)
            ]
            click.echo("  ".join(cells).rstrip())


def print_commit(commit: Commit, *, branch: str, as_json: bool) -> None:
    """Report a commit a write made: its id alone in a pipe (``ID=$(artifactstore put ...)``)."""
    if as_json:
        print_json({"branch": branch, **to_jsonable(commit)})
        return
    out = Output()
    if not out.rich:
        click.echo(commit.id)
        return
    summary = commit.message.splitlines()[0] if commit.message else ""
    line = Text.assemble(("[", ""), (branch, "bold green"), " ", (short_id(commit.id), "yellow"), ("] ", ""), summary)
    out.line(line)
    if commit.logical_bytes is not None:
        new = human_size(commit.new_bytes) if commit.new_bytes is not None else "?"
        out.line(f"  {human_size(commit.logical_bytes)} written, {new} new", style="dim")


__all__ = ["Output", "human_size", "json_option", "print_commit", "print_json", "short_id", "to_jsonable"]
