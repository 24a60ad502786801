"""The sweep: outbox rows that are due and not held by a worker, found again from the database.

It covers a crash between commit and enqueue, a broker that lost a message, the in-process
broker's queue after a restart, and retries whose time has come (invariant 4).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from mailflow.store import outbox

# a row enqueued at decision time is normally claimed within this; only later is it "stuck"
STUCK_AFTER = timedelta(seconds=20)


def due_outbox(
    sessions: sessionmaker[Session],
    now: datetime | None = None,
    grace: timedelta = STUCK_AFTER,
) -> list[int]:
    """Return the ids of outbox rows to enqueue now: due for ``grace`` and held by no worker."""
    with sessions() as session:
        return outbox.due_ids(session, now or datetime.now(UTC), grace)
