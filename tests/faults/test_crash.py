"""Crash tests: a writer killed by SIGKILL at every step of the commit path, on every persistent backend.

For each fault point of :mod:`artifactstore.faults` a child process commits a small file and
a large one (above the inline threshold, so it goes to the content store; streamed for
``mid-upload``) over older versions of both, and dies at that point. Afterwards:

* the branch points at the old commit, or (only when killed after the swap) at a complete
  new one - never at something partial;
* every file at every ref head reads back as exactly the old or the new bytes, and no
  listing shows a staging name (:func:`artifactstore_conformance.check_invariants`);
* ``fsck`` is clean (unreachable leftovers allowed), ``gc(grace_seconds=0)`` removes the
  leftovers (fsck then counts zero unreachable objects and content);
* the same commit then succeeds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from artifactstore_conformance import inspect_store

from artifactstore.conformance_target import ConformanceTarget
from artifactstore.values import Put

from .conftest import PERSISTENT, FaultTable, make_payload, open_store, run_child, storage_staging

STEPS = ("after-content", "after-trees", "before-ref-swap", "after-ref-swap", "mid-upload")
SMALL, LARGE = "runs/1/metrics.json", "runs/1/model.bin"
#: The read of the streamed large file that dies "half-way": after at least one chunk was
#: handed to the content store (s3: after the multipart upload started and part 1 was sent).
MID_UPLOAD_HIT = {"git": 2, "xet": 2, "s3": 3}
#: Where a backend's gc does not (yet) sweep a killed writer's temporary files; reported
#: to the backend owners. Everything else in those tests is still asserted.
STAGING_NOT_SWEPT = {
    ("s3", "mid-upload"): "s3 gc does not abort abandoned multipart uploads of staging keys",
}
LARGE_SIZE = {"git": 64 * 1024, "xet": 64 * 1024, "s3": 6 * 1024 * 1024}


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("backend", PERSISTENT)
def test_killed_writer_leaves_old_or_new_commit(
    backend: str, step: str, targets: dict[str, ConformanceTarget], tmp_path: Path, fault_table: FaultTable
) -> None:
    uri = targets[backend].new_store_uri(tmp_path)
    large_size = LARGE_SIZE[backend] if step == "mid-upload" else 64 * 1024
    old_small = make_payload(tmp_path / "old-small", 300, seed=1)
    old_large = make_payload(tmp_path / "old-large", large_size, seed=2)
    new_small = make_payload(tmp_path / "new-small", 300, seed=3)
    new_large = make_payload(tmp_path / "new-large", large_size, seed=4)
    expected = {
        "old": {SMALL: old_small.read_bytes(), LARGE: old_large.read_bytes()},
        "new": {SMALL: new_small.read_bytes(), LARGE: new_large.read_bytes()},
    }
    store = open_store(uri)
    base = store.commit([Put(SMALL, str(old_small)), Put(LARGE, str(old_large))], message="base").id
    store.close()

    kind = "stream" if step == "mid-upload" else "path"
    fault = f"{step}:{MID_UPLOAD_HIT[backend]}" if step == "mid-upload" else step
    child = run_child(uri, [(SMALL, "bytes", str(new_small)), (LARGE, kind, str(new_large))], fault=fault)
    assert child.killed, f"the child was not killed at {fault}: rc={child.returncode} {child.stdout} {child.stderr[-2000:]}"
    assert child.acked == []

    store = open_store(uri)
    try:
        head = store.resolve("main")
        if step == "after-ref-swap":
            assert head != base, "the branch moved before the kill, so it must show the new commit"
            assert store.get_commit(head).parents == (base,)
            state = "new"
        else:
            assert head == base, f"killed at {step}: the branch must still be at the old commit"
            state = "old"
        wrong = sum(store.read_bytes(p, rev=head) != data for p, data in expected[state].items())
        assert [e.path for e in store.list("", rev=head, recursive=True)] == sorted(expected[state])
        report = inspect_store(store, [base])
        assert report.problems == []
        assert report.wrong_bytes == 0 and wrong == 0

        store.gc(grace_seconds=0)
        after_gc = store.fsck()
        assert after_gc.ok, after_gc.problems
        assert (after_gc.unreachable_objects, after_gc.unreachable_content) == (0, 0)
        leftovers = storage_staging(store)

        # The same operation now succeeds.
        with new_large.open("rb") as stream:
            large_source = stream if kind == "stream" else str(new_large)
            retry = store.commit([Put(SMALL, new_small.read_bytes()), Put(LARGE, large_source)], message="retry")
        assert store.resolve("main") == retry.id
        for path, data in expected["new"].items():
            got = store.read_bytes(path)
            wrong += got != data
            assert got == data
        final = inspect_store(store, [base, retry.id])
        assert final.problems == []
        acked = [base, retry.id]
        found = sum(c in final.reachable_commits for c in acked)
        fault_table.add(
            f"crash at {step}",
            backend,
            acknowledged=len(acked),
            found=found,
            wrong_bytes=wrong + final.wrong_bytes,
            note=f"staging left after gc: {len(leftovers)}" if leftovers else None,
        )
        if leftovers and (backend, step) in STAGING_NOT_SWEPT:
            pytest.xfail(f"{STAGING_NOT_SWEPT[backend, step]}: {leftovers}")
        assert leftovers == [], f"gc left the killed writer's temporary files: {leftovers}"
    finally:
        store.close()
