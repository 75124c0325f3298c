"""The root click group and helpers shared by the command modules."""

from __future__ import annotations

import logging

import click

from .. import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="artifactstore")
@click.option("-v", "--verbose", count=True, help="Log more (repeat for debug output).")
def main(verbose: int) -> None:
    """Versioned artifact store: every artifact a commit, on memory, git, S3 or Xet."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


__all__ = ["main"]
