"""Whether a process on this host is still there (leases of killed pollers, orphaned workers)."""

from __future__ import annotations

import os


def process_exists(pid: int) -> bool:
    """Return whether process ``pid`` exists, whoever owns it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True
