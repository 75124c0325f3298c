"""Recovery of hf-xet's local CAS database after a full disk.

A ``local://`` CAS keeps ``global_dedup_lookup.redb`` beside its ``shards/`` and ``xorbs/``: it
maps chunk hashes to shards (dedup) and each file hash to the shard entry that describes it
(every read goes through that map; without it a file reads back as 0 bytes). redb creates the
file at its initial size (1 MiB, sparse) and writes the header afterwards; when that write
meets a full disk the file is left without a valid header, and every later open fails with
"invalid data" - even once space is free. Measured with hf-xet 1.8.0 on a 16 MiB tmpfs: that
is the only damage a full disk caused. A database created successfully survived every ENOSPC
we inflicted (uploads of 64 KiB - 3 MB with 0 B - 2 MB free), redb's commits being
copy-on-write.

hf-xet writes a shard file before it records the shard's files and chunks in the database,
so a CAS without shard files has an empty database: removing the damaged file loses nothing,
and hf-xet creates a new one on the next open. A damaged database beside shard files is
another matter: hf-xet 1.8.0 cannot rebuild the file map from the shards, so that case is
reported (IntegrityError) and nothing is touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from artifactstore_git.durability import fsync_path

log = logging.getLogger(__name__)

#: The database file of a ``local://`` CAS (hf-xet 1.8.0 keeps it in ``<cas>/xet/xorbs/``).
DB_NAME = "global_dedup_lookup.redb"
#: hf-xet's message when its database cannot be opened (or created).
DB_OPEN_FAILED = "Error opening redb database"


def is_open_failure(exc: BaseException) -> bool:
    """True when hf-xet could not open (or create) the CAS database."""
    return DB_OPEN_FAILED in str(exc)


def find_database(cas: Path) -> Path | None:
    """The database file of the local CAS at ``cas``, if it exists."""
    usual = cas / "xet" / "xorbs" / DB_NAME
    if usual.is_file():
        return usual
    for depth in ("*", "*/*", "*/*/*"):
        for found in cas.glob(f"{depth}/{DB_NAME}"):
            if found.is_file():
                return found
    return None


def holds_content(database: Path) -> bool:
    """True when the CAS has shard files, so its database may map files that must stay readable."""
    shards = database.parent / "shards"
    try:
        return any(entry.is_file() for entry in shards.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return False


def discard_empty(database: Path, *, store: Path, cause: BaseException, disk_full: bool) -> None:
    """Remove the database of a CAS that holds no content; hf-xet recreates it on the next open.

    ``disk_full``: the open that failed was hf-xet creating the database on a full disk, and
    this removes what it left (routine, logged at INFO); otherwise the database was damaged
    (a WARNING naming the store).
    """
    with contextlib.suppress(FileNotFoundError):
        os.unlink(database)
    fsync_path(database.parent)
    if disk_full:
        log.info("xet store %s: removed the partial Xet CAS database %s left by a full disk (%s)", store, database, cause)
        return
    log.warning(
        "xet store %s: the Xet CAS database %s could not be opened (%s), left so by a full disk; "
        "the CAS held no content yet, so the database was removed and hf-xet creates a new one",
        store,
        database,
        cause,
    )


__all__ = ["DB_NAME", "DB_OPEN_FAILED", "discard_empty", "find_database", "holds_content", "is_open_failure"]
