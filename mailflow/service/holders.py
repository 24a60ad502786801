"""Who holds a lease in the database: a name for each holder, and whether it still runs.

A lease row names its holder as ``machine pid token``: the machine (its host name and boot
id, which a restart changes), the process and a token of the holder's own. A process killed
with kill -9 gives nothing back; another process of the same machine sees that its pid no
longer runs and may take its leases at once, where other machines wait for them to run out.
Used by the shared SMTP sessions (``session_slots``) and the OAuth2 refresh turns
(``oauth_keeper``).
"""

from __future__ import annotations

import os
import secrets
import socket
from functools import cache
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@cache
def this_machine() -> str:
    """Return a name for this machine that a restart changes (its boot id, where Linux has
    one): a process id means something only on the machine and boot that gave it."""
    try:
        boot = BOOT_ID.read_text().strip()[:8]
    except OSError:
        boot = ""
    return f"{socket.gethostname()[:120]}/{boot}" if boot else socket.gethostname()[:120]


def holder_name() -> str:
    """Return a name for one holder: this machine, this process, and a token of its own."""
    return f"{this_machine()} {os.getpid()} {secrets.token_hex(4)}"


def gone(holder: str) -> bool:
    """Return True when ``holder`` was a process of this machine that no longer runs."""
    machine, _, pid = holder.rpartition(" ")[0].rpartition(" ")
    if machine != this_machine() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False
