"""The poller: one per mailbox (invariant 12), reading, storing and waiting for new mail.

The lease lives in the database, so it works on SQLite and PostgreSQL alike and across hosts;
each batch's transaction re-checks it (a fencing epoch), so a poller that stalled past its
lease cannot write over the one that took over.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import LeaseLost, MailboxBusy, SourceConnectionError
from mailflow.mail.model import ParseContext
from mailflow.rulebook.loader import Rulebook
from mailflow.service.holders import gone, holder_name
from mailflow.service.ingest import IngestReport, Lease, ingest
from mailflow.service.outage import Outage
from mailflow.sources.base import MailSource
from mailflow.store import cursors, service_state
from mailflow.store.db import database_outage, writing
from mailflow.store.service_state import MAILBOX_STATE

log = logging.getLogger(__name__)

LEASE_TTL = timedelta(seconds=60)
# renew well inside the TTL, so a slow batch or a long IDLE never lets the lease lapse
LEASE_RENEW_S = 20.0
MAX_BACKOFF_S = 300.0


def take_lease(
    sessions: sessionmaker[Session], source: str, owner: str, ttl: timedelta = LEASE_TTL
) -> Lease | None:
    """Take or renew the lease on ``source`` for ``ttl``; return it, or None while another
    poller has it."""
    with writing(sessions) as session:
        row = cursors.acquire_lease(session, source, owner, datetime.now(UTC), ttl, gone)
        return Lease(owner, row.epoch, ttl) if row else None


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
    owner = holder_name()
    lease = take_lease(sessions, source.name, owner)
    if lease is None:
        raise MailboxBusy(_busy_message(sessions, source.name))
    try:
        report = ingest(source, sessions, ctx, lease, on_batch, rulebook, decided_at, parse_workers)
        record_fetch(sessions, source.name, owner, report)
        return report
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


def record_fetch(
    sessions: sessionmaker[Session], source: str, owner: str, report: IngestReport
) -> None:
    """Record that ``owner`` read ``source`` just now, what it found and what is still waiting
    in the mailbox (``report.mailbox_backlog``)."""
    now = datetime.now(UTC)
    with writing(sessions) as session:
        service_state.update_state(
            session,
            MAILBOX_STATE + source,
            {
                "owner": owner,
                "fetched_at": now.isoformat(),
                "stored": report.stored,
                "quarantined": report.quarantined,
                "backlog": report.mailbox_backlog,
                "backlog_at": now.isoformat(),
            },
            now,
        )


class _Role:
    """What this poller believes it is, said once per change: active, standby or lapsed."""

    def __init__(self, source: str, owner: str, ttl: timedelta) -> None:
        self.source, self.owner, self.ttl, self.name = source, owner, ttl, "starting"
        self.held_until = 0.0  # monotonic time the lease we last held runs out

    def become(self, name: str, detail: str = "") -> None:
        if name != self.name:
            self.name = name
            log.info(
                "poller %s is %s for %s%s",
                self.owner,
                name,
                self.source,
                detail,
                extra={"event": f"poller_{name}", "source": self.source},
            )

    def held(self) -> None:
        self.held_until = time.monotonic() + self.ttl.total_seconds()
        self.become("active")

    def check_lapse(self) -> None:
        """Cut off from the database past the lease's end: no longer the active poller."""
        if self.name == "active" and time.monotonic() > self.held_until:
            self.become(
                "lapsed",
                ": its lease ran out while the database was unreachable; it stands by until"
                " it holds the lease again",
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
    lease_ttl: timedelta = LEASE_TTL,
) -> None:
    """Ingest, then wait for mail (IDLE or interval), until ``stop`` is set.

    ``rules`` gives the rules in force for each pass (they may be reloaded meanwhile).
    Mailbox and database outages back off exponentially with jitter and never end the loop
    (the database's is logged at each step with its length, see ``Outage``); while another
    poller holds the lease this one waits as a hot standby and says so. A poller cut off
    from the database past its lease's end (``lease_ttl``) no longer counts itself active;
    every batch it commits is fenced by the lease anyway (``ingest``).
    """
    poller = _Poller(
        source, sessions, ctx, stop, interval_s, on_batch, rules, parse_workers, ttl=lease_ttl
    )
    database = Outage("poller", "database", log)
    try:
        while not stop.is_set():
            try:
                poller.turn()
                database.recovered()
            except Exception as e:
                outage = database_outage(e)
                if outage is None:
                    raise
                poller.role.check_lapse()
                stop.wait(database.failed(outage))
    finally:
        _let_go(sessions, source, poller.owner)


@dataclass
class _Poller:
    """One poller's settings and state between turns."""

    source: MailSource
    sessions: sessionmaker[Session]
    ctx: ParseContext
    stop: threading.Event
    interval_s: float
    on_batch: Callable[[IngestReport], None] | None
    rules: Callable[[], tuple[ParseContext, Rulebook | None]] | None
    parse_workers: int | None
    owner: str = field(default_factory=holder_name)
    ttl: timedelta = LEASE_TTL
    failures: int = 0  # consecutive mailbox connection failures
    role: _Role = field(init=False)

    def __post_init__(self) -> None:
        self.role = _Role(self.source.name, self.owner, self.ttl)

    def turn(self) -> None:
        """Take the lease, ingest, wait for mail (or stand by, or back off)."""
        name = self.source.name
        renew_s = min(LEASE_RENEW_S, self.ttl.total_seconds() / 3)
        lease = take_lease(self.sessions, name, self.owner, self.ttl)
        if lease is None:
            self.role.become("standby", f": {_busy_message(self.sessions, name)}")
            self.stop.wait(renew_s)
            return
        self.role.held()
        current, rulebook = self.rules() if self.rules else (self.ctx, None)
        try:
            report = ingest(
                self.source,
                self.sessions,
                current,
                lease,
                self.on_batch,
                rulebook,
                parse_workers=self.parse_workers,
            )
            self.role.held()  # the last batch renewed the lease
            record_fetch(self.sessions, name, self.owner, report)
            self.failures = 0
            self.source.wait_for_mail(min(self.interval_s, renew_s))
        except LeaseLost:
            self.role.become("standby", ": another poller took over")
        except SourceConnectionError as e:
            self.failures += 1
            delay = min(MAX_BACKOFF_S, 2.0**self.failures) * random.uniform(0.5, 1.0)
            log.warning("mailbox %s: %s; retrying in %.0f s", name, e, delay)
            self.stop.wait(delay)


def _let_go(sessions: sessionmaker[Session], source: MailSource, owner: str) -> None:
    try:
        give_up_lease(sessions, source.name, owner)
    except Exception as e:
        if database_outage(e) is None:
            raise
        log.warning(
            "could not release the lease on %s (the database is away); it expires", source.name
        )
    finally:
        source.close()
