"""Large files (streamed in and out in bounded memory, both sides of the inline threshold),
deduplication, and large directories (1,000 and 3,000 entries, which the engine fans out)."""

from __future__ import annotations

import gc
import io
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from artifactstore import ArtifactStore, Delete, InvalidPath, Put

from .fixtures import StoreFixtures
from .helpers import (
    CHUNK,
    ChunkStream,
    big_size,
    hash_stream,
    inline_threshold,
    iter_seeded_chunks,
    require,
    seeded_bytes,
    sha256_hex,
)

HUGE = 256 * 1024 * 1024
MEMORY_BOUND = 64 * 1024 * 1024
T = TypeVar("T")


def peak_growth(action: Callable[[], T]) -> tuple[T, int]:
    """Run ``action`` and return its result and the peak of Python allocations above the start."""
    gc.collect()
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if started:
            tracemalloc.stop()
    return result, peak - baseline


def write_seeded_file(path: Path, size: int, seed: int) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for block in iter_seeded_chunks(size, seed):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


class LargeFileTests(StoreFixtures):
    """Files on both sides of the inline threshold; a 256 MiB file streamed through bounded memory."""

    def test_sizes_around_the_inline_threshold_round_trip(self, store: ArtifactStore) -> None:
        limit = inline_threshold(store)
        sizes = sorted({0, 1, max(limit - 1, 0), limit, limit + 1, 2 * limit + 3})
        files = {f"size-{n}.bin": seeded_bytes(n, seed=n) for n in sizes}
        store.commit([Put(p, d) for p, d in files.items()], message="sizes")
        for path, data in files.items():
            assert store.read_bytes(path) == data, path
            entry = store.stat(path)
            assert (entry.size, entry.sha256) == (len(data), sha256_hex(data)), path
        listed = {e.path: e.size for e in store.list("")}
        assert listed == {p: len(d) for p, d in files.items()}

    def test_a_file_that_looks_like_a_pointer_is_kept_as_written(self, store: ArtifactStore) -> None:
        fake = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"ab" * 32 + b"\nsize 12\n"
        store.put_bytes("looks-like-a-pointer", fake)
        assert store.read_bytes("looks-like-a-pointer") == fake
        assert store.stat("looks-like-a-pointer").size == len(fake)

    def test_identical_files_are_stored_once(self, store: ArtifactStore) -> None:
        data = seeded_bytes(big_size(store) * 2, seed=11)
        first = store.put_bytes("run1/model.bin", data)
        second = store.put_bytes("run2/model.bin", data)
        assert first.logical_bytes == len(data)
        assert first.new_bytes is not None
        assert first.new_bytes > 0
        assert second.logical_bytes == len(data)
        assert second.new_bytes == 0, "the second copy of a file must be deduplicated"

    def test_stats_count_every_path_of_identical_files(self, store: ArtifactStore) -> None:
        data = seeded_bytes(big_size(store) * 2, seed=11)
        store.commit([Put("run1/model.bin", data), Put("run2/model.bin", data), Put("a.txt", b"s"), Put("b.txt", b"s")])
        stats = store.stats()
        assert stats.files == 4, "identical files at different paths are still different files"
        assert stats.logical_bytes == 2 * len(data) + 2
        # Stores have overhead (xet's shards), so only ask that the second copy was not stored again.
        assert stats.stored_bytes < 2 * len(data), f"{stats.stored_bytes} bytes stored for two copies of {len(data)}"
        assert stats.dedup_ratio > 1.0

    def test_chunk_dedup_stores_a_small_change_in_a_big_file_cheaply(self, store: ArtifactStore) -> None:
        require(store, "chunk_dedup")
        size = max(big_size(store), 8 * 1024 * 1024)
        data = bytearray(seeded_bytes(size, seed=12))
        store.put_bytes("ckpt.bin", bytes(data))
        data[size // 2 : size // 2 + 4096] = seeded_bytes(4096, seed=13)
        changed = store.put_bytes("ckpt.bin", bytes(data))
        assert changed.new_bytes is not None
        assert changed.new_bytes < size // 4, f"{changed.new_bytes} new bytes for a 4 KiB change in {size} bytes"
        assert store.read_bytes("ckpt.bin") == bytes(data)

    @pytest.mark.slow
    def test_256_mib_from_disk_streams_in_and_out_in_bounded_memory(self, store: ArtifactStore, tmp_path: Path) -> None:
        require(store, "bounded_memory")
        source = tmp_path / "huge.bin"
        expected = write_seeded_file(source, HUGE, seed=256)

        commit, grew_in = peak_growth(lambda: store.put_file("huge.bin", source))
        assert grew_in < MEMORY_BOUND, f"put_file of 256 MiB grew Python memory by {grew_in >> 20} MiB"
        assert commit.logical_bytes == HUGE
        source.unlink()

        def read_out() -> tuple[str, int]:
            with store.open("huge.bin") as f:
                return hash_stream(f, CHUNK)

        (digest, size), grew_out = peak_growth(read_out)
        assert (digest, size) == (expected, HUGE)
        assert grew_out < MEMORY_BOUND, f"reading 256 MiB in chunks grew Python memory by {grew_out >> 20} MiB"

        target, grew_down = peak_growth(lambda: store.download("huge.bin", tmp_path / "down.bin"))
        assert grew_down < MEMORY_BOUND, f"download of 256 MiB grew Python memory by {grew_down >> 20} MiB"
        with open(target, "rb") as f:
            assert hash_stream(f) == (expected, HUGE)
        assert store.stat("huge.bin").sha256 == expected

    @pytest.mark.slow
    def test_256_mib_from_a_non_seekable_stream_in_bounded_memory(self, store: ArtifactStore) -> None:
        require(store, "bounded_memory")
        stream = ChunkStream(HUGE, seed=257)
        commit, grew_in = peak_growth(lambda: store.put_file("streamed.bin", stream.as_binary()))
        assert grew_in < MEMORY_BOUND, f"put_file of a 256 MiB stream grew Python memory by {grew_in >> 20} MiB"
        assert commit.logical_bytes == HUGE
        expected = stream.sha256.hexdigest()

        def read_out() -> tuple[str, int]:
            with store.open("streamed.bin") as f:
                f.seek(HUGE - 10)
                assert len(f.read()) == 10
                f.seek(0)
                return hash_stream(f, 4 * CHUNK)

        (digest, size), grew_out = peak_growth(read_out)
        assert (digest, size) == (expected, HUGE)
        assert grew_out < MEMORY_BOUND, f"reading 256 MiB grew Python memory by {grew_out >> 20} MiB"

    def test_large_file_reads_can_seek_anywhere(self, store: ArtifactStore) -> None:
        data = seeded_bytes(big_size(store) + 3 * CHUNK, seed=5)
        store.put_file("big.bin", io.BytesIO(data))
        with store.open("big.bin") as f:
            for offset in (len(data) - 1, 0, CHUNK + 17, len(data) // 2, 3):
                f.seek(offset)
                assert f.read(100) == data[offset : offset + 100], offset


class LargeDirectoryTests(StoreFixtures):
    """1,000 and 3,000 entries in one directory: listing, stat, delete, diff, incremental commits."""

    def test_a_1000_entry_directory(self, store: ArtifactStore, tmp_path: Path) -> None:
        names = [f"runs/run-{i:04d}.json" for i in range(1000)]
        first = store.commit([Put(p, p.encode()) for p in names], message="1000 runs").id
        listing = store.list("runs")
        assert [e.path for e in listing] == names
        assert all(e.kind == "file" for e in listing)
        assert store.read_bytes("runs/run-0500.json") == b"runs/run-0500.json"
        store.put_bytes("runs/run-1000.json", b"one more")
        store.delete("runs/run-0000.json")
        assert len(store.list("runs")) == 1000
        assert [(c.kind, c.path) for c in store.diff(first, "main")] == [
            ("deleted", "runs/run-0000.json"),
            ("added", "runs/run-1000.json"),
        ]
        out = store.download("runs", tmp_path / "runs")
        assert len(list(out.iterdir())) == 1000

    def test_a_3000_entry_directory_is_fanned_out_transparently(self, store: ArtifactStore) -> None:
        # The engine splits a directory into hash-named subtrees above a few hundred entries;
        # none of that may show: names, order, case checks and diffs stay logical.
        names = [f"traces/tr-{i:05d}" for i in range(3000)]
        base = store.commit([Put(p, str(i).encode()) for i, p in enumerate(names)], message="3000 traces").id
        assert [e.path for e in store.list("traces")] == names
        assert [e.path for e in store.list("", recursive=True)] == names
        assert [e.path for e in store.list("")] == ["traces"]
        for i in (0, 1234, 2999):
            entry = store.stat(names[i])
            assert (entry.kind, entry.size) == ("file", len(str(i)))
            assert store.read_bytes(names[i]) == str(i).encode()
        assert not store.exists("traces/tr-03000")
        with pytest.raises(InvalidPath):  # fan-out subtrees ("<dir>/:0") must not leak into the path space
            store.exists("traces/:0")

        for i in range(20):
            store.put_bytes(f"traces/new-{i:02d}", b"n")
        store.commit([Delete(names[7]), Delete(names[2500]), Put(names[100], b"changed")])
        head_listing = [e.path for e in store.list("traces")]
        assert len(head_listing) == 3000 - 2 + 20
        assert head_listing == sorted(head_listing)
        changes = store.diff(base, "main")
        assert [(c.kind, c.path) for c in changes] == sorted(
            [("added", f"traces/new-{i:02d}") for i in range(20)]
            + [("deleted", names[7]), ("deleted", names[2500]), ("modified", names[100])],
            key=lambda kc: kc[1],
        )
        assert [c.path for c in store.diff(base, "main", prefix="traces/tr-00100")] == [names[100]]
        assert store.read_bytes(names[1], rev=base) == b"1"
        assert store.read_bytes(names[7], rev=base) == b"7"

        store.delete("traces")
        assert store.list("", recursive=True) == []
        assert len(store.list("traces", rev=base)) == 3000

    def test_case_clash_is_caught_in_a_fanned_out_directory(self, store: ArtifactStore) -> None:
        store.commit([Put(f"big/file-{i:04d}", b"x") for i in range(600)])
        head = store.resolve()
        with pytest.raises(InvalidPath, match="FILE-0599"):
            store.put_bytes("big/FILE-0599", b"clash")
        assert store.resolve() == head


__all__ = ["LargeDirectoryTests", "LargeFileTests"]
