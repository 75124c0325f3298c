"""gc for a chunk CAS: rebuild it from the files that are still referenced.

hf-xet's local CAS has no delete: a xorb (up to 64 MiB of chunks) is shared by every file
that has a chunk in it, and shards map files to xorb ranges. So gc copies every file still
in the index into a fresh CAS next to the old one, checks that each got the same Xet hash
(chunking is content-defined and deterministic, so pointers stay valid) and the same
SHA-256, then swaps the directories. The caller holds the exclusive CAS lock throughout.

Crash safety: the new CAS is built in ``cas.rebuild``; the swap renames ``cas`` to
``cas.old`` and ``cas.rebuild`` to ``cas``, then deletes ``cas.old``. :func:`recover` runs when
a store is opened and finishes or undoes whichever step a crash interrupted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from artifactstore_git.durability import filesystem_barrier, fsync_path

from artifactstore.errors import IntegrityError

from .endpoint import XetEndpoint
from .index import IndexEntry
from .session import get_session
from .write_errors import translated

log = logging.getLogger(__name__)

COPY_WINDOW = 16 * 1024 * 1024


def _siblings(cas: Path) -> tuple[Path, Path]:
    return cas.with_name(cas.name + ".rebuild"), cas.with_name(cas.name + ".old")


def interrupted(cas: Path) -> bool:
    """True when a gc rebuild left its traces (checked again under the lock by :func:`recover`)."""
    return any(p.exists() for p in _siblings(cas))


def recover(cas: Path) -> None:
    """Finish or undo a swap that a crash interrupted."""
    building, old = _siblings(cas)
    if old.exists():
        if cas.exists():
            shutil.rmtree(old)  # the swap completed; only the cleanup was lost
        else:
            os.rename(old, cas)  # crashed between the two renames: keep the old CAS
            log.warning("restored the Xet CAS %s after an interrupted gc", cas)
    if building.exists():
        shutil.rmtree(building)


def rebuild_cas(cas: Path, keep: Sequence[IndexEntry], *, compression: str | None = None) -> None:
    """Replace the CAS at ``cas`` by one that holds exactly the files in ``keep``.

    The new CAS's xorbs are written with the ``compression`` policy (see :func:`get_session`).
    """
    import hf_xet

    recover(cas)
    building, old = _siblings(cas)
    session = get_session(compression)
    source = XetEndpoint.local(cas).connect_kwargs()
    target = XetEndpoint.local(building).connect_kwargs()
    before = _size(cas)
    group = session.new_download_stream_group(**source)
    try:
        with translated(what="the live content (gc rebuild)", where=str(building)):
            upload = session.new_upload_commit(**target)
    except BaseException:
        del group
        shutil.rmtree(building, ignore_errors=True)
        raise
    try:
        for entry in keep:
            info = hf_xet.XetFileInfo(entry.xet_hash, entry.size)
            sha = hashlib.sha256()
            # A full disk during the copy is a write failure naming the content; the old
            # CAS is untouched until the swap.
            what = f"content {entry.sha256}"
            with translated(what=what, where=str(building)):
                channel = upload.start_upload_stream()
            for start in range(0, entry.size, COPY_WINDOW):
                end = min(entry.size, start + COPY_WINDOW)
                for piece in group.download_stream(info, start=start, end=end):
                    sha.update(piece)
                    with translated(what=what, where=str(building)):
                        channel.write(piece)
            with translated(what=what, where=str(building)):
                meta = channel.finish()
            if sha.hexdigest() != entry.sha256 or meta.xet_info.hash != entry.xet_hash:
                raise IntegrityError(
                    f"gc stopped: content {entry.sha256} read back from the Xet CAS hashes to {sha.hexdigest()} "
                    f"(Xet hash {meta.xet_info.hash}); the CAS is damaged and was left as it was, run 'artifactstore fsck'"
                )
        with translated(what="the live content (gc rebuild)", where=str(building)):
            upload.wait_to_finish()
        group.finish()
    except BaseException:
        upload.abort()
        del upload, group
        shutil.rmtree(building, ignore_errors=True)
        raise
    del upload, group
    if not building.exists():
        building.mkdir()  # nothing to keep: an empty CAS
    if not filesystem_barrier(building):  # the new CAS is on disk before it replaces the old
        os.sync()
    os.rename(cas, old)
    os.rename(building, cas)
    fsync_path(cas.parent)
    shutil.rmtree(old)
    log.info("rebuilt the Xet CAS %s: %d files kept, %d -> %d bytes", cas, len(keep), before, _size(cas))


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


__all__ = ["interrupted", "rebuild_cas", "recover"]
