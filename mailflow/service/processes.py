"""Whether a process on this host is still there (leases of killed pollers, orphaned workers)."""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")


def process_exists(pid: int) -> bool:
    """Return whether process ``pid`` exists and runs, whoever owns it.

    A process killed outright whose parent has not reaped it yet (a zombie: the supervisor
    is slow, or is a script that never waits) has ended all the same, though the kernel still
    answers for its pid; on Linux its state says so."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        pass
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Return whether ``pid`` is a zombie (Linux's /proc; False where it cannot tell)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return False
    # "pid (command) state …": the command may hold spaces and parentheses itself
    fields = stat[stat.rfind(b")") + 1 :].split()
    return bool(fields) and fields[0] == b"Z"
