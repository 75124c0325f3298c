"""The invariants a store must keep through crashes, full disks and concurrent writers.

:func:`check_invariants` is what the fault-injection tests (``tests/faults/``) assert after
every injected failure, and what an operator can run after an incident::

    problems = check_invariants(store, acknowledged=ids_the_clients_were_told_about)
    assert problems == []

It checks, on any backend and through the public API only:

1. every branch's and tag's commit closure exists and hash-verifies (``store.fsck()``,
   which re-hashes every reachable object and file; unreachable leftovers are allowed);
2. every *acknowledged* commit (one whose ``commit()`` returned to a client) is reachable
   from some branch or tag - the Jepsen-style "no acknowledged write is lost" check;
3. no listing at any ref head shows a *staging name*: the temporary or partial names the
   backends write before an atomic rename or swap (see :data:`STAGING_PATTERNS`), or the
   engine's internal fan-out names (``:``-prefixed), must never surface as artifact paths;
4. every file at every ref head reads back (streamed, in full) to bytes whose size and
   SHA-256 match its :class:`~artifactstore.Entry`; a read that raises is reported,
   a read that returns other bytes is reported as *wrong bytes* (the worst outcome).

The result is a list of one-sentence problems; empty means the store is sound.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from artifactstore import ArtifactStore

#: Names the backends use while a write is in flight, before the atomic rename/swap:
#: git's ``<ref>.lock`` and ``tmp_obj_*`` loose objects, the LFS port's ``artifactstore-*``
#: files in ``lfs/tmp``, the default ``download()``'s ``.<name>.<random>.part``, the xet
#: index's ``.<sha[:8]>.<random>`` and ``spool-*`` files, and generic ``.tmp`` names.
#: Artifact paths never legitimately use them in our tests, so one showing up in a listing
#: means a half-written file escaped into a tree.
STAGING_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r".*\.(lock|part|tmp)$"),
    re.compile(r"^tmp_obj_.*"),
    re.compile(r"^\.[0-9a-f]{8}\..+"),
    re.compile(r"^:.*"),
)
READ_CHUNK = 1024 * 1024


@dataclass
class InvariantReport:
    """What :func:`inspect_store` found; ``problems`` is what :func:`check_invariants` returns."""

    problems: list[str] = field(default_factory=list)
    refs: dict[str, str] = field(default_factory=dict)
    reachable_commits: set[str] = field(default_factory=set)
    files_read: int = 0
    wrong_bytes: int = 0
    unreachable_objects: int = 0
    unreachable_content: int = 0


def is_staging_name(name: str) -> bool:
    """True when one path component looks like a backend's temporary or partial file."""
    return any(p.match(name) for p in STAGING_PATTERNS)


def check_invariants(
    store: ArtifactStore,
    acknowledged: Iterable[str] = (),
    *,
    read_files: bool = True,
    run_fsck: bool = True,
) -> list[str]:
    """Return every broken invariant of ``store`` as a one-sentence problem (empty: sound).

    ``acknowledged`` are commit ids that writers were told succeeded; each must be
    reachable from a branch or tag. ``read_files=False`` skips reading every file at every
    ref head (use it on stores too large to re-read); ``run_fsck=False`` skips the re-hash
    of every reachable object and content.
    """
    return inspect_store(store, acknowledged, read_files=read_files, run_fsck=run_fsck).problems


def inspect_store(
    store: ArtifactStore,
    acknowledged: Iterable[str] = (),
    *,
    read_files: bool = True,
    run_fsck: bool = True,
) -> InvariantReport:
    """Like :func:`check_invariants`, with the counts the fault tests put in their tables."""
    report = InvariantReport()
    try:
        report.refs = {f"refs/heads/{k}": v for k, v in store.branches().items()}
        report.refs.update({f"refs/tags/{k}": v for k, v in store.tags().items()})
    except Exception as exc:  # the checker reports, never crashes (a damaged ref may raise anything)
        report.problems.append(f"cannot list the store's refs: {type(exc).__name__}: {exc}")
        return report
    if run_fsck:
        _check_fsck(store, report)
    for ref, head in sorted(report.refs.items()):
        _walk_history(store, ref, head, report)
    for commit_id in acknowledged:
        if commit_id not in report.reachable_commits:
            report.problems.append(f"acknowledged commit {commit_id} is not reachable from any branch or tag")
    for head in sorted(set(report.refs.values())):
        _check_tree(store, head, report, read_files=read_files)
    return report


def _check_fsck(store: ArtifactStore, report: InvariantReport) -> None:
    try:
        fsck = store.fsck()
    except Exception as exc:  # fsck itself must not crash on damage; report that it did
        report.problems.append(f"fsck failed: {type(exc).__name__}: {exc}")
        return
    report.problems.extend(f"fsck: {problem}" for problem in fsck.problems)
    report.unreachable_objects = fsck.unreachable_objects
    report.unreachable_content = fsck.unreachable_content


def _walk_history(store: ArtifactStore, ref: str, head: str, report: InvariantReport) -> None:
    if head in report.reachable_commits:
        return
    try:
        report.reachable_commits.update(commit.id for commit in store.log(head))
    except Exception as exc:
        report.problems.append(f"history of {ref} ({head[:12]}) cannot be walked: {type(exc).__name__}: {exc}")


def _check_tree(store: ArtifactStore, head: str, report: InvariantReport, *, read_files: bool) -> None:
    try:
        entries = store.list("", rev=head, recursive=True)
    except Exception as exc:
        report.problems.append(f"tree of commit {head[:12]} cannot be listed: {type(exc).__name__}: {exc}")
        return
    for entry in entries:
        staged = [part for part in entry.path.split("/") if is_staging_name(part)]
        if staged:
            report.problems.append(f"commit {head[:12]} shows staging name {staged[0]!r} at path {entry.path!r}")
        if read_files:
            _check_read(store, head, entry.path, entry.size, entry.sha256, report)


def _check_read(store: ArtifactStore, head: str, path: str, size: int | None, sha256: str | None, report: InvariantReport) -> None:
    digest = hashlib.sha256()
    length = 0
    try:
        with store.open(path, rev=head) as stream:
            while chunk := stream.read(READ_CHUNK):
                digest.update(chunk)
                length += len(chunk)
    except Exception as exc:  # a checker reports every failure; a backend may leak a foreign error
        report.problems.append(f"{path!r} at commit {head[:12]} cannot be read: {type(exc).__name__}: {exc}")
        return
    report.files_read += 1
    if length != size or digest.hexdigest() != sha256:
        report.wrong_bytes += 1
        report.problems.append(
            f"WRONG BYTES: {path!r} at commit {head[:12]} read back {length} bytes hashing to "
            f"{digest.hexdigest()}, its entry says {size} bytes, {sha256}"
        )


__all__ = ["STAGING_PATTERNS", "InvariantReport", "check_invariants", "inspect_store", "is_staging_name"]
