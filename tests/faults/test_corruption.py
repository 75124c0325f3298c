"""Corruption tests: damaged bytes in every persistent backend's storage are caught, never returned.

Scenarios, each on a store with two small (inline) files and two large (content-store) ones:
a flipped byte in content and in an object, a truncated object and truncated content, two
swapped objects and two swapped contents, a ref pointing at a missing commit. Reads of the
damaged file raise :class:`IntegrityError` (``NotFound`` for the missing commit) naming the
object; ``fsck`` reports it; untouched files still read; no read returns wrong bytes.
The damage is done in the storage itself: files under the repository (git, xet), objects
in the bucket through boto3 (s3), the CAS's xorb files (xet content).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from artifactstore_conformance import check_invariants

from artifactstore.conformance_target import ConformanceTarget
from artifactstore.errors import IntegrityError, NotFound
from artifactstore.values import Put

from .conftest import INLINE, PERSISTENT, FaultTable, open_store

SCENARIOS = (
    "flip-content",
    "flip-object",
    "truncate-object",
    "truncate-content",
    "swap-objects",
    "swap-content",
    "missing-commit",
)
#: Damage that reads do catch (no wrong bytes, fsck names it) but report with an error that
#: is not an IntegrityError naming the content; reported to the backend owners.
UNCLEAR_READ_ERRORS: dict[tuple[str, str], str] = {}
FILES = {
    "small-a.txt": b"alpha " * 50,
    "small-b.txt": b"bravo " * 60,
    "big-a.bin": os.urandom(5 * INLINE) + b"A",
    "big-b.bin": os.urandom(7 * INLINE) + b"B",
}


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Storage:
    """Raw access to one store's objects and content, below the API."""

    def __init__(self, store: Any, backend: str) -> None:
        self.store, self.backend = store, backend

    # ---- objects: git loose files (git, xet) or bucket keys (s3), stored zlib-compressed
    def _object_path(self, oid: str) -> Path:
        return Path(self.store.layout.commondir) / "objects" / oid[:2] / oid[2:]

    def get_object(self, oid: str) -> bytes:
        if self.backend == "s3":
            conn = self.store.conn
            return bytes(conn.client.get_object(Bucket=conn.bucket, Key=self.store.object_port.key(oid.encode()))["Body"].read())
        return self._object_path(oid).read_bytes()

    def put_object(self, oid: str, raw: bytes) -> None:
        if self.backend == "s3":
            conn = self.store.conn
            conn.client.put_object(Bucket=conn.bucket, Key=self.store.object_port.key(oid.encode()), Body=raw)
            return
        path = self._object_path(oid)
        os.chmod(path, 0o644)
        path.write_bytes(raw)

    # ---- content: LFS files (git), bucket keys (s3), xorbs (xet: chunks, not files)
    def content_files(self, sha256: str) -> list[Path]:
        if self.backend == "git":
            return [self.store.content.path_of(sha256)]
        cas = self.store.content_port.embedded_dir
        return sorted(p for p in cas.rglob("xorbs/xorbs/*") if p.is_file() and not p.name.endswith(".tagset"))

    def get_content(self, sha256: str) -> bytes:
        if self.backend == "s3":
            conn = self.store.conn
            return bytes(conn.client.get_object(Bucket=conn.bucket, Key=self.store.content_port.key(sha256))["Body"].read())
        return self.content_files(sha256)[0].read_bytes()

    def put_content(self, sha256: str, data: bytes) -> None:
        if self.backend == "s3":
            conn = self.store.conn
            conn.client.put_object(Bucket=conn.bucket, Key=self.store.content_port.key(sha256), Body=data)
            return
        path = self.content_files(sha256)[0]
        os.chmod(path, 0o644)
        path.write_bytes(data)

    def point_ref_at(self, ref: str, oid: str) -> None:
        if self.backend == "s3":
            conn = self.store.conn
            conn.client.put_object(Bucket=conn.bucket, Key=conn.key(ref), Body=oid.encode() + b"\n")
            return
        (Path(self.store.layout.commondir) / ref).write_text(oid + "\n")


