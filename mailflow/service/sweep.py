"""The sweep: outbox rows that are due and not held by a worker, found again from the database.

It covers a crash between commit and enqueue, a broker that lost a message, the in-process
broker's queue after a restart, and retries whose time has come (invariant 4).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from mailflow.store import outbox


def due_outbox(sessions: sessionmaker[Session], now: datetime | None = None) -> list[int]:
    """Return the ids of outbox rows to enqueue now."""
    with sessions() as session:
        return outbox.due_ids(session, now or datetime.now(UTC))
