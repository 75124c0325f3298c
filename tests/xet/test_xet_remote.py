"""The xet backend's remote CAS path, through the real hf-xet client, against the test CAS server.

The server (``artifactstore_xet.testing``) is written from xet-core's published CAS protocol;
these tests show what a user sees in each failure of a remote CAS.
"""

from __future__ import annotations

import io
import random
import shutil
import time
from pathlib import Path

import pytest
from artifactstore_conformance.helpers import ChunkStream
from artifactstore_xet.testing import CasServer

from artifactstore import Put
from artifactstore.errors import AccessDenied, IntegrityError

from .conftest import remote_store

SIZE = 3 * 1024 * 1024 + 17


def data(seed: int = 1, size: int = SIZE) -> bytes:
    return random.Random(seed).randbytes(size)


def test_round_trip_whole_and_ranged(cas_server: CasServer, tmp_path: Path) -> None:
    store = remote_store(cas_server, tmp_path / "store")
    content = data()
    commit = store.put_bytes("model.bin", content)
    assert commit.new_bytes == SIZE
    assert store.read_bytes("model.bin") == content
    with store.open("model.bin") as f:
        f.seek(2_000_001)
        assert f.read(100) == content[2_000_001:2_000_101]
    stats = cas_server.stats()
    assert stats["xorbs_uploaded"] >= 1
    assert stats["shards_uploaded"] == 1
    assert stats["reconstructions"] >= 2, "reads go through the server's reconstructions"
    again = store.put_bytes("copy.bin", content)
    assert again.new_bytes == 0


def test_a_rejected_token_names_the_endpoint_and_not_the_token(cas_server: CasServer, tmp_path: Path) -> None:
    wrong = "xet_wrong_" + "s3cr3t" * 4
    store = remote_store(cas_server, tmp_path / "store", token=wrong, token_refresh_url=None)
    with pytest.raises(AccessDenied) as info:
        store.put_bytes("model.bin", data())
    message = str(info.value)
    assert cas_server.url in message
    assert wrong not in message
    assert "token" in message
    assert list(store.branches()) == [], "nothing was committed"

    good = remote_store(cas_server, tmp_path / "good")
    good.put_bytes("model.bin", data())
    reader = remote_store(cas_server, tmp_path / "good", create=False, token=wrong, token_refresh_url=None)
    with pytest.raises(AccessDenied, match="did not accept the access token while reading") as read_info:
        reader.read_bytes("model.bin")
    assert wrong not in str(read_info.value)
    assert isinstance(read_info.value, PermissionError)


def test_an_expiring_token_is_refreshed(cas_server: CasServer, tmp_path: Path) -> None:
    # The server no longer accepts the token it was started with; the client was told it
    # expires in 20 s, inside hf-xet's 30 s refresh margin, so it asks the refresh URL first.
    cas_server.process.control("expire-tokens", method="POST")
    soon = int(time.time()) + 20
    store = remote_store(cas_server, tmp_path / "store", token_expiry=soon)
    content = data(2)
    store.put_bytes("model.bin", content)
    assert store.read_bytes("model.bin") == content
    assert cas_server.stats()["refreshes"] >= 1

    without = remote_store(cas_server, tmp_path / "without", token_expiry=soon, token_refresh_url=None)
    with pytest.raises(AccessDenied):
        without.put_bytes("model.bin", data(3))


def test_content_the_server_lacks_raises_integrity_error(cas_server: CasServer, tmp_path: Path) -> None:
    store = remote_store(cas_server, tmp_path / "store")
    store.put_bytes("model.bin", data(4))
    empty = CasServer(tmp_path / "empty-server")
    empty.start()
    try:
        elsewhere = remote_store(empty, tmp_path / "store", create=False)
        for _ in range(5):  # never an empty or short read, in any run
            with pytest.raises(IntegrityError, match=r"missing from the Xet CAS .*HTTP 404"):
                elsewhere.read_bytes("model.bin")
            with elsewhere.open("model.bin") as f:
                f.seek(1_000_000)
                with pytest.raises(IntegrityError):
                    f.read(10)
    finally:
        empty.kill()


def test_the_server_dying_mid_upload_leaves_no_commit_and_the_retry_succeeds(cas_server: CasServer, tmp_path: Path) -> None:
    store = remote_store(cas_server, tmp_path / "store")
    head = store.put_bytes("before.txt", b"x" * 2000).id

    class DyingStream(io.RawIOBase):
        """Sends 8 MiB, then kills the server and sends 16 MiB more."""

        def __init__(self) -> None:
            self.inner = ChunkStream(24 * 1024 * 1024, seed=5)
            self.sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
            if self.sent >= 8 * 1024 * 1024 and cas_server.process.running:
                cas_server.kill()
            n = self.inner.readinto(buffer)
            self.sent += n
            return n

    with pytest.raises(OSError, match=r"nothing was committed, retry when the server is reachable"):
        store.put_file("big.bin", DyingStream())  # type: ignore[arg-type]
    assert store.branches() == {"main": head}
    assert not store.exists("big.bin")

    cas_server.start()  # back on the same port with what it had stored
    retried = ChunkStream(24 * 1024 * 1024, seed=5)
    store.put_file("big.bin", retried.as_binary())
    with store.open("big.bin") as f:
        assert hashlib_of(f) == retried.sha256.hexdigest()


def test_a_stale_shard_cache_after_server_data_loss_is_bypassed(cas_server: CasServer, tmp_path: Path) -> None:
    content = data(6)
    first = remote_store(cas_server, tmp_path / "first")
    first.put_bytes("model.bin", content)
    # The server loses everything; hf-xet's shard cache still lists the xorbs it had.
    cas_server.kill()
    shutil.rmtree(cas_server.root)
    cas_server.start()

    second = remote_store(cas_server, tmp_path / "second")
    second.commit([Put("model.bin", content)])  # bytes can be sent again: the retry is inside the call
    assert second.read_bytes("model.bin") == content
    stats = cas_server.stats()
    assert stats["shards_rejected"] == 1, "the first try built on the stale cache"
    assert stats["xorbs_uploaded"] >= 1, "the second sent the chunks"


def test_a_stale_shard_cache_with_a_one_shot_stream_asks_for_a_retry(cas_server: CasServer, tmp_path: Path) -> None:
    # Longer than the 8 MiB the port keeps in memory: a stream that cannot be sent twice.
    size = 9 * 1024 * 1024
    first = remote_store(cas_server, tmp_path / "first")
    first.put_file("model.bin", ChunkStream(size, seed=7).as_binary())
    cas_server.kill()
    shutil.rmtree(cas_server.root)
    cas_server.start()

    second = remote_store(cas_server, tmp_path / "second")
    with pytest.raises(OSError, match="the cache was cleared, nothing was committed: retry the write"):
        second.put_file("model.bin", ChunkStream(size, seed=7).as_binary())
    assert second.branches() == {}
    stream = ChunkStream(size, seed=7)
    second.put_file("model.bin", stream.as_binary())
    with second.open("model.bin") as f:
        assert hashlib_of(f) == stream.sha256.hexdigest()


def hashlib_of(stream: io.RawIOBase | object) -> str:
    import hashlib

    digest = hashlib.sha256()
    while chunk := stream.read(1 << 20):  # type: ignore[attr-defined]
        digest.update(chunk)
    return digest.hexdigest()
