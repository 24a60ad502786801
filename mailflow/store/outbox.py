"""The outbox: mails decided and waiting, sent, or failed. Functions never commit.

A row is claimed by one worker at a time for ``CLAIM`` (a lease, not a lock held across the
network call), so a worker killed mid-send leaves a row the sweep finds again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailflow.store.db import in_chunks
from mailflow.store.models import OUTBOX_FAILED, OUTBOX_PENDING, OUTBOX_SENT, OutboxMail

CLAIM = timedelta(minutes=5)


def add_if_new(session: Session, row: OutboxMail) -> int | None:
    """Insert ``row`` unless a row with its key exists; return the new id, or None."""
    new = add_all_new(session, [row_values(row)])
    return new[0] if new else None


def add_all_new(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the rows (column values) whose key no row has yet, in one multi-row statement;
    return the new rows' ids."""
    if not rows:
        return []
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(OutboxMail).on_conflict_do_nothing().returning(OutboxMail.id)
    return list(session.scalars(statement, rows))


def keys_present(session: Session, keys: Iterable[str]) -> set[str]:
    """Return which of these idempotency keys a row has."""
    return {
        k for chunk in in_chunks(sorted(set(keys)))
        for k in session.scalars(select(OutboxMail.key).where(OutboxMail.key.in_(chunk)))
    }  # fmt: skip


def row_values(row: OutboxMail) -> dict[str, Any]:
    """Return an unsaved row's column values, as ``add_all_new`` takes them."""
    return {c.key: getattr(row, c.key) for c in OutboxMail.__table__.columns if c.key != "id"}


def claim(session: Session, outbox_id: int, now: datetime) -> OutboxMail | None:
    """Claim a pending row that is due and unclaimed; return it, or None (sent, failed, busy)."""
    row = session.scalar(select(OutboxMail).where(OutboxMail.id == outbox_id).with_for_update())
    if row is None or row.status != OUTBOX_PENDING or row.next_attempt_at > now:
        return None
    if row.claimed_until is not None and row.claimed_until > now:
        return None
    row.claimed_until, row.attempts = now + CLAIM, row.attempts + 1
    return row


def mark_sent(session: Session, outbox_id: int, subject: str, now: datetime) -> None:
    """Record that the transport accepted the mail."""
    row = session.get(OutboxMail, outbox_id, with_for_update=True)
    if row is not None:
        row.status, row.subject, row.sent_at = OUTBOX_SENT, subject, now
        row.claimed_until, row.last_error = None, None


def mark_retry(session: Session, outbox_id: int, error: str, at: datetime) -> None:
    """Record a temporary failure; the row stays pending until ``at``."""
    row = session.get(OutboxMail, outbox_id, with_for_update=True)
    if row is not None and row.status == OUTBOX_PENDING:
        row.next_attempt_at, row.last_error, row.claimed_until = at, error, None


def mark_failed(session: Session, outbox_id: int, error: str) -> OutboxMail | None:
    """Record a permanent failure; return the row when this call made it fail (first time)."""
    row = session.get(OutboxMail, outbox_id, with_for_update=True)
    if row is None or row.status == OUTBOX_FAILED:
        return None
    row.status, row.last_error, row.claimed_until = OUTBOX_FAILED, error, None
    return row


def due_ids(
    session: Session, now: datetime, grace: timedelta = timedelta(0), limit: int = 1000
) -> list[int]:
    """Return pending rows due for at least ``grace`` that no worker holds, oldest first.

    The grace keeps the sweep from re-enqueuing rows whose first message is still queued.
    """
    query = (
        select(OutboxMail.id)
        .where(
            OutboxMail.status == OUTBOX_PENDING,
            OutboxMail.next_attempt_at <= now - grace,
            (OutboxMail.claimed_until.is_(None)) | (OutboxMail.claimed_until <= now),
        )
        .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def list_outbox(
    session: Session, *, status: str | None = None, limit: int | None = None
) -> list[OutboxMail]:
    """Return outbox rows, newest first."""
    query = select(OutboxMail).order_by(OutboxMail.id.desc())
    if status:
        query = query.where(OutboxMail.status == status)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def sent_counts_since(session: Session, since: datetime) -> Counter[str]:
    """Return how many mails were decided for each address (as To) since ``since``."""
    query = select(OutboxMail.to_addrs).where(OutboxMail.created_at >= since)
    return Counter(address for to in session.scalars(query) for address in set(to))


def count_by_status(session: Session) -> dict[str, int]:
    """Return how many rows each status has."""
    rows = session.execute(select(OutboxMail.status, func.count()).group_by(OutboxMail.status))
    return {status: count for status, count in rows}
