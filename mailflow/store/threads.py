"""Queries over threads, action items and the confirmation ledger. Never commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailflow.store.db import in_chunks
from mailflow.store.models import (
    ITEM_OPEN,
    ActionItemRecord,
    ConfirmationAnswer,
    ConfirmationRequest,
    Message,
    MessageAddress,
    Thread,
)


def replies_to(session: Session, message_ids: Iterable[str]) -> list[Message]:
    """Return stored messages whose In-Reply-To names one of ``message_ids``, oldest first."""
    return [
        m
        for chunk in in_chunks(message_ids)
        for m in session.scalars(
            select(Message).where(Message.in_reply_to.in_(chunk)).order_by(Message.id)
        )
    ]


def thread_by_subject(
    session: Session, subject_key: str, addresses: Iterable[str], since: datetime
) -> Thread | None:
    """Return the newest thread with this subject key, active since ``since``, that shares a
    participant with ``addresses``."""
    people = list(dict.fromkeys(addresses))
    if not subject_key or not people:
        return None
    shares_someone = (
        select(MessageAddress.id)
        .join(Message, Message.id == MessageAddress.message_pk)
        .where(Message.thread_id == Thread.id, MessageAddress.address.in_(people))
        .exists()
    )
    query = (
        select(Thread)
        .where(Thread.subject_key == subject_key, Thread.last_message_at >= since, shares_someone)
        .order_by(Thread.last_message_at.desc())
        .limit(1)
    )
    return session.scalar(query)


def thread_addresses(session: Session, thread_id: int, but: int | None = None) -> set[str]:
    """Return every address on the thread's messages (optionally leaving one message out)."""
    query = (
        select(MessageAddress.address)
        .join(Message, Message.id == MessageAddress.message_pk)
        .where(Message.thread_id == thread_id)
        .distinct()
    )
    if but is not None:
        query = query.where(Message.id != but)
    return set(session.scalars(query))


def merge_threads(session: Session, keep: Thread, gone: Thread) -> None:
    """Move everything of ``gone`` into ``keep`` and delete ``gone``."""
    for model in (Message, ActionItemRecord, ConfirmationRequest):
        session.execute(update(model).where(model.thread_id == gone.id).values(thread_id=keep.id))
    keep.started_at = min(keep.started_at, gone.started_at)
    keep.last_message_at = max(keep.last_message_at, gone.last_message_at)
    session.delete(gone)


def open_items_of(session: Session, thread_id: int, owner_email: str) -> list[ActionItemRecord]:
    """Return the open items in a thread whose owner is ``owner_email``, in message order."""
    return list(
        session.scalars(
            select(ActionItemRecord)
            .where(
                ActionItemRecord.thread_id == thread_id,
                ActionItemRecord.owner_email == owner_email,
                ActionItemRecord.status == ITEM_OPEN,
            )
            .order_by(ActionItemRecord.message_pk, ActionItemRecord.position)
        )
    )


def ledger_line(
    session: Session, thread_id: int, address: str, request_message_pk: int | None
) -> ConfirmationAnswer | None:
    """Return ``address``'s ledger line for the request of the message answered, or else for the
    newest request in the thread that asked them."""
    query = (
        select(ConfirmationAnswer)
        .join(ConfirmationRequest)
        .where(ConfirmationRequest.thread_id == thread_id, ConfirmationAnswer.address == address)
        .order_by(ConfirmationRequest.requested_at.desc())
    )
    lines = list(session.scalars(query))
    for line in lines:
        if line.request.message_pk == request_message_pk:
            return line
    return lines[0] if lines else None


def thread_messages(session: Session, thread_id: int) -> list[Message]:
    """Return a thread's messages, oldest first."""
    return list(
        session.scalars(
            select(Message)
            .where(Message.thread_id == thread_id)
            .order_by(Message.date.asc(), Message.id.asc())
        )
    )


def list_items(
    session: Session, *, status: str | None = None, overdue_at: datetime | None = None
) -> list[tuple[ActionItemRecord, str]]:
    """Return action items with their message's Message-ID, by deadline; ``overdue_at`` keeps
    open items due before that instant."""
    query = select(ActionItemRecord, Message.message_id).join(
        Message, Message.id == ActionItemRecord.message_pk
    )
    if status:
        query = query.where(ActionItemRecord.status == status)
    if overdue_at is not None:
        query = query.where(
            ActionItemRecord.status == ITEM_OPEN,
            ActionItemRecord.due_at.is_not(None),
            ActionItemRecord.due_at < overdue_at,
        )
    # items without a deadline last, on SQLite and PostgreSQL alike
    query = query.order_by(
        ActionItemRecord.due_at.is_(None), ActionItemRecord.due_at, ActionItemRecord.id
    )
    return [(item, mid) for item, mid in session.execute(query)]


def requests_in_thread(session: Session, thread_id: int) -> list[ConfirmationRequest]:
    """Return the confirmation requests of a thread, oldest first, with their ledgers."""
    return list(
        session.scalars(
            select(ConfirmationRequest)
            .where(ConfirmationRequest.thread_id == thread_id)
            .order_by(ConfirmationRequest.requested_at)
        )
    )


def items_in_thread(session: Session, thread_id: int) -> list[ActionItemRecord]:
    """Return the action items of a thread in message order."""
    return list(
        session.scalars(
            select(ActionItemRecord)
            .where(ActionItemRecord.thread_id == thread_id)
            .order_by(ActionItemRecord.message_pk, ActionItemRecord.position)
        )
    )
