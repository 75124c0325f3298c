"""A writer process for the fault tests: commit some files, print ``ACK <id>`` per commit.

Usage: ``python child_commit.py '<json spec>'`` with keys ``uri``, ``options`` (store
options), ``puts`` (list of ``[artifact path, "bytes" | "path" | "stream", local file]``),
``repeat`` (commits to make, each a new version: the repeat number is appended to
``bytes`` sources) and ``fsize_limit`` (``RLIMIT_FSIZE`` in bytes, SIGXFSZ ignored, so a
write past it fails with EFBIG as on a full disk; with ``limit_at: "ref-swap"`` the limit
is set only just before the ref update). ``ARTIFACTSTORE_FAULT`` in the
environment kills the process at an engine step; ``DIE_HOLDING_REF_LOCK=1`` kills it inside
git's ref lock, after the owner line is written and before the rename (git and xet: the
backend has no fault point there, so the test wraps our own ``FileLock.commit``). An exception is printed as
``ERROR clear|foreign <type>: <message>`` (clear: an OSError or ArtifactStoreError) and
the exit status is 3.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import traceback
from contextlib import ExitStack


def main() -> int:
    spec = json.loads(sys.argv[1])
    import artifactstore
    from artifactstore import Put

    if os.environ.get("DIE_HOLDING_REF_LOCK") == "1":
        from artifactstore_git.locks import FileLock

        def die(self: FileLock, content: bytes, *, sync_dir: bool = True) -> None:
            print("LOCKED", self.path, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        FileLock.commit = die  # type: ignore[method-assign]
    store = artifactstore.open(spec["uri"], **spec["options"])
    limit = spec.get("fsize_limit")
    if limit is not None and spec.get("limit_at") == "ref-swap":
        # Objects and content are written unlimited; the ref update is the first write that
        # meets the limit (wraps our own RefPort seam; no engine fault point sets limits).
        port = store.refs  # type: ignore[attr-defined]
        swap = port.compare_and_swap

        def limited_swap(name: str, old: bytes | None, new: bytes | None) -> bool:
            set_fsize_limit(limit)
            return bool(swap(name, old, new))

        port.compare_and_swap = limited_swap
    elif limit is not None:
        # Set after opening, so only the commit's own writes hit the limit.
        set_fsize_limit(limit)
    try:
        for number in range(int(spec.get("repeat", 1))):
            with ExitStack() as stack:
                puts = []
                for path, kind, local in spec["puts"]:
                    if kind == "bytes":
                        with open(local, "rb") as f:
                            data = f.read()
                        puts.append(Put(path, data + (str(number).encode() if number else b"")))
                    elif kind == "stream":
                        puts.append(Put(path, stack.enter_context(open(local, "rb"))))
                    else:
                        puts.append(Put(path, local))
                commit = store.commit(puts, message=f"child commit {number}")
            print("ACK", commit.id, flush=True)
    except Exception as exc:  # reported to the parent, which checks the message
        from artifactstore.errors import ArtifactStoreError

        kind = "clear" if isinstance(exc, (OSError, ArtifactStoreError)) else "foreign"
        print(f"ERROR {kind} {type(exc).__name__}: {exc}", flush=True)
        traceback.print_exc()
        return 3
    finally:
        store.close()
    return 0


def set_fsize_limit(limit: int) -> None:
    """Files may not grow past ``limit`` bytes: writes fail with EFBIG (or come up short)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


if __name__ == "__main__":
    sys.exit(main())
