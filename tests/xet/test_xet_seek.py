"""A seek() followed by a short read fetches only that range (measured, not mocked)."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

from artifactstore_xet import XetStore

from .conftest import rchar

MIB = 1024 * 1024
SIZE = 48 * MIB


def _big_file(store: XetStore, tmp_path: Path) -> bytes:
    data = os.urandom(SIZE)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    store.put_file("big.bin", str(source))
    return data


def test_seek_then_short_read_reads_only_that_range_from_disk(store: XetStore, tmp_path: Path) -> None:
    data = _big_file(store, tmp_path)
    offset = 30_000_000
    with store.open("big.bin") as stream:
        before = rchar()
        stream.seek(offset)
        got = stream.read(100)
        read_from_disk = rchar() - before
    assert got == data[offset : offset + 100]
    # hf-xet reads the xorb range of the chunk(s) holding these bytes (~64-128 KiB), never the file
    assert read_from_disk < 2 * MIB, read_from_disk
    whole = rchar()
    with store.open("big.bin") as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert rchar() - whole >= SIZE  # the same measurement sees a full read


def test_port_reader_fetches_a_small_window_after_a_seek(store: XetStore, tmp_path: Path) -> None:
    data = _big_file(store, tmp_path)
    info = store.content_port.index.get(hashlib.sha256(data).hexdigest())
    assert info is not None
    from artifactstore.engine import ContentInfo

    reader = store.content_port.open(ContentInfo(info.sha256, info.size, {"xet-hash": info.xet_hash}))
    reader.seek(-10, os.SEEK_END)
    assert reader.read(100) == data[-10:]
    reader.seek(12_345_678)
    assert reader.read(5) == data[12_345_678:12_345_683]
    assert reader.bytes_fetched <= 2 * store.content_port.min_window  # type: ignore[attr-defined]
    assert reader.read(0) == b""
    reader.seek(SIZE)
    assert reader.read(10) == b""


def test_sequential_read_memory_stays_bounded(store: XetStore, tmp_path: Path) -> None:
    data = _big_file(store, tmp_path)
    store.content_port.max_window = 4 * MIB
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        with store.open("big.bin") as stream:
            while chunk := stream.read(MIB):
                digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    # the window being read and those prefetched (4 MiB each here) plus the caller's 1 MiB
    # chunks: never the 48 MiB file
    assert peak < (1 + store.content_port.prefetch) * 4 * MIB + 3 * MIB, peak
    assert peak < SIZE // 2
