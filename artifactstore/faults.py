"""Fault injection for crash tests: kill the process at a named step of the commit path.

Off by default and free when off: the environment is read once, at import, and every
:func:`point` call is then one dictionary lookup. Set ``ARTIFACTSTORE_FAULT`` to
``STEP`` or ``STEP:N`` (die the N-th time the step is reached, default 1), e.g.
``ARTIFACTSTORE_FAULT=before-ref-swap:3``. Steps of the engine:

``after-content``        file bytes are in the content store, no tree yet
``after-trees``          trees and the commit object are built and stored, ref not moved
``before-ref-swap``      immediately before the compare-and-swap of the branch
``after-ref-swap``       immediately after the branch moved (the commit is acknowledged)
``mid-upload``           half-way through streaming a large file into the content store

Backends add their own (``git-lock-held``, ``s3-part-uploaded`` ...) with the same call.
The process dies by SIGKILL (no cleanup handlers, no flushing), as in a power cut or OOM kill.
"""

from __future__ import annotations

import os
import signal
import threading

ENV = "ARTIFACTSTORE_FAULT"


def _parse(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    step, _, count = value.partition(":")
    return step.strip(), int(count) if count.strip() else 1


_armed = _parse(os.environ.get(ENV))
_hits: dict[str, int] = {}
_lock = threading.Lock()


def point(step: str) -> None:
    """Die here if ``ARTIFACTSTORE_FAULT`` names ``step`` and its count is reached."""
    if _armed is None or _armed[0] != step:
        return
    with _lock:
        _hits[step] = _hits.get(step, 0) + 1
        if _hits[step] >= _armed[1]:
            os.kill(os.getpid(), signal.SIGKILL)


def armed() -> tuple[str, int] | None:
    """The step and count this process will die at, or ``None``."""
    return _armed


__all__ = ["ENV", "armed", "point"]
