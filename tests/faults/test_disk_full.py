"""Full disks: writes that fail part-way (EFBIG through RLIMIT_FSIZE, ENOSPC on a small tmpfs).

A child process commits with a file-size limit (``RLIMIT_FSIZE``, SIGXFSZ ignored, so a
write past it fails with EFBIG - or, if it straddles the limit, comes up *short*, as on a
disk that fills mid-write). The limit is swept so the failing write lands in different
places: the content store (LFS file; xet's CAS database and xorbs), the loose objects, the
ref (the limit set just before the ref update). Each case must fail with a clear error,
leave the branch where it was, leave no temporary files, keep every invariant, and a
commit after the limit is lifted must succeed. The ENOSPC variant fills a real tmpfs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from artifactstore_conformance import inspect_store

from artifactstore.conformance_target import ConformanceTarget
from artifactstore.values import Put

from .conftest import ChildResult, FaultTable, make_payload, open_store, run_child, storage_staging

# (backend, where the failing write lands, RLIMIT_FSIZE bytes, large-file size or 0, limit_at)
CASES = [
    pytest.param("git", "content", 0, 64 * 1024, None, id="git-content-empty"),
    pytest.param("git", "content", 1000, 64 * 1024, None, id="git-content-1000"),
    pytest.param(
        "git",
        "content",
        30000,
        64 * 1024,
        None,
        id="git-content-short-write",
    ),
    pytest.param("git", "objects", 100, 0, None, id="git-objects-100"),
    pytest.param("git", "objects", 1000, 0, None, id="git-objects-1000"),
    pytest.param("git", "ref", 0, 0, "ref-swap", id="git-ref-lock-0"),
    pytest.param("git", "ref", 10, 0, "ref-swap", id="git-ref-10"),
    # hf-xet cannot create its CAS database: a RuntimeError that xet maps to OSError(EFBIG).
    pytest.param("xet", "content", 1000, 64 * 1024, None, id="xet-cas-database"),
    pytest.param("xet", "content", 2_000_000, 3_000_000, None, id="xet-content-xorb"),
    pytest.param("xet", "objects", 1000, 0, None, id="xet-objects-1000"),
    pytest.param("xet", "ref", 0, 0, "ref-swap", id="xet-ref-lock-0"),
    pytest.param("xet", "ref", 10, 0, "ref-swap", id="xet-ref-10"),
]


def _payloads(tmp_path: Path, big: int) -> list[tuple[str, str, str]]:
    small = make_payload(tmp_path / "small.bin", 3000, seed=11)
    puts = [("out/small.bin", "bytes", str(small))]
    if big:
        puts.append(("out/big.bin", "path", str(make_payload(tmp_path / "big.bin", big, seed=12))))
    return puts


def _after_failure(
    store: Any,
    base: str,
    puts: list[tuple[str, str, str]],
    child: ChildResult,
    scenario: str,
    backend: str,
    fault_table: FaultTable,
) -> None:
    """What every failed write must leave behind, then a successful retry.

    Everything is measured before anything is asserted, so the table also counts the cases
    that break (strict xfails): a child that was wrongly acknowledged counts as acknowledged.
    """
    acked = [base, *child.acked]
    try:
        head: str | None = store.resolve("main")
    except Exception as exc:  # a destroyed ref must be counted, then fail the test below
        head = f"unresolvable: {type(exc).__name__}: {exc}"
    report = inspect_store(store, acked)
    leftovers = storage_staging(store)
    wrong = report.wrong_bytes
    retry_error = None
    try:
        retry = store.commit([Put(path, Path(local).read_bytes()) for path, _, local in puts], message="retry")
        acked.append(retry.id)
        wrong += sum(store.read_bytes(path) != Path(local).read_bytes() for path, _, local in puts)
    except Exception as exc:
        retry_error = f"{type(exc).__name__}: {exc}"
    final = inspect_store(store, acked)
    found = sum(c in final.reachable_commits for c in acked)
    error = child.error or "acknowledged" if child.acked else child.error or ""
    fault_table.add(
        scenario,
        backend,
        acknowledged=len(acked),
        found=found,
        wrong_bytes=wrong + final.wrong_bytes,
        note=(error if not retry_error else f"{error}; retry failed: {retry_error}")[:160],
    )
    assert child.returncode == 3 and child.acked == [], f"the write should have failed: {child.stdout} {child.stderr[-1500:]}"
    assert error.startswith("clear "), f"not an OSError/ArtifactStoreError: {error}"
    assert head == base, f"a failed write moved the branch: {head}"
    assert report.problems == [], report.problems
    assert leftovers == [], f"temporary files left behind: {leftovers}"
    assert retry_error is None, f"the commit after the space came back failed: {retry_error}"
    assert final.problems == [] and wrong == 0


@pytest.mark.parametrize(("backend", "where", "limit", "big", "limit_at"), CASES)
def test_write_past_file_size_limit_fails_cleanly(
    backend: str,
    where: str,
    limit: int,
    big: int,
    limit_at: str | None,
    targets: dict[str, ConformanceTarget],
    tmp_path: Path,
    fault_table: FaultTable,
) -> None:
    uri = targets[backend].new_store_uri(tmp_path)
    store = open_store(uri)
    base = store.put_bytes("base.txt", b"base").id
    store.close()
    puts = _payloads(tmp_path, big)
    child = run_child(uri, puts, fsize_limit=limit, limit_at=limit_at)
    store = open_store(uri)
    try:
        _after_failure(store, base, puts, child, f"disk full (EFBIG): {where}", backend, fault_table)
        landed = child.stderr
        expected_frame = {
            "content": r"artifactstore_(git/lfs|xet/content)\.py",
            "objects": r"artifactstore_git/objects\.py",
            "ref": r"artifactstore_git/locks\.py",
        }[where]
        assert re.search(expected_frame, landed), f"the failing write did not land in {where}: {landed[-1500:]}"
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["git", "xet"])
def test_disk_full_error_names_what_was_written(backend: str, targets: dict[str, ConformanceTarget], tmp_path: Path) -> None:
    uri = targets[backend].new_store_uri(tmp_path)
    child = run_child(uri, _payloads(tmp_path, 64 * 1024), fsize_limit=1000)
    assert child.returncode == 3
    message = (child.error or "").split(":", 1)[-1]
    assert re.search(r"(^|[\s'\"])/\w[\w./-]*|\b(content|object) [0-9a-f]{8}", message), child.error


# ---------------------------------------------------------------- ENOSPC on a real tmpfs
@pytest.fixture(scope="module")
def tmpfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 16 MiB tmpfs (needs root and a kernel that lets us mount)."""
    where = tmp_path_factory.mktemp("tmpfs")
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a small tmpfs")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(directory: Path, leave: int) -> Path:
    """Fill the filesystem of ``directory`` until about ``leave`` bytes are free."""
    filler = directory / "filler"
    st = os.statvfs(directory)
    size = max(st.f_bavail * st.f_frsize - leave, 0)
    with filler.open("wb") as f, contextlib.suppress(OSError):
        while size > 0:
            n = min(size, 1 << 20)
            f.write(b"\0" * n)
            size -= n
    return filler


