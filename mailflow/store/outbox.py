"""The outbox: mails decided and waiting, sent, or failed. Functions never commit.

A row is claimed by one worker at a time for ``CLAIM`` (a lease, not a lock held across the
network call), so a worker killed mid-send leaves a row the sweep finds again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, case, func, select, update
from sqlalchemy.orm import Session

from mailflow.store import recipients
from mailflow.store.db import in_chunks, skipping_insert
from mailflow.store.models import (
    OUTBOX_CANCELLED,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_SENT,
    RECIPIENT_CANCELLED,
    RECIPIENT_FAILED,
    RECIPIENT_SENT,
    Message,
    OutboxMail,
    UtcDateTime,
)

AUTO_REPLIED = "auto-replied"  # the Auto-Submitted of answers to a mail (decided, not clocks)

CLAIM = timedelta(minutes=5)
# a one-time sign-in link is in a row's context only until the row is sent or given up: after
# that nobody may read it from the database, `outbox list` or the web view's outbox page
SECRET_CONTEXT = (("sign_in", "url"),)
SCRUBBED = "(removed once sent: a one-time link is not kept)"
_OUTBOX = cast(Table, OutboxMail.__table__)


def add_if_new(session: Session, row: OutboxMail) -> int | None:
    """Insert ``row`` unless a row with its key exists; return the new id, or None."""
    new = add_all_new(session, [row_values(row)])
    return new[0] if new else None


def add_all_new(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the rows (column values) whose key no row has yet, in one multi-row statement;
    return the new rows' ids."""
    if not rows:
        return []
    statement = (
        skipping_insert(session, OutboxMail).on_conflict_do_nothing().returning(OutboxMail.id)
    )
    return list(session.scalars(statement, rows))


def add_new_by_key(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert the rows (column values) whose key no row has yet, a few statements for them all;
    return the new rows' ids by key (the first of rows sharing a key is written)."""
    statement = (
        skipping_insert(session, OutboxMail)
        .on_conflict_do_nothing()
        .returning(OutboxMail.key, OutboxMail.id)
    )
    first: dict[str, dict[str, Any]] = {}
    for row in rows:
        first.setdefault(row["key"], row)
    distinct = list(first.values())
    return {
        key: new_id
        for start in range(0, len(distinct), 500)
        for key, new_id in session.execute(statement, distinct[start : start + 500])
    }


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


@dataclass(frozen=True)
class Claimed:
    """What delivery reads of a row it claimed (a plain value: no ORM object to track)."""

    id: int
    kind: str
    lang: str
    context: dict[str, Any]
    to_addrs: list[str]
    cc_addrs: list[str]
    message_id: str
    in_reply_to: str | None
    references: list[str]
    auto_submitted: str
    attempts: int
    last_error: str | None


_CLAIMED = [f.name for f in fields(Claimed)]


def claim_many(session: Session, outbox_ids: Iterable[int], now: datetime) -> list[Claimed]:
    """Claim, in one statement, the rows among ``outbox_ids`` that are pending, due and
    unclaimed; return them in id order (sent, failed, busy and unknown ids are left out).

    PostgreSQL skips rows another transaction has locked (``SKIP LOCKED``) and re-checks the
    others after any concurrent commit, so two workers never claim one row; SQLite has one
    writer at a time. One statement also means one round trip when autocommit is on. A Core
    statement: the ORM's bulk machinery would cost more than the statement itself.
    """
    ids = sorted(set(outbox_ids))
    if not ids:
        return []
    table = _OUTBOX
    claimable = (
        select(table.c.id)
        .where(
            table.c.id.in_(ids),
            table.c.status == OUTBOX_PENDING,
            table.c.next_attempt_at <= now,
            (table.c.claimed_until.is_(None)) | (table.c.claimed_until <= now),
        )
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(table)
        .where(table.c.id.in_(claimable))
        .values(claimed_until=now + CLAIM, attempts=table.c.attempts + 1)
        .returning(*(table.c[name] for name in _CLAIMED))
    )
    rows = [Claimed(*row) for row in session.execute(statement)]
    return sorted(rows, key=lambda row: row.id)


def release(session: Session, outbox_ids: Iterable[int]) -> None:
    """Give back claims this worker will not use (its batch ran out of time): the rows are
    unclaimed again and the attempt they were charged is returned."""
    ids = sorted(set(outbox_ids))
    if ids:
        session.execute(
            update(OutboxMail)
            .where(OutboxMail.id.in_(ids), OutboxMail.status == OUTBOX_PENDING)
            .values(claimed_until=None, attempts=OutboxMail.attempts - 1),
            execution_options={"synchronize_session": False},
        )


def mark_sent_alone(
    session: Session,
    outbox_id: int,
    subject: str,
    now: datetime,
    context: dict[str, Any] | None = None,
) -> None:
    """Record that the transport accepted a mail whose row has no recipient lines (no
    recipient was ever answered for alone): one UPDATE, the same outcome as ``mark_sent``,
    one-time secrets of ``context`` (the row's, as claimed) forgotten in the same statement.

    A Core statement on the table, not an ORM update: it runs once per mail sent, and the ORM's
    bulk-update machinery costs about half a millisecond of CPU more each time."""
    scrubbed = without_secrets(context)
    params: dict[str, Any] = {"row_id": outbox_id, "subject": subject, "now": now}
    if scrubbed is None:
        session.execute(_SENT_ALONE, params)
    else:
        session.execute(
            _SENT_ALONE.values(context=bindparam("context", type_=_OUTBOX.c.context.type)),
            params | {"context": scrubbed},
        )


_SENT_ALONE = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"))
    .values(
        status=OUTBOX_SENT,
        subject=bindparam("subject"),
        claimed_until=None,
        sent_at=func.coalesce(_OUTBOX.c.sent_at, bindparam("now", type_=UtcDateTime())),
        last_error=None,
    )
)


