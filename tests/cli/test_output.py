"""Terminal versus pipe output, progress bars, and the CountingReader behind them."""

from __future__ import annotations

import io
import re
from pathlib import Path

import artifactstore
from artifactstore.cli._progress import Bar, CountingReader

from .conftest import Invoke

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TERMINAL = {"TTY_COMPATIBLE": "1", "COLUMNS": "120"}  # rich then treats the captured streams as a terminal


def plain(text: str) -> str:
    return ANSI.sub("", text)


def test_pipe_output_has_no_escape_codes(cli: Invoke, mem_store: artifactstore.ArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("f")
    put = cli("put", mem_store.uri, str(tmp_path / "f.txt"))
    assert put.stdout == mem_store.resolve() + "\n"
    for args in (("ls", mem_store.uri), ("log", mem_store.uri), ("branch", mem_store.uri), ("backends",)):
        out = cli(*args).stdout
        assert "\x1b[" not in out and out.strip(), args


def test_terminal_output_is_coloured_and_tabulated(cli: Invoke, mem_store: artifactstore.ArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"f" * 2048)
    put = cli("put", mem_store.uri, str(tmp_path / "f.txt"), env=TERMINAL)
    assert "\x1b[" in put.stdout
    assert plain(put.stdout).startswith(f"[main {mem_store.resolve()[:12]}] put f.txt")
    listing = cli("ls", mem_store.uri, env=TERMINAL).stdout
    assert "\x1b[" in listing
    rows = [line.split() for line in plain(listing).splitlines()]
    assert rows[0] == ["size", "path"]  # a header on a terminal, none in a pipe
    assert rows[1] == ["2.0", "KiB", "f.txt"]  # human units on a terminal
    mem_store.put_bytes("g.txt", b"g")
    diff = plain(cli("diff", mem_store.uri, "main~1", "main", env=TERMINAL).stdout)
    assert "1 added, 0 modified, 0 deleted (main~1 -> main)" in diff


def test_put_and_get_with_progress_bar(cli: Invoke, mem_store: artifactstore.ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "big.bin").write_bytes(b"b" * 3_000_000)
    for i in range(300):  # more files than a process should hold open at once on a small ulimit
        (src / "sub" / f"{i:03}.txt").write_text(str(i))
    put = cli("put", mem_store.uri, str(src), "data", env=TERMINAL)
    assert "MiB" in plain(put.stderr) and "put src" in plain(put.stderr)
    assert len(mem_store.list("data", recursive=True)) == 301
    assert mem_store.read_bytes("data/sub/299.txt") == b"299"
    assert len(list(mem_store.log())) == 1

    get = cli("get", mem_store.uri, "data", str(tmp_path / "out"), env=TERMINAL)
    assert "get data" in plain(get.stderr)
    assert (tmp_path / "out" / "big.bin").read_bytes() == b"b" * 3_000_000
    assert (tmp_path / "out" / "sub" / "042.txt").read_text() == "42"
    assert not list((tmp_path / "out").rglob("*.part"))

    single = cli("put", mem_store.uri, str(src / "big.bin"), "one.bin", "--progress")
    assert single.stdout.strip() == mem_store.resolve()
    assert mem_store.read_bytes("one.bin") == b"b" * 3_000_000
    cli("get", mem_store.uri, "one.bin", str(tmp_path / "one.bin"), "--progress")
    assert (tmp_path / "one.bin").read_bytes() == b"b" * 3_000_000


def test_no_progress_overrides_the_terminal(cli: Invoke, mem_store: artifactstore.ArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"f" * 100_000)
    run = cli("put", mem_store.uri, str(tmp_path / "f"), "--no-progress", env=TERMINAL)
    assert "put f" not in plain(run.stderr)


class _Counter(Bar):
    def __init__(self) -> None:
        super().__init__(None, None, "")
        self.count = 0

    def advance(self, nbytes: int) -> None:
        self.count += nbytes


def test_counting_reader_counts_closes_at_end_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(b"0123456789")
    bar = _Counter()
    reader = CountingReader(path, bar)
    assert reader.read(4) == b"0123"
    assert reader.read() == b"456789"
    assert reader.read() == b""
    assert reader._file is None  # the descriptor is released at end of file
    assert reader.tell() == 10
    assert bar.count == 10
    reader.seek(2)
    assert reader.read(3) == b"234"
    reader.close()
    stream = CountingReader("<stdin>", bar, stream=io.BytesIO(b"abc"))
    assert stream.read() == b"abc"
    assert stream.read() == b""
    assert bar.count == 16
