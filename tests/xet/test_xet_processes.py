"""Four processes write and read one store at the same time (MLflow's server runs 4 workers).

hf-xet's local CAS admits one process at a time; without the backend's lock file the
second process fails with "Database already open. Cannot acquire lock".
"""

from __future__ import annotations

import hashlib
import random
import subprocess
from pathlib import Path

import pytest

import artifactstore

from .conftest import python_child

WORKERS = 4
FILES_PER_WORKER = 6
FILE_SIZE = 256 * 1024

CHILD = r"""
import random, sys
import artifactstore

uri, worker, files, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def payload(w, i):
    return random.Random(w * 1000 + i).randbytes(size)

sys.stdin.readline()  # start together
store = artifactstore.open(uri, inline_threshold=1024)
checked = 0
for i in range(files):
    store.put_bytes(f"w{worker}/f{i}.bin", payload(worker, i), message=f"worker {worker} file {i}")
    for entry in store.list("", recursive=True):
        w, name = entry.path.split("/")
        j = int(name[1:-4])
        assert store.read_bytes(entry.path) == payload(int(w[1:]), j), entry.path
        checked += 1
print("ok", checked)
"""


def _payload(worker: int, i: int) -> bytes:
    return random.Random(worker * 1000 + i).randbytes(FILE_SIZE)


@pytest.mark.slow
def test_four_processes_write_and_read_one_store_at_once(tmp_path: Path) -> None:
    uri = f"artifactstore+xet://{tmp_path}/store"
    artifactstore.open(uri, create=True).close()
    children = [python_child(CHILD, uri, str(w), str(FILES_PER_WORKER), str(FILE_SIZE)) for w in range(WORKERS)]
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = []
    for child in children:
        try:
            out, err = child.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
        results.append((child.returncode, out, err))
    for code, out, err in results:
        assert code == 0, err[-3000:]
        assert out.startswith("ok ")
    # every worker also read files written by the others while they were writing
    assert sum(int(out.split()[1]) for _, out, _ in results) > WORKERS * FILES_PER_WORKER

    store = artifactstore.open(uri)
    files = store.list("", recursive=True)
    assert len(files) == WORKERS * FILES_PER_WORKER  # nothing lost
    for entry in files:
        worker, name = entry.path.split("/")
        expected = _payload(int(worker[1:]), int(name[1:-4]))
        assert entry.sha256 == hashlib.sha256(expected).hexdigest()
        assert store.read_bytes(entry.path) == expected
    assert len(list(store.log())) == WORKERS * FILES_PER_WORKER
    assert store.fsck().ok


REUSER = r"""
import random, sys, time
import artifactstore

store = artifactstore.open(sys.argv[1], inline_threshold=1024)  # the files go to the Xet CAS
for i in range(int(sys.argv[2])):
    data = random.Random(i).randbytes(8192 + i)
    store.create_branch(f"t{i}")
    store.put_bytes(f"f{i}.bin", data, branch=f"t{i}")
    store.delete_branch(f"t{i}")
    time.sleep(random.uniform(0, 0.01))
    store.put_bytes(f"f{i}.bin", data)
print("done", flush=True)
"""


def test_a_process_reusing_files_gc_finds_dead_loses_none_of_them(tmp_path: Path) -> None:
    # Another process uploads again, byte for byte, files gc's walk found unreachable, while
    # gc rebuilds the CAS without them: every upload must survive (the gc guard, an flock).
    uri = f"artifactstore+xet://{tmp_path}/store"
    store = artifactstore.open(uri, create=True, inline_threshold=1024)
    store.put_bytes("keep.txt", b"keep")
    rounds = 25
    child = python_child(REUSER, uri, str(rounds))
    collections = 0
    while child.poll() is None:
        store.gc(grace_seconds=0)
        collections += 1
    out, err = child.communicate(timeout=120)
    assert out.strip() == "done", err[-3000:]
    assert collections >= 2
    for i in range(rounds):
        assert store.read_bytes(f"f{i}.bin") == random.Random(i).randbytes(8192 + i)
    pointer = subprocess.run(
        ["git", "-C", str(tmp_path / "store"), "cat-file", "-p", "main:f0.bin"], capture_output=True, check=True
    ).stdout
    assert pointer.startswith(b"version https://git-lfs.github.com/spec/v1"), "the files are not in the Xet CAS"
    assert store.fsck().ok, store.fsck().problems