def mark_sent(session: Session, outbox_id: int, subject: str, now: datetime) -> None:
    """Record that the transport accepted the mail for every recipient still pending.

    The last error stays when some recipient was refused earlier (the row is sent, in part).
    """
    row = session.get(OutboxMail, outbox_id, with_for_update=True)
    if row is not None:
        recipients.settle_pending(session, outbox_id, RECIPIENT_SENT, now)
        row.status, row.subject, row.claimed_until = OUTBOX_SENT, subject, None
        row.sent_at = row.sent_at or now
        forget_secrets(row)
        if not recipients.any_with_status(session, outbox_id, RECIPIENT_FAILED):
            row.last_error = None


def mark_retry(session: Session, outbox_id: int, error: str, at: datetime) -> None:
    """Record a temporary failure; the row stays pending until ``at``."""
    row = session.get(OutboxMail, outbox_id, with_for_update=True)
    if row is not None and row.status == OUTBOX_PENDING:
        row.next_attempt_at, row.last_error, row.claimed_until = at, error, None


def mark_failed(session: Session, outbox_id: int, error: str, now: datetime) -> OutboxMail | None:
    """Record a permanent failure for every recipient still pending; return the row when this
    call made it fail (first time).

    A row some recipients got already stays ``sent``: its recipient lines say who did not.
    """
    row = session.get(OutboxMail, outbox_id, with_for_update=True)
    if row is None or row.status in (OUTBOX_FAILED, OUTBOX_CANCELLED):
        return None
    recipients.settle_pending(session, outbox_id, RECIPIENT_FAILED, now)
    got_it = recipients.any_with_status(session, outbox_id, RECIPIENT_SENT)
    row.status = OUTBOX_SENT if got_it else OUTBOX_FAILED
    row.last_error, row.claimed_until = error, None
    forget_secrets(row)
    return row


