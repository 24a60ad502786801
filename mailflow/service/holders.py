"""Who holds a lease in the database: a name for each holder, and whether it still runs.

A lease names its holder ``host:pid:token``: the host, the process and a token of the
holder's own (unique across hosts and restarts). A process killed with kill -9 or by the OOM
killer gives nothing back; a process on the same host sees that the pid no longer exists and
may take its leases at once, where other hosts wait for them to run out. Used by the
poller's mailbox lease (``poll``), the shared SMTP sessions (``session_slots``) and the
OAuth2 turns to refresh (``oauth_keeper``).
"""

from __future__ import annotations

import os
import socket
import uuid

from mailflow.service.processes import process_exists


def holder_name() -> str:
    """Return a name for one holder, unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def gone(holder: str) -> bool:
    """Return True when ``holder`` was a process on this host that no longer exists."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    return not process_exists(int(pid))
