"""The poller: one per mailbox (invariant 12), reading, storing and waiting for new mail.

The lease lives in the database, so it works on SQLite and PostgreSQL alike and across hosts;
each batch's transaction re-checks it (a fencing epoch), so a poller that stalled past its
lease cannot write over the one that took over.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import LeaseLost, MailboxBusy, SourceConnectionError
from mailflow.mail.model import ParseContext
from mailflow.rulebook.loader import Rulebook
from mailflow.service.ingest import IngestReport, Lease, ingest
from mailflow.service.processes import process_exists
from mailflow.sources.base import MailSource
from mailflow.store import cursors
from mailflow.store.db import writing

log = logging.getLogger(__name__)

LEASE_TTL = timedelta(seconds=60)
# renew well inside the TTL, so a slow batch or a long IDLE never lets the lease lapse
LEASE_RENEW_S = 20.0
MAX_BACKOFF_S = 300.0


def poller_identity() -> str:
    """Return a name for this process that is unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def is_abandoned(owner: str) -> bool:
    """Return True when ``owner`` is a poller on this host whose process no longer exists.

    A poller killed by the OOM killer or SIGKILL cannot release its lease; a restart on the
    same host then need not wait for the lease to expire. Other hosts' leases just expire.
    """
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    return not process_exists(int(pid))


def take_lease(sessions: sessionmaker[Session], source: str, owner: str) -> Lease | None:
    """Take or renew the lease on ``source``; return it, or None while another poller has it."""
    with writing(sessions) as session:
        row = cursors.acquire_lease(
            session, source, owner, datetime.now(UTC), LEASE_TTL, is_abandoned
        )
        return Lease(owner, row.epoch, LEASE_TTL) if row else None


def give_up_lease(sessions: sessionmaker[Session], source: str, owner: str) -> None:
    """Release the lease so a successor need not wait for it to expire."""
    with writing(sessions) as session:
        cursors.release_lease(session, source, owner)


def poll_once(
    source: MailSource,
    sessions: sessionmaker[Session],
    ctx: ParseContext,
    on_batch: Callable[[IngestReport], None] | None = None,
    rulebook: Rulebook | None = None,
    decided_at: datetime | None = None,
    parse_workers: int | None = None,
) -> IngestReport:
    """Ingest what the mailbox holds now, under a lease; raise MailboxBusy if one is held.

    ``decided_at`` dates the decisions (outbox rows) for a simulated clock; ``parse_workers``
    is as for ``ingest``."""
    owner = poller_identity()
    lease = take_lease(sessions, source.name, owner)
    if lease is None:
        raise MailboxBusy(_busy_message(sessions, source.name))
    try:
        return ingest(source, sessions, ctx, lease, on_batch, rulebook, decided_at, parse_workers)
    finally:
        give_up_lease(sessions, source.name, owner)


def _busy_message(sessions: sessionmaker[Session], source: str) -> str:
    with sessions() as session:
        holder = cursors.lease_holder(session, source)
    if holder is None:
        return f"another poller is reading {source}"
    return (
        f"another poller ({holder.owner}) is reading {source}; its lease runs until"
        f" {holder.expires_at:%H:%M:%S} UTC unless it renews it"
    )


def poll_forever(
    source: MailSource,
    sessions: sessionmaker[Session],
    ctx: ParseContext,
    stop: threading.Event,
    interval_s: float,
    on_batch: Callable[[IngestReport], None] | None = None,
    rules: Callable[[], tuple[ParseContext, Rulebook | None]] | None = None,
    parse_workers: int | None = None,
) -> None:
    """Ingest, then wait for mail (IDLE or interval), until ``stop`` is set.

    ``rules`` gives the rules in force for each pass (they may be reloaded meanwhile).
    Connection errors back off exponentially with jitter and never end the loop; while
    another poller holds the lease this one waits as a hot standby.
    """
    owner, failures = poller_identity(), 0
    try:
        while not stop.is_set():
            lease = take_lease(sessions, source.name, owner)
            if lease is None:
                stop.wait(LEASE_RENEW_S)
                continue
            current, rulebook = rules() if rules else (ctx, None)
            try:
                ingest(
                    source,
                    sessions,
                    current,
                    lease,
                    on_batch,
                    rulebook,
                    parse_workers=parse_workers,
                )
                failures = 0
                source.wait_for_mail(min(interval_s, LEASE_RENEW_S))
            except LeaseLost:
                log.warning("mailbox %s: another poller took over; standing by", source.name)
            except SourceConnectionError as e:
                failures += 1
                delay = min(MAX_BACKOFF_S, 2.0**failures) * random.uniform(0.5, 1.0)
                log.warning("mailbox %s: %s; retrying in %.0f s", source.name, e, delay)
                stop.wait(delay)
    finally:
        give_up_lease(sessions, source.name, owner)
        source.close()