def without_secrets(context: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return ``context`` with its one-time secrets (``SECRET_CONTEXT``) replaced by
    ``SCRUBBED``, or None when it holds none (nothing to write)."""
    scrubbed = dict(context or {})
    changed = False
    for outer, inner in SECRET_CONTEXT:
        part = scrubbed.get(outer)
        if isinstance(part, dict) and part.get(inner) not in (None, SCRUBBED):
            scrubbed[outer] = {**part, inner: SCRUBBED}
            changed = True
    return scrubbed if changed else None


def forget_secrets(row: OutboxMail) -> None:
    """Replace the one-time secrets in ``row``'s context (``SECRET_CONTEXT``) by ``SCRUBBED``.
    A failed sign-in mail sent again by hand then carries no link: its reader asks anew."""
    scrubbed = without_secrets(row.context)
    if scrubbed is not None:  # a new value: the JSON column does not see changes inside the old
        row.context = scrubbed


def reopen(session: Session, outbox_id: int, now: datetime) -> OutboxMail | None:
    """Make a failed or cancelled row, or the refused recipients of a sent one, due again with
    a fresh count of attempts; return the row, or None when it has nothing left to send."""
    row = session.get(OutboxMail, outbox_id, with_for_update=True)
    if row is None:
        return None
    reopened = recipients.reopen_failed(session, outbox_id, now)
    if row.status == OUTBOX_SENT and not reopened:
        return None
    row.status, row.attempts, row.next_attempt_at = OUTBOX_PENDING, 0, now
    if row.claimed_until is not None and row.claimed_until <= now:
        row.claimed_until = None
    return row


def cancel(session: Session, outbox_id: int, now: datetime, reason: str) -> OutboxMail | None:
    """Stop a pending or failed row from being sent; return it, or None when it was sent."""
    row = session.get(OutboxMail, outbox_id, with_for_update=True)
    if row is None or row.status in (OUTBOX_SENT, OUTBOX_CANCELLED):
        return None
    recipients.settle_pending(session, outbox_id, RECIPIENT_CANCELLED, now)
    row.status, row.last_error = OUTBOX_CANCELLED, reason
    return row


def failed_ids(session: Session) -> list[int]:
    """Return the rows that failed, or were refused for some recipient, oldest first."""
    query = select(OutboxMail.id).where(
        (OutboxMail.status == OUTBOX_FAILED) | OutboxMail.id.in_(recipients.with_failures())
    )
    return list(session.scalars(query.order_by(OutboxMail.id)))


@dataclass(frozen=True)
class Interrupted:
    """A row whose delivery was cut short: claimed, then no outcome recorded."""

    id: int
    kind: str
    message_id: str
    in_reply_to: str | None
    claimed_until: datetime  # the claim that ran out; the mail went out, if at all, before


def cut_short(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Return the criteria of a row whose delivery was cut short: pending, its claim run out
    with no outcome recorded (the worker died, or took longer than ``CLAIM``), so the mail may
    have gone out. Rows some recipient of which was answered for alone are left out: a copy of
    theirs in the Sent folder could be an earlier attempt's."""
    return (
        OutboxMail.status == OUTBOX_PENDING,
        OutboxMail.claimed_until.is_not(None),
        OutboxMail.claimed_until <= now,
        OutboxMail.id.not_in(recipients.with_lines()),
    )


def interrupted(session: Session, now: datetime, limit: int = 200) -> list[Interrupted]:
    """Return the rows whose delivery was cut short (``cut_short``), oldest claim first."""
    query = (
        select(
            OutboxMail.id,
            OutboxMail.kind,
            OutboxMail.message_id,
            OutboxMail.in_reply_to,
            OutboxMail.claimed_until,
        )
        .where(*cut_short(now))
        .order_by(OutboxMail.claimed_until, OutboxMail.id)
        .limit(limit)
    )
    return [
        Interrupted(row_id, kind, message_id, in_reply_to, claimed_until)
        for row_id, kind, message_id, in_reply_to, claimed_until in session.execute(query)
        if claimed_until is not None  # always: the query asks for it
    ]


def mark_sent_found(session: Session, outbox_id: int, subject: str | None, now: datetime) -> bool:
    """Record sent an interrupted row whose mail was found to have gone out; return False when
    the row is no longer interrupted (a worker claimed it meanwhile, or it was settled)."""
    row = session.get(OutboxMail, outbox_id, with_for_update=True)
    if row is None or row.status != OUTBOX_PENDING:
        return False
    if row.claimed_until is None or row.claimed_until > now:
        return False
    row.status, row.claimed_until, row.last_error = OUTBOX_SENT, None, None
    row.subject = subject or row.subject
    row.sent_at = row.sent_at or now
    forget_secrets(row)
    return True


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
    session: Session,
    *,
    status: str | None = None,
    limit: int | None = None,
    thread_id: int | None = None,
) -> list[OutboxMail]:
    """Return outbox rows, newest first, of one thread when ``thread_id`` is given; ``failed``
    also finds the rows refused for some recipient and sent to the others."""
    query = select(OutboxMail).order_by(OutboxMail.id.desc())
    if thread_id is not None:
        query = query.where(OutboxMail.thread_id == thread_id)
    if status == OUTBOX_FAILED:
        query = query.where(
            (OutboxMail.status == status) | OutboxMail.id.in_(recipients.with_failures())
        )
    elif status:
        query = query.where(OutboxMail.status == status)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


# one lock key for every writer of decided mail: counting and adding are one step (PostgreSQL)
RATE_LOCK = 0x6D61_696C_666C_6F77 & 0x7FFF_FFFF_FFFF_FFFF


def lock_for_limits(session: Session) -> None:
    """Make this transaction the only one counting and adding automatic mail until it ends.

    PostgreSQL: a transaction-scoped advisory lock, taken before the count is read; a second
    process waits here, then (READ COMMITTED) counts the rows the first one committed. SQLite
    needs nothing: ``writing`` opened the transaction with ``BEGIN IMMEDIATE``, one writer."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(RATE_LOCK)))


def sent_since(
    session: Session, since: datetime
) -> list[tuple[datetime, list[str], list[str], str | None]]:
    """Return each mail decided since ``since``: when, To, Cc, and the sender of the message it
    answers (None for mail about no message, or not an answer: reminders, notices)."""
    answering = OutboxMail.auto_submitted == AUTO_REPLIED
    query = (
        select(
            OutboxMail.created_at,
            OutboxMail.to_addrs,
            OutboxMail.cc_addrs,
            case((answering, func.lower(Message.from_address)), else_=None),
        )
        .outerjoin(Message, Message.id == OutboxMail.message_pk)
        .where(OutboxMail.created_at >= since)
    )
    return [(at, list(to), list(cc), cause) for at, to, cc, cause in session.execute(query)]


def count_by_status(session: Session) -> dict[str, int]:
    """Return how many rows each status has."""
    rows = session.execute(select(OutboxMail.status, func.count()).group_by(OutboxMail.status))
    return {status: count for status, count in rows}


def every_row(session: Session) -> list[OutboxMail]:
    """Return every outbox row, oldest first (the dry run's scratch database holds a few)."""
    return list(session.scalars(select(OutboxMail).order_by(OutboxMail.id)))
