"""hf-xet's CAS database after a full disk, and hf-xet's write failures as clear OSErrors.

The damaged database is made the way a full disk makes it (measured on a 16 MiB tmpfs with
hf-xet 1.8.0): redb sizes the new file to 1 MiB, sparse, and the header write that follows
fails, so the file is all zeros and every open says "invalid data". The real ENOSPC runs are
in ``tests/faults/test_disk_full.py``.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from pathlib import Path

import pytest
from artifactstore_xet import XetStore
from artifactstore_xet.cas_database import DB_NAME, find_database
from artifactstore_xet.write_errors import translated, write_failure

from artifactstore.errors import IntegrityError, LockTimeout

MIB = 1024 * 1024
#: The size redb gives a new database file before writing its header.
REDB_INITIAL_SIZE = 1056768


def header_less(database: Path) -> None:
    """Leave ``database`` as a full disk does: full size, sparse, no header."""
    database.parent.mkdir(parents=True, exist_ok=True)
    with database.open("wb") as f:
        f.truncate(REDB_INITIAL_SIZE)


def test_a_header_less_database_in_an_empty_cas_is_replaced_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = XetStore(tmp_path / "s", create=True, inline_threshold=1024)
    store.put_bytes("small.txt", b"inline, so the CAS was never written")
    database = store.content_port.embedded_dir / "xet" / "xorbs" / DB_NAME
    header_less(database)
    data = os.urandom(MIB)
    with caplog.at_level(logging.WARNING, logger="artifactstore_xet"):
        store.put_bytes("big.bin", data)
    assert store.read_bytes("big.bin") == data
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(store.content_port.directory.parent) in warnings[0], warnings
    assert find_database(store.content_port.embedded_dir) == database
    assert not store.fsck().problems
    store.close()


def test_a_damaged_database_beside_content_is_reported_and_left_untouched(tmp_path: Path) -> None:
    store = XetStore(tmp_path / "s", create=True, inline_threshold=1024)
    data = os.urandom(MIB)
    store.put_bytes("a.bin", data)
    store.close()
    database = find_database(store.content_port.embedded_dir)
    assert database is not None
    intact = database.read_bytes()
    header_less(database)

    reopened = XetStore(tmp_path / "s", inline_threshold=1024)
    with pytest.raises(IntegrityError, match=str(database)):
        reopened.read_bytes("a.bin")
    with pytest.raises(IntegrityError, match="back up"):
        reopened.put_bytes("b.bin", os.urandom(MIB))
    assert database.stat().st_size == REDB_INITIAL_SIZE and not database.read_bytes().strip(b"\0")
    assert reopened.resolve("main") == store.resolve("main")  # nothing was committed

    database.write_bytes(intact)  # the database is all that was wrong: nothing was lost
    assert reopened.read_bytes("a.bin") == data
    assert hashlib.sha256(reopened.read_bytes("a.bin")).hexdigest() == hashlib.sha256(data).hexdigest()
    reopened.close()


@pytest.mark.parametrize(
    ("raised", "code", "reason"),
    [
        # the two shapes hf-xet 1.8.0 raises (seen in the ENOSPC and RLIMIT_FSIZE runs)
        (
            RuntimeError("Internal error: Error opening redb database: I/O error: No space left on device (os error 28)"),
            errno.ENOSPC,
            "no space left on device",
        ),
        (OSError("I/O error: IO error: File too large (os error 27)"), errno.EFBIG, "file too large"),
    ],
)
def test_a_full_disk_becomes_an_oserror_naming_the_file_the_cas_and_the_fix(raised: BaseException, code: int, reason: str) -> None:
    error = write_failure(raised, what="content from /data/w.bin", where="/srv/store/xet/cas")
    assert isinstance(error, OSError) and error.errno == code
    message = str(error)
    assert "/data/w.bin" in message and "/srv/store/xet/cas" in message
    assert reason in message and "free disk space" in message


def test_other_write_failures_keep_their_errno_and_our_own_errors_pass_unchanged() -> None:
    error = write_failure(RuntimeError("Internal error: something else"), what="streamed content", where="/c")
    assert error.errno == errno.EIO and "streamed content" in str(error) and "retry" in str(error)
    # OSError(EACCES, ...) is built as its subclass, so callers can catch PermissionError
    with pytest.raises(PermissionError), translated(what="x", where="/c"):
        raise OSError("I/O error: Permission denied (os error 13)")
    with pytest.raises(LockTimeout), translated(what="x", where="/c"):
        raise LockTimeout("busy")
