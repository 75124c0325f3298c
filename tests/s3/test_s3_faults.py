"""Fault tests against the real local S3 server: restarts, 503 SlowDown, lost responses, racing writers.

In every case: no partial commit is visible, every acknowledged commit is in the log, and a
retried operation succeeds.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from artifactstore_s3 import S3Store
from artifactstore_s3.testing import LocalS3Server, MotoServer, environment

import artifactstore

from .conftest import BUCKET, FaultProxy, make_file

MiB = 1024 * 1024


class RestartingStream(io.RawIOBase):
    """Yields ``data``; after ``after`` bytes have been read, restarts the server (SIGKILL) once."""

    def __init__(self, data: bytes, server: LocalS3Server, after: int) -> None:
        super().__init__()
        self.data = io.BytesIO(data)
        self.server = server
        self.after = after
        self.restarted = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if not self.restarted and self.data.tell() >= self.after:
            self.restarted = True
            self.server.restart(kill=True)
        return self.data.readinto(buffer)


@pytest.mark.slow
def test_server_restarted_in_the_middle_of_a_large_upload(tmp_path: Path) -> None:
    server = MotoServer(journal=str(tmp_path / "journal")).start()
    env = environment(server)
    env.__enter__()
    try:
        server.create_bucket(BUCKET)
        options = {"endpoint_url": server.endpoint_url, "part_size": 5 * MiB, "upload_concurrency": 2, "retry_seconds": 20}

        store = S3Store(BUCKET, "restart", create=True, options=options)
        acknowledged = [store.put_bytes(f"small/{i}.txt", f"v{i}".encode()).id for i in range(3)]
        data = make_file(tmp_path / "big", 30 * MiB, seed=7).read_bytes()

        stream = RestartingStream(data, server, after=12 * MiB)
        with pytest.raises(OSError, match="NoSuchUpload|multipart upload is gone"):
            store.put_file("big.bin", io.BufferedReader(stream), message="big")
        assert stream.restarted

        reopened = S3Store(BUCKET, "restart", options=options)
        assert [c.id for c in reopened.log()] == acknowledged[::-1]  # nothing partial, nothing lost
        assert not reopened.exists("big.bin")
        assert reopened.fsck().ok

        retried = reopened.put_file("big.bin", io.BytesIO(data), message="big, retried")
        assert reopened.read_bytes("big.bin") == data
        # And a clean restart keeps everything, the retried upload included.
        server.restart(kill=False)
        after = S3Store(BUCKET, "restart", options=options)
        assert [c.id for c in after.log()] == [retried.id, *acknowledged[::-1]]
        assert after.read_bytes("big.bin") == data
    finally:
        env.__exit__(None, None, None)
        server.stop()


def test_slowdown_503s_are_retried_until_the_write_succeeds(fault_proxy: FaultProxy, s3_uri: str, tmp_path: Path) -> None:
    store = artifactstore.open(s3_uri, endpoint_url=fault_proxy.endpoint_url, part_size=5 * MiB)
    first = store.put_bytes("before.txt", b"ok")
    fault_proxy.control("slowdown", count=6)
    big = make_file(tmp_path / "big", 11 * MiB, seed=1)
    commit = store.commit(
        [artifactstore.Put("during.txt", b"slow"), artifactstore.Put("big.bin", str(big))], message="during slowdown"
    )
    assert fault_proxy.control("stats")["slowdowns"] == 6
    assert [c.id for c in store.log()] == [commit.id, first.id]
    fresh = artifactstore.open(s3_uri)
    assert fresh.read_bytes("during.txt") == b"slow"
    assert fresh.read_bytes("big.bin") == big.read_bytes()


def test_slowdown_longer_than_the_retry_budget_fails_cleanly(fault_proxy: FaultProxy, s3_uri: str) -> None:
    store = artifactstore.open(s3_uri, endpoint_url=fault_proxy.endpoint_url, retry_seconds=1)
    first = store.put_bytes("before.txt", b"ok")
    fault_proxy.control("slowdown", count=10_000)
    with pytest.raises(OSError, match="SlowDown"):
        store.put_bytes("during.txt", b"x")
    fault_proxy.control("slowdown", count=0)
    assert [c.id for c in store.log()] == [first.id]
    retried = store.put_bytes("during.txt", b"x")
    assert [c.id for c in store.log()] == [retried.id, first.id]


def test_lost_response_to_a_ref_swap_is_resolved_by_rereading(fault_proxy: FaultProxy, s3_uri: str) -> None:
    store = artifactstore.open(s3_uri, endpoint_url=fault_proxy.endpoint_url)
    first = store.put_bytes("a.txt", b"1")
    # The swap reaches the server and succeeds, but its answer never comes back.
    fault_proxy.control("drop-response", count=1, match="/refs/heads/main")
    second = store.put_bytes("b.txt", b"2")
    assert fault_proxy.control("stats")["dropped"] == 1
    log = [c.id for c in store.log()]
    assert log == [second.id, first.id]  # acknowledged once, not re-applied as a duplicate


@pytest.mark.slow
def test_four_processes_race_25_commits_each_on_one_branch(s3_uri: str, tmp_path: Path) -> None:
    workers, count = 4, 25
    env = {**os.environ, "ARTIFACTSTORE_PLUGINS": "s3"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("race_worker.py")), s3_uri, str(w), str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for w in range(workers)
    ]
    acknowledged: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
        acknowledged += json.loads(out)
    store = artifactstore.open(s3_uri)
    log = [c.id for c in store.log()]
    assert len(log) == workers * count
    assert set(log) == set(acknowledged)
    files = {e.path for e in store.list(recursive=True)}
    assert files == {f"w{w}/{n}.txt" for w in range(workers) for n in range(count)}
    assert store.read_bytes("w3/24.txt") == b"3:24"
