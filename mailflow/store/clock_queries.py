"""What the clocks look at: open items, unanswered confirmations, objections, complaints.

Queries only; threads an administrator closed are left out everywhere. Never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from mailflow.store.models import (
    ANSWER_PENDING,
    ITEM_OPEN,
    ActionItemRecord,
    ConfirmationAnswer,
    ConfirmationRequest,
    Message,
    Thread,
)

OBJECTION = "objection"


def _open_thread(thread_id: InstrumentedAttribute[int | None]) -> ColumnElement[bool]:
    """True for rows whose thread an administrator has not closed (or that have no thread)."""
    closed = select(Thread.id).where(Thread.id == thread_id, Thread.closed_at.is_not(None))
    return ~closed.exists()


def open_items_due_by(
    session: Session, horizon: datetime
) -> list[tuple[ActionItemRecord, Message]]:
    """Return open items with a deadline before ``horizon``, with the message that assigned them."""
    query = (
        select(ActionItemRecord, Message)
        .join(Message, Message.id == ActionItemRecord.message_pk)
        .where(
            ActionItemRecord.status == ITEM_OPEN,
            ActionItemRecord.due_at.is_not(None),
            ActionItemRecord.due_at <= horizon,
            _open_thread(ActionItemRecord.thread_id),
        )
        .order_by(ActionItemRecord.due_at, ActionItemRecord.id)
    )
    return [(item, message) for item, message in session.execute(query)]


def requests_due_by(
    session: Session, moment: datetime
) -> list[tuple[ConfirmationRequest, Message, list[ConfirmationAnswer]]]:
    """Return confirmation requests whose time is up and that still wait for someone."""
    query = (
        select(ConfirmationRequest, Message)
        .join(Message, Message.id == ConfirmationRequest.message_pk)
        .where(
            ConfirmationRequest.due_at.is_not(None),
            ConfirmationRequest.due_at <= moment,
            _open_thread(ConfirmationRequest.thread_id),
        )
        .order_by(ConfirmationRequest.due_at)
    )
    found = []
    for request, message in session.execute(query):
        pending = [a for a in request.answers if a.status == ANSWER_PENDING]
        if pending:
            found.append((request, message, pending))
    return found


def objections(session: Session) -> list[tuple[ConfirmationAnswer, ConfirmationRequest, Message]]:
    """Return ledger lines that object, with their request and the message objected to."""
    query = (
        select(ConfirmationAnswer, ConfirmationRequest, Message)
        .join(ConfirmationRequest, ConfirmationRequest.id == ConfirmationAnswer.request_id)
        .join(Message, Message.id == ConfirmationRequest.message_pk)
        .where(ConfirmationAnswer.status == OBJECTION, _open_thread(ConfirmationRequest.thread_id))
    )
    return [(a, r, m) for a, r, m in session.execute(query)]


def complaints(session: Session, reasons: Sequence[str]) -> list[Message]:
    """Return stored, human-written mail whose 事由 is a complaint reason, oldest first."""
    query = (
        select(Message)
        .where(
            Message.status == "stored",
            Message.automated.is_(False),
            Message.subject_reason.in_(list(reasons)),
            _open_thread(Message.thread_id),
        )
        .order_by(Message.date, Message.id)
    )
    return list(session.scalars(query))


def later_in_thread(session: Session, message: Message) -> list[Message]:
    """Return the human-written messages of ``message``'s thread dated after it, oldest first."""
    if message.thread_id is None or message.date is None:
        return []
    query = (
        select(Message)
        .where(
            Message.thread_id == message.thread_id,
            Message.automated.is_(False),
            Message.date > message.date,
        )
        .order_by(Message.date, Message.id)
    )
    return list(session.scalars(query))
