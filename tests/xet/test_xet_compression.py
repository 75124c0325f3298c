"""How hf-xet compresses new xorbs: ``none`` on a local CAS by default, any policy on request."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from artifactstore_xet import XetStore
from artifactstore_xet.content import ENV_COMPRESSION, XetContentPort
from artifactstore_xet.endpoint import XetEndpoint

import artifactstore
from artifactstore.errors import InvalidInput

MIB = 1024 * 1024


def _compressible(size: int, seed: int) -> bytes:
    """Text-like bytes: LZ4 halves them, yet no two content-defined chunks are alike."""
    rng = random.Random(seed)
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(200)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" "
    return bytes(out[:size])


def test_a_local_cas_stores_uncompressed_by_default_and_compresses_when_asked(tmp_path: Path) -> None:
    data = _compressible(6 * MIB, seed=1)
    sizes = {}
    for policy in (None, "auto"):
        options = {} if policy is None else {"compression": policy}
        store = artifactstore.open(f"artifactstore+xet://{tmp_path}/{policy}", create=True, **options)
        assert isinstance(store, XetStore)
        assert store.content_port.compression == (policy or "none")
        empty = store.content_port.stored_bytes()
        store.put_file("corpus.txt", data)
        sizes[policy] = store.content_port.stored_bytes() - empty
        assert store.read_bytes("corpus.txt") == data
        store.close()
    assert sizes[None] >= len(data)  # xorbs hold the bytes as they are
    assert sizes["auto"] < 0.7 * sizes[None], sizes  # hf-xet's LZ4 on this text: about half


def test_content_written_under_one_policy_reads_back_under_another(tmp_path: Path) -> None:
    uri = f"artifactstore+xet://{tmp_path}/s"
    first, second = _compressible(3 * MIB, seed=2), _compressible(3 * MIB, seed=3)
    store = artifactstore.open(uri, create=True, compression="bg4-lz4")
    store.put_file("a.txt", first)
    store.close()
    store = artifactstore.open(uri, compression="none")
    store.put_file("b.txt", second)
    assert store.read_bytes("a.txt") == first
    store.close()
    store = artifactstore.open(uri, compression="lz4")
    assert store.read_bytes("b.txt") == second
    assert store.read_bytes("a.txt", rev="main~1") == first
    store.close()


def test_hf_xets_own_setting_is_kept_on_a_local_cas_and_a_remote_cas_keeps_hf_xets_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_COMPRESSION, "lz4")
    assert XetContentPort(tmp_path / "env").compression is None  # hf-xet reads the variable itself
    assert XetContentPort(tmp_path / "env-explicit", compression="none").compression == "none"
    monkeypatch.delenv(ENV_COMPRESSION)
    remote = XetEndpoint.from_options({"endpoint": "https://cas.example.invalid"})
    assert XetContentPort(tmp_path / "remote", remote).compression is None
    assert XetContentPort(tmp_path / "remote-explicit", remote, compression="auto").compression == "auto"


def test_the_option_is_case_insensitive_and_a_bad_policy_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    store = artifactstore.open(f"artifactstore+xet://{tmp_path}/ok", create=True, compression=" BG4-LZ4 ")
    assert isinstance(store, XetStore)
    assert store.content_port.compression == "bg4-lz4"
    store.close()
    for bad in ("zstd", "", 3):
        with pytest.raises(InvalidInput, match="compression=") as caught:
            artifactstore.open(f"artifactstore+xet://{tmp_path}/bad", create=True, compression=bad)
        assert "none, auto, lz4 or bg4-lz4" in str(caught.value)
    with pytest.raises(InvalidInput, match="compression 'gzip' for xet store"):
        XetStore(tmp_path / "direct", create=True, compression="gzip")
    assert not (tmp_path / "bad").exists()
    assert not (tmp_path / "direct").exists()


def test_loose_git_objects_are_compressed_at_the_level_asked(tmp_path: Path) -> None:
    text = _compressible(64 * 1024, seed=4)  # inline: a git blob, not CAS content
    sizes = {}
    for level in (0, 6):
        store = artifactstore.open(f"artifactstore+xet://{tmp_path}/{level}", create=True, loose_compression=str(level))
        commit = store.put_file("notes.txt", text)
        assert store.read_bytes("notes.txt") == text
        blob = next(p for p in (tmp_path / str(level) / "objects").rglob("*") if p.is_file() and p.stat().st_size > 16 * 1024)
        sizes[level] = blob.stat().st_size
        assert commit.id
        store.close()
    assert sizes[0] > len(text) and sizes[6] < 0.7 * len(text), sizes
    for bad in (10, -1, "high", True):
        with pytest.raises(InvalidInput, match="loose_compression="):
            artifactstore.open(f"artifactstore+xet://{tmp_path}/bad", create=True, loose_compression=bad)
    assert not (tmp_path / "bad").exists()