ENOSPC_CASES = [
    pytest.param("git", 0, 64 * 1024, id="git-full"),
    pytest.param("git", 30000, 64 * 1024, id="git-short-write"),
    # hf-xet's CAS database is created on a full disk: xet removes the partial file it leaves
    # (unreadable, "invalid data", even once space is back) while the CAS holds no content.
    pytest.param("xet", 0, 64 * 1024, id="xet-full"),
    pytest.param("xet", 1_500_000, 3_000_000, id="xet-xorb"),
]


@pytest.mark.parametrize(("backend", "leave", "big"), ENOSPC_CASES)
def test_full_filesystem_fails_cleanly(
    backend: str, leave: int, big: int, targets: dict[str, ConformanceTarget], tmpfs: Path, tmp_path: Path, fault_table: FaultTable
) -> None:
    base_dir = tmpfs / tmp_path.name
    base_dir.mkdir()
    uri = targets[backend].new_store_uri(base_dir)
    store = open_store(uri)
    base = store.put_bytes("base.txt", b"base").id
    store.close()
    puts = _payloads(tmp_path, big)  # the sources live off the tmpfs
    filler = _fill(base_dir, leave)
    try:
        child = run_child(uri, puts)
    finally:
        filler.unlink()  # space is freed
    store = open_store(uri)
    try:
        _after_failure(store, base, puts, child, "disk full (ENOSPC, tmpfs)", backend, fault_table)
    finally:
        store.close()
        shutil.rmtree(base_dir, ignore_errors=True)
