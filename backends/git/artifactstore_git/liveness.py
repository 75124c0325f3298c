"""Whether the process that recorded itself somewhere is still running.

A process is named by its ``pid``, the ``host`` it runs on, the machine's ``boot`` id and its
own ``start`` time (clock ticks since boot), so that a pid reused after its process died, or
after a reboot, is not taken for the process that recorded itself. ``"-"`` stands for a boot id
or start time that could not be read (no ``/proc``); judgments then rest on the pid alone.
Only a process of this host can be judged: another host's may be alive or not.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

#: A boot id or start time that could not be read.
UNKNOWN = "-"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return UNKNOWN


HOSTNAME = socket.gethostname()
BOOT_ID = _boot_id()


def _state_and_start(pid: int) -> tuple[str, str] | None:
    """``pid``'s state letter (``Z`` for a zombie) and start time from ``/proc``, or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may hold spaces and parentheses; the fields after the last ')' are fixed.
    fields = stat[stat.rfind(")") + 2 :].split()
    return (fields[0], fields[19]) if len(fields) > 19 else None


def own_start() -> str:
    """This process's start time, read once per pid (a forked child reads its own)."""
    return _own_start(os.getpid())


@functools.lru_cache(maxsize=4)
def _own_start(pid: int) -> str:
    stat = _state_and_start(pid)
    return stat[1] if stat else UNKNOWN


def process_is_dead(pid: int, *, host: str, boot: str, start: str) -> bool | None:
    """True when that process is known to be gone, False when it may still run, None for another host's.

    Gone means: recorded before this machine last booted, no such pid, a zombie (killed, not yet
    reaped by its parent), or a pid now held by a process started at another time.
    """
    if host != HOSTNAME:
        return None
    if boot not in (UNKNOWN, BOOT_ID):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, owned by another user
    stat = _state_and_start(pid)
    if stat is None:
        return False  # exists, but nothing more is known
    state, started = stat
    return state == "Z" or (start != UNKNOWN and started != start)


__all__ = ["BOOT_ID", "HOSTNAME", "UNKNOWN", "own_start", "process_is_dead"]
