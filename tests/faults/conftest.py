"""Fixtures for the fault-injection tests: real backends, real child processes, a results table.

Each module enters every persistent backend's conformance-target session once (the s3 one
starts the local S3-protocol server on first use); a test gets fresh stores from
``target.new_store_uri(tmp_path)``. Writers that are to crash run in a child process
(``child_commit.py``) with ``ARTIFACTSTORE_FAULT`` set and the parent's environment, which
includes the ``AWS_*`` variables the s3 session set.

Every scenario adds its counts to :class:`FaultTable`; at the end of the run they are merged
into ``$ARTIFACTSTORE_FAULTS_REPORT`` (default ``/tmp/artifactstore-faults.json``) - the
table in the issue note is built from that file.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import artifactstore
from artifactstore.conformance_target import ConformanceTarget
from artifactstore.store import ArtifactStore

PERSISTENT = ("git", "xet", "s3")
CHILD = Path(__file__).with_name("child_commit.py")
REPORT = Path(os.environ.get("ARTIFACTSTORE_FAULTS_REPORT", "/tmp/artifactstore-faults.json"))
#: Small enough that a few KiB take the content-store path; every backend accepts the option.
INLINE = 4096


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Only our plugins load; the s3 object cache lives in a temporary directory."""
    monkeypatch.setenv("ARTIFACTSTORE_PLUGINS", "git,s3,xet")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def targets() -> Iterator[dict[str, ConformanceTarget]]:
    """Every persistent backend's conformance target, its session entered once per module."""
    registry = artifactstore.get_registry()
    with contextlib.ExitStack() as stack:
        found = {}
        for name in PERSISTENT:
            target = registry.conformance_target(name)
            stack.enter_context(target.session())
            found[name] = target
        yield found


def open_store(uri: str, **options: Any) -> ArtifactStore:
    """A fresh store object on ``uri`` (nothing cached from earlier instances)."""
    opts: dict[str, Any] = {"inline_threshold": INLINE, **options}
    if uri.startswith("artifactstore+s3:"):
        opts.setdefault("part_size", 5 * 1024 * 1024)
        opts.setdefault("cache", False)
        opts.setdefault("retry_seconds", 5)
    return artifactstore.open(uri, **opts)


@dataclass
class ChildResult:
    returncode: int
    acked: list[str]
    stdout: str
    stderr: str

    @property
    def error(self) -> str | None:
        """``"<clear|foreign> <type>: <message>"`` of the exception the child reported."""
        lines = [line[len("ERROR ") :] for line in self.stdout.splitlines() if line.startswith("ERROR ")]
        return lines[0] if lines else None

    @property
    def killed(self) -> bool:
        return self.returncode == -9


def run_child(
    uri: str,
    puts: list[tuple[str, str, str]],
    *,
    fault: str | None = None,
    options: dict[str, Any] | None = None,
    fsize_limit: int | None = None,
    limit_at: str | None = None,
    repeat: int = 1,
    timeout: float = 120,
    extra_env: dict[str, str] | None = None,
) -> ChildResult:
    """Run ``child_commit.py``: commit ``puts`` ((path, "bytes"|"path"|"stream", local file)) ``repeat`` times."""
    env = {**os.environ, **(extra_env or {})}
    env.pop("ARTIFACTSTORE_FAULT", None)
    if fault:
        env["ARTIFACTSTORE_FAULT"] = fault
    opts: dict[str, Any] = {"inline_threshold": INLINE, **(options or {})}
    if uri.startswith("artifactstore+s3:"):
        opts.setdefault("part_size", 5 * 1024 * 1024)
        opts.setdefault("retry_seconds", 5)
    spec = {"uri": uri, "options": opts, "puts": puts, "fsize_limit": fsize_limit, "limit_at": limit_at, "repeat": repeat}
    proc = subprocess.run([sys.executable, str(CHILD), json.dumps(spec)], env=env, capture_output=True, text=True, timeout=timeout)
    acked = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("ACK ")]
    return ChildResult(proc.returncode, acked, proc.stdout, proc.stderr)


@dataclass
class Row:
    cases: int = 0
    acknowledged: int = 0
    found: int = 0
    wrong_bytes: int = 0
    notes: set[str] = field(default_factory=set)


class FaultTable:
    """Counts per (scenario, backend) for the issue note's table."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Row] = {}

    def add(
        self,
        scenario: str,
        backend: str,
        *,
        cases: int = 1,
        acknowledged: int = 0,
        found: int = 0,
        wrong_bytes: int = 0,
        note: str | None = None,
    ) -> None:
        row = self.rows.setdefault((scenario, backend), Row())
        row.cases += cases
        row.acknowledged += acknowledged
        row.found += found
        row.wrong_bytes += wrong_bytes
        if note:
            row.notes.add(note)

    def write(self, path: Path) -> None:
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = {}
        for (scenario, backend), row in self.rows.items():
            old[f"{scenario}|{backend}"] = {
                "scenario": scenario,
                "backend": backend,
                "cases": row.cases,
                "acknowledged": row.acknowledged,
                "found": row.found,
                "wrong_bytes": row.wrong_bytes,
                "notes": sorted(row.notes),
            }
        path.write_text(json.dumps(dict(sorted(old.items())), indent=1) + "\n")


_table = FaultTable()


@pytest.fixture(scope="session")
def fault_table() -> Iterator[FaultTable]:
    yield _table
    if _table.rows:
        with contextlib.suppress(OSError):
            _table.write(REPORT)


def make_payload(path: Path, size: int, seed: int) -> Path:
    """A file of ``size`` pseudo-random bytes (written in 1 MiB blocks)."""
    import random

    rng = random.Random(seed)
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n
    return path


def storage_staging(store: ArtifactStore) -> list[str]:
    """Temporary files a backend left in its storage (not the API): what gc should sweep.

    git/xet: ``tmp_obj_*`` beside loose objects, files in ``lfs/tmp``, ``*.lock`` files, the
    xet index's ``.<sha8>.*`` temporaries and ``spool-*``; s3: keys under
    ``.artifactstore/staging/`` and unfinished multipart uploads.
    """
    found: list[str] = []
    layout = getattr(store, "layout", None)
    if layout is not None:
        root = Path(layout.commondir)
        for path in root.rglob("*"):
            name = path.name
            rel = path.relative_to(root).as_posix()
            if path.is_dir():
                continue
            if (
                name.startswith("tmp_obj_")
                or rel.startswith("lfs/tmp/")
                or (name.endswith(".lock") and not rel.startswith("xet/cas.lock"))
                or (rel.startswith("xet/index/") and name.startswith("."))
                or (rel.startswith("xet/") and name.startswith("spool-"))
            ):
                found.append(rel)
        return sorted(found)
    conn = getattr(store, "conn", None)
    if conn is not None:
        client = conn.client
        staging = conn.key("staging") + "/"
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=conn.bucket, Prefix=staging):
            found += [item["Key"] for item in page.get("Contents", [])]
        uploads = client.list_multipart_uploads(Bucket=conn.bucket, Prefix=conn.root)
        found += [f"multipart upload of {u['Key']}" for u in uploads.get("Uploads", [])]
    return sorted(found)
