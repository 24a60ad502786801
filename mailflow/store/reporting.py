"""The queries of the communication record (内部沟通记录表) and the weekly digest. Never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from mailflow.store.models import (
    STATUS_STORED,
    ActionItemRecord,
    ConfirmationRequest,
    Message,
    Thread,
)


def mail_between(
    session: Session, start: date | None, end: date | None, tz: tzinfo
) -> list[Message]:
    """Return stored mail written by people, dated in [start, end] local dates, oldest first."""
    when = Message.written_at
    query = (
        select(Message)
        .options(selectinload(Message.addresses))
        .where(Message.status == STATUS_STORED, Message.automated.is_(False))
        .order_by(when, Message.id)
    )
    if start is not None:
        query = query.where(when >= datetime.combine(start, time(), tz))
    if end is not None:
        query = query.where(when < datetime.combine(end + timedelta(days=1), time(), tz))
    return list(session.scalars(query))


def thread_starters(session: Session, thread_ids: Iterable[int | None]) -> dict[int, int]:
    """Return thread id -> id of its earliest stored mail written by a person."""
    query = (
        select(Message.thread_id, Message.id)
        .where(
            Message.thread_id.in_([t for t in thread_ids if t is not None]),
            Message.status == STATUS_STORED,
            Message.automated.is_(False),
        )
        .order_by(Message.written_at.desc(), Message.id.desc())
    )
    # newest first, so the earliest of each thread is the one that stays in the dict
    return {thread: pk for thread, pk in session.execute(query) if thread is not None}


def items_of(session: Session, message_pks: list[int]) -> dict[int, list[ActionItemRecord]]:
    query = (
        select(ActionItemRecord)
        .where(ActionItemRecord.message_pk.in_(message_pks))
        .order_by(ActionItemRecord.message_pk, ActionItemRecord.position)
    )
    found: dict[int, list[ActionItemRecord]] = {}
    for item in session.scalars(query):
        found.setdefault(item.message_pk, []).append(item)
    return found


def ledgers_of(session: Session, message_pks: list[int]) -> dict[int, ConfirmationRequest]:
    query = (
        select(ConfirmationRequest)
        .options(selectinload(ConfirmationRequest.answers))
        .where(ConfirmationRequest.message_pk.in_(message_pks))
    )
    return {r.message_pk: r for r in session.scalars(query)}


def items_until(session: Session, now: datetime) -> list[tuple[ActionItemRecord, Message]]:
    """Return the items of stored mail dated up to ``now``, with their mail, soonest deadline
    first (items without one last)."""
    query = (
        select(ActionItemRecord, Message)
        .join(Message, Message.id == ActionItemRecord.message_pk)
        .where(Message.status == STATUS_STORED, Message.written_at <= now)
        .order_by(ActionItemRecord.due_at.is_(None), ActionItemRecord.due_at, ActionItemRecord.id)
    )
    return [(i, m) for i, m in session.execute(query)]


def ledgers_until(
    session: Session, now: datetime, reasons: Sequence[str]
) -> list[tuple[ConfirmationRequest, Message]]:
    """Return the confirmation requests of mail whose 事由 is one of ``reasons``, requested by
    ``now`` in threads open at ``now``, with their answers and mail, oldest first."""
    query = (
        select(ConfirmationRequest, Message)
        .join(Message, Message.id == ConfirmationRequest.message_pk)
        .outerjoin(Thread, Thread.id == ConfirmationRequest.thread_id)
        .options(selectinload(ConfirmationRequest.answers))
        .where(
            Message.subject_reason.in_(reasons),
            ConfirmationRequest.requested_at <= now,
            (Thread.closed_at.is_(None)) | (Thread.closed_at > now),
        )
        .order_by(ConfirmationRequest.requested_at)
    )
    return [(r, m) for r, m in session.execute(query)]


def mail_of_reasons_until(session: Session, now: datetime, reasons: Sequence[str]) -> list[Message]:
    """Return stored mail whose 事由 is one of ``reasons``, dated by ``now``, in threads open at
    ``now``, with their addresses, oldest first."""
    query = (
        select(Message)
        .outerjoin(Thread, Thread.id == Message.thread_id)
        .options(selectinload(Message.addresses))
        .where(
            Message.status == STATUS_STORED,
            Message.subject_reason.in_(reasons),
            Message.written_at <= now,
            (Thread.closed_at.is_(None)) | (Thread.closed_at > now),
        )
        .order_by(Message.written_at, Message.id)
    )
    return list(session.scalars(query))


def later_senders(session: Session, m: Message, now: datetime) -> list[str | None]:
    """Return who wrote (people, not automated mail) in ``m``'s thread after it, by ``now``."""
    if m.thread_id is None:
        return []
    return list(
        session.scalars(
            select(Message.from_address).where(
                Message.thread_id == m.thread_id,
                Message.status == STATUS_STORED,
                Message.automated.is_(False),
                Message.written_at > (m.written_at),
                Message.written_at <= now,
            )
        )
    )
