"""Helpers every command shares: one error format, opening a store from a URI argument."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import sys
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TypeVar

import click

from ..errors import ArtifactStoreError

if TYPE_CHECKING:
    from ..store import ArtifactStore

F = TypeVar("F", bound=Callable[..., Any])


class CommandError(click.ClickException):
    """A failure reported as one line ``error: ...`` on stderr, exit code 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def reports_errors(func: F) -> F:
    """Turn the library's errors (and local file-system errors) into ``error: ...`` and exit 1.

    Usage errors stay click's (exit 2). A closed pipe (``artifactstore cat ... | head``)
    ends the command quietly, as ``cat`` does.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BrokenPipeError:
            _silence_stdout()
            sys.exit(1)
        except ArtifactStoreError as exc:
            raise CommandError(_describe_store_error(exc)) from exc
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                _silence_stdout()
                sys.exit(1)
            raise CommandError(_describe_os_error(exc)) from exc

    return wrapper  # type: ignore[return-value]


def _describe_store_error(exc: ArtifactStoreError) -> str:
    message = str(exc)
    missing = [p for p in getattr(exc, "paths", ()) if p not in message]
    if missing:
        message += f" (conflicting paths: {', '.join(missing)})"
    return message


def _describe_os_error(exc: OSError) -> str:
    if exc.strerror and exc.filename is not None:
        return f"{exc.strerror}: {os.fsdecode(exc.filename)!r}"
    return str(exc)


def _silence_stdout() -> None:
    # Python flushes stdout at exit; after EPIPE that flush would print a traceback.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def binary_stdout() -> BinaryIO:
    """stdout for bytes (``sys.stdout`` is looked up at call time, so click's test runner sees it)."""
    return sys.stdout.buffer


@contextlib.contextmanager
def open_store(uri: str, *, create: bool = False) -> Iterator[tuple[ArtifactStore, str]]:
    """Open the store ``uri`` names; yield it with the path inside the store the URI points at."""
    from ..uri import open_with_path

    store, located = open_with_path(uri, create=create)
    try:
        yield store, located.path
    finally:
        store.close()


def join_path(base: str, path: str | None) -> str:
    """The store path for ``path`` given on the command line, below the URI's own path.

    Nothing is normalised here: the store validates the result and names it if it is bad.
    """
    if not path:
        return base
    return f"{base}/{path}" if base else path


def relative_to(path: str, base: str) -> str:
    """``path`` as seen from directory ``base`` (for display)."""
    if base and path.startswith(base + "/"):
        return path[len(base) + 1 :]
    return path


__all__ = ["CommandError", "binary_stdout", "join_path", "open_store", "relative_to", "reports_errors"]