def damage(scenario: str, backend: str, target: ConformanceTarget, store: Any, storage: Storage) -> dict[str, str]:
    """Damage the store; return each damaged path with the id its read error must name."""
    sha_a = hashlib.sha256(FILES["big-a.bin"]).hexdigest()
    sha_b = hashlib.sha256(FILES["big-b.bin"]).hexdigest()
    oid_a, oid_b = blob_id(FILES["small-a.txt"]), blob_id(FILES["small-b.txt"])
    if scenario == "flip-content":
        target.corrupt_content(store, sha_a)
        return {"big-a.bin": sha_a[:12]}
    if scenario == "flip-object":
        target.corrupt_object(store, oid_a)
        return {"small-a.txt": oid_a}
    if scenario == "truncate-object":
        raw = storage.get_object(oid_a)
        storage.put_object(oid_a, raw[: len(raw) // 2])
        return {"small-a.txt": oid_a}
    if scenario == "truncate-content":
        if backend == "xet":
            # Every xorb (one per large file here) loses its second half.
            for xorb in storage.content_files(sha_a):
                os.chmod(xorb, 0o644)
                with open(xorb, "r+b") as f:
                    f.truncate(xorb.stat().st_size // 2)
            return {"big-a.bin": sha_a[:12], "big-b.bin": sha_b[:12]}
        data = storage.get_content(sha_a)
        storage.put_content(sha_a, data[: len(data) // 2])
        return {"big-a.bin": sha_a[:12]}
    if scenario == "swap-objects":
        raw_a, raw_b = storage.get_object(oid_a), storage.get_object(oid_b)
        storage.put_object(oid_a, raw_b)
        storage.put_object(oid_b, raw_a)
        return {"small-a.txt": oid_a, "small-b.txt": oid_b}
    if scenario == "swap-content":
        if backend == "xet":
            xorbs = storage.content_files(sha_a)
            assert len(xorbs) >= 2, f"expected one xorb per large file, found {xorbs}"
            first, second = xorbs[0], xorbs[1]
            data_1, data_2 = first.read_bytes(), second.read_bytes()
            for path, data in ((first, data_2), (second, data_1)):
                os.chmod(path, 0o644)
                path.write_bytes(data)
            return {"big-a.bin": sha_a[:12], "big-b.bin": sha_b[:12]}
        data_a, data_b = storage.get_content(sha_a), storage.get_content(sha_b)
        storage.put_content(sha_a, data_b)
        storage.put_content(sha_b, data_a)
        return {"big-a.bin": sha_a[:12], "big-b.bin": sha_b[:12]}
    if scenario == "missing-commit":
        missing = hashlib.sha1(b"no such commit").hexdigest()
        storage.point_ref_at("refs/heads/main", missing)
        return dict.fromkeys(FILES, missing)
    raise AssertionError(scenario)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("backend", PERSISTENT)
def test_damage_is_reported_never_returned(
    backend: str, scenario: str, targets: dict[str, ConformanceTarget], tmp_path: Path, fault_table: FaultTable
) -> None:
    target = targets[backend]
    uri = target.new_store_uri(tmp_path)
    store = open_store(uri)
    acked = []
    for path, data in FILES.items():  # one commit per file: xet writes one xorb per large file
        acked.append(store.commit([Put(path, data)], message=f"add {path}").id)
    assert check_invariants(store, acked) == []
    damaged = damage(scenario, backend, target, store, Storage(store, backend))
    store.close()

    store = open_store(uri)  # nothing cached from before the damage
    wrong = 0
    errors: dict[str, str] = {}
    for path, data in FILES.items():
        try:
            got = store.read_bytes(path)
        except Exception as exc:  # judged below: it must be an IntegrityError/NotFound naming the object
            errors[path] = f"{type(exc).__name__}: {exc}"
            continue
        wrong += got != data
    try:
        fsck_problems = list(store.fsck().problems)
    except Exception as exc:
        fsck_problems = [f"fsck raised {type(exc).__name__}: {exc}"]
    problems = check_invariants(store, acked)
    found = sum(1 for c in acked if _reachable(store, c))
    store.close()
    fault_table.add(f"corruption: {scenario}", backend, acknowledged=len(acked), found=found, wrong_bytes=wrong)

    assert wrong == 0, "a read returned wrong bytes instead of raising"
    assert sorted(errors) == sorted(damaged), f"reads that failed: {errors}"
    assert problems, "the invariant checker found nothing"
    expected = NotFound if scenario == "missing-commit" else IntegrityError
    unclear = [
        f"read of {path!r}: {errors[path]}"
        for path, named in damaged.items()
        if not errors[path].startswith(expected.__name__) or named not in errors[path]
    ]
    unclear += [
        f"fsck does not name {named!r}: {fsck_problems}"
        for named in set(damaged.values())
        if not any(named in p for p in fsck_problems)
    ]
    if unclear and (backend, scenario) in UNCLEAR_READ_ERRORS:
        pytest.xfail(f"{UNCLEAR_READ_ERRORS[backend, scenario]}: {unclear}")
    assert unclear == [], f"damage must be reported as {expected.__name__} naming the object, by reads and fsck"


def _reachable(store: Any, commit_id: str) -> bool:
    try:
        return any(c.id == commit_id for c in store.log(commit_id, limit=1))
    except (IntegrityError, NotFound):
        return False
