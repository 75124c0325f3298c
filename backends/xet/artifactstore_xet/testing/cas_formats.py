"""Just enough of the Xet object formats for a test CAS server to answer reconstructions.

A shard (``POST /v1/shards``) starts with a 48-byte header (32-byte tag, version, footer
size) followed by the file-info section: per file a 48-byte header (file hash, flags,
number of entries, 8 unused bytes), that many 48-byte segment entries (xorb hash, xorb
flags, unpacked bytes, first chunk, end chunk), then a verification entry per segment and
one metadata entry when the flags say so. The section ends with a bookend whose hash is
all ``0xff``. A xorb (``POST /v1/xorbs/default/{hash}``) is a run of chunks, each behind an
8-byte header (version, 3-byte compressed length, scheme, 3-byte uncompressed length, all
little-endian), followed by a footer that starts with ``XETBLOB``.

Hashes travel as hex strings in which each of the four little-endian 64-bit words is
written most significant digit first (xet-core's ``MerkleHash::hex``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SHARD_HEADER_SIZE = 48
ENTRY_SIZE = 48
FLAG_WITH_VERIFICATION = 1 << 31
FLAG_WITH_METADATA_EXT = 1 << 30
BOOKEND = b"\xff" * 32
CHUNK_HEADER_SIZE = 8
XORB_FOOTER_IDENT = b"XETBLOB"


def hash_hex(raw: bytes) -> str:
    """The hex form of a 32-byte Merkle hash as serialized in shards."""
    if len(raw) != 32:
        raise ValueError(f"a Merkle hash has 32 bytes, not {len(raw)}")
    words = struct.unpack("<4Q", raw)
    return "".join(f"{word:016x}" for word in words)


@dataclass(frozen=True)
class Segment:
    """Chunks ``[chunk_start, chunk_end)`` of xorb ``xorb``, ``unpacked`` bytes once decoded."""

    xorb: str
    unpacked: int
    chunk_start: int
    chunk_end: int


@dataclass(frozen=True)
class FileRecord:
    """How a file (by its Merkle hash) is put together from xorb segments."""

    file_hash: str
    segments: tuple[Segment, ...]
    #: The file's SHA-256 (hex) when the shard carries the metadata extension, else ``None``.
    sha256: str | None = None

    @property
    def size(self) -> int:
        return sum(s.unpacked for s in self.segments)


def parse_shard_files(data: bytes) -> list[FileRecord]:
    """The file records of a shard; raises ``ValueError`` on a malformed one."""
    if len(data) < SHARD_HEADER_SIZE:
        raise ValueError("shard shorter than its header")
    pos = SHARD_HEADER_SIZE
    files: list[FileRecord] = []
    while True:
        if pos + ENTRY_SIZE > len(data):
            raise ValueError("shard file section has no bookend")
        raw_hash = data[pos : pos + 32]
        if raw_hash == BOOKEND:
            return files
        flags, count = struct.unpack_from("<II", data, pos + 32)
        pos += ENTRY_SIZE
        segments = []
        for _ in range(count):
            if pos + ENTRY_SIZE > len(data):
                raise ValueError("shard file entry runs past the end")
            xorb = hash_hex(data[pos : pos + 32])
            _xorb_flags, unpacked, start, end = struct.unpack_from("<IIII", data, pos + 32)
            if end <= start:
                raise ValueError(f"shard segment of xorb {xorb} has chunk range {start}-{end}")
            segments.append(Segment(xorb, unpacked, start, end))
            pos += ENTRY_SIZE
        if flags & FLAG_WITH_VERIFICATION:
            pos += ENTRY_SIZE * count
        sha256 = None
        if flags & FLAG_WITH_METADATA_EXT:
            sha256 = hash_hex(data[pos : pos + 32])
            pos += ENTRY_SIZE
        files.append(FileRecord(hash_hex(raw_hash), tuple(segments), sha256))


def chunk_offsets(xorb: bytes) -> list[int]:
    """Byte offset of every chunk of a serialized xorb, plus the offset where the chunks end."""
    offsets = []
    pos = 0
    while pos + CHUNK_HEADER_SIZE <= len(xorb) and xorb[pos : pos + len(XORB_FOOTER_IDENT)] != XORB_FOOTER_IDENT:
        version = xorb[pos]
        if version != 0:
            raise ValueError(f"xorb chunk header at byte {pos} has version {version}")
        compressed = int.from_bytes(xorb[pos + 1 : pos + 4], "little")
        offsets.append(pos)
        pos += CHUNK_HEADER_SIZE + compressed
    if pos > len(xorb):
        raise ValueError("xorb chunk runs past the end")
    offsets.append(pos)
    return offsets


__all__ = ["FileRecord", "Segment", "chunk_offsets", "hash_hex", "parse_shard_files"]
