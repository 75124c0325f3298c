"""Progress bars for long transfers, shown only when stderr is a terminal.

``--progress`` / ``--no-progress`` override the detection. With no bar, the commands call the
store's own bulk methods (``upload_dir``, ``download``), which a backend may make faster;
with a bar, files are streamed through a counting reader so the bar moves byte by byte.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

F = TypeVar("F", bound=Callable[..., Any])


def progress_option(func: F) -> F:
    """Add ``--progress/--no-progress`` (default: a bar when stderr is a terminal)."""
    return click.option(
        "--progress/--no-progress",
        "progress",
        default=None,
        help="Show a progress bar (default: only when stderr is a terminal).",
    )(func)


def _stderr_console() -> Console:
    return Console(file=sys.stderr)


def wants_progress(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    return _stderr_console().is_terminal


class Bar:
    """One byte-counting bar; :meth:`advance` is called as bytes move."""

    def __init__(self, progress: Progress | None, total: int | None, description: str) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=total) if progress is not None else None

    def advance(self, nbytes: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, nbytes)

    def describe(self, description: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=description)


@contextmanager
def transfer_bar(enabled: bool, total: int | None, description: str) -> Iterator[Bar]:
    """A progress bar on stderr for ``total`` bytes, or a bar that draws nothing."""
    if not enabled:
        yield Bar(None, total, description)
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=_stderr_console(),
        transient=True,
    )
    with progress:
        yield Bar(progress, total, description)


def as_binary(reader: CountingReader) -> BinaryIO:
    """A :class:`CountingReader` typed as the binary stream it behaves as."""
    return cast(BinaryIO, reader)


class CountingReader(io.RawIOBase):
    """A local file opened on first read, counting bytes into a :class:`Bar`.

    Opening lazily lets a directory of thousands of files become one commit of streamed
    puts without holding thousands of open descriptors before the engine reads them.
    """

    def __init__(self, path: str | os.PathLike[str], bar: Bar, *, stream: BinaryIO | None = None) -> None:
        super().__init__()
        self._path = Path(path)
        self._bar = bar
        self._file: BinaryIO | None = stream
        self._reopenable = stream is None
        self._position = 0  # where a file closed at its end is reopened
        self.name = str(path)

    def _ensure_open(self) -> BinaryIO:
        if self._file is None:
            self._file = open(self._path, "rb")  # noqa: SIM115 - closed in close()
            if self._position:
                self._file.seek(self._position)
        return self._file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._ensure_open().read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._bar.advance(n)
        if n == 0 and self._reopenable and self._file is not None:
            # End of file: release the descriptor early; a later seek() or tell() reopens it.
            self._position = self._file.tell()
            self._file.close()
            self._file = None
        return n

    def seekable(self) -> bool:
        return self._reopenable or self._ensure_open().seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._ensure_open().seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell() if self._file is not None else self._position

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()


__all__ = ["Bar", "CountingReader", "as_binary", "progress_option", "transfer_bar", "wants_progress"]
