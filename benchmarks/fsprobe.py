"""What creating a file costs on a filesystem, for benchmarks to print beside their figures.

On this project's CI VM (ext4 without a journal, mounted with ``discard``) creating an empty
file costs from under 10 to over 500 us of system time, moving by 10x or more within minutes
and between directories of one filesystem. ``perf`` shows why: without a journal, ext4's
inode allocator skips every free inode of the group that was deleted in the last minute or
more (``recently_deleted`` under ``ext4_create``, one inode-table lookup each), so creation
gets dear wherever many files were just removed - a test suite's or a benchmark's temporary
trees. A git or xet commit creates about nine files (eight loose objects and the ref's lock
file), MLflow's built-in store one per artifact, so figures taken minutes apart are
comparable only with this beside them, and the probe says nothing certain about another
directory's block group.
"""

from __future__ import annotations

import os
import resource
import tempfile
from pathlib import Path


def creation_cost(directory: Path, count: int = 500) -> float:
    """Microseconds of system time this process spends creating one empty file in ``directory``.

    The probe's files stay (in a new ``creation-probe-*`` directory) until the caller removes
    ``directory``: deleting them here would leave ``count`` recently deleted inodes beside the
    stores, and make the very thing measured dearer for the run that follows.
    """
    probe = Path(tempfile.mkdtemp(prefix="creation-probe-", dir=directory))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    for i in range(count):
        os.close(os.open(probe / f"f{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    spent = resource.getrusage(resource.RUSAGE_SELF).ru_stime - before
    return spent / count * 1e6


__all__ = ["creation_cost"]
