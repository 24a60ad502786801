"""What the clocks look at: open items, unanswered confirmations, objections, complaints.

Queries only; threads an administrator closed are left out everywhere. Never commits.
A sweep asks with the ranges of stored instants whose clock stages can be due
(``mailflow.service.clock_windows``) and leaves out what the outbox has already, so a pass
reads the rows that may have work, not every open row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload
from sqlalchemy.sql.functions import FunctionElement

from mailflow.store.db import in_chunks
from mailflow.store.models import (
    ANSWER_PENDING,
    ITEM_OPEN,
    ActionItemRecord,
    ConfirmationAnswer,
    ConfirmationRequest,
    Message,
    OutboxMail,
    Thread,
)

OBJECTION = "objection"
Range = tuple[datetime, datetime]
_SEPARATOR = "\x1f"  # as ``mailflow.service.outmail.key_of`` joins the parts


class _Sha256Hex(FunctionElement[str]):
    """The hex SHA-256 of a text's UTF-8 (SQLite: a function ``make_engine`` registers)."""

    type = String()
    inherit_cache = True
    name = "mailflow_sha256"


@compiles(_Sha256Hex)
def _sha256_default(element: _Sha256Hex, compiler: Any, **kw: Any) -> str:
    return f"mailflow_sha256({compiler.process(element.clauses, **kw)})"


@compiles(_Sha256Hex, "postgresql")
def _sha256_postgresql(element: _Sha256Hex, compiler: Any, **kw: Any) -> str:
    return f"encode(sha256(convert_to({compiler.process(element.clauses, **kw)}, 'UTF8')), 'hex')"


def clock_key(stage: str, *parts: ColumnElement[Any] | InstrumentedAttribute[Any]) -> (
    ColumnElement[str]
):  # fmt: skip
    """Return, in SQL, the idempotency key ``key_of("clock", stage, *parts)`` of a clock mail."""
    text: ColumnElement[str] = literal(f"clock{_SEPARATOR}{stage}")
    for part in parts:
        text = text + literal(_SEPARATOR) + cast(part, String)
    return _Sha256Hex(text)


def _without_outbox(session: Session, candidates: Sequence[Select[int, str]]) -> list[int]:
    """Return the distinct ids of the ``(id, key)`` rows ``candidates`` select whose key no
    outbox row has: one look-up of the outbox for them all."""
    if not candidates:
        return []
    found = union_all(*candidates).subquery() if len(candidates) > 1 else candidates[0].subquery()
    query = (
        select(found.c.id)
        .where(~select(OutboxMail.id).where(OutboxMail.key == found.c.key).exists())
        .distinct()
    )
    return list(session.scalars(query))


def _within(column: Any, ranges: Sequence[Range]) -> ColumnElement[bool]:
    """True when ``column`` lies in one of ``ranges`` (both ends included)."""
    return or_(*(column.between(low, high) for low, high in ranges))


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


def items_with_due_stages(
    session: Session, stages: Sequence[tuple[str, Sequence[Range]]]
) -> list[tuple[ActionItemRecord, Message]]:
    """Return open items with an owner, with their message, whose deadline lies in the range of
    one of ``stages`` (the stage's key name, the ranges of deadlines it can be due for) and
    whose mail of that stage is not in the outbox yet.

    One query per stage, each a range scan and a look-up of its keys, joined by UNION (an OR
    of them lets PostgreSQL hash whole tables on every pass); the few rows found are then
    loaded by key (as a subquery, the planner may scan every item to join them)."""
    item = ActionItemRecord
    wanted = [
        select(item.id.label("id"), clock_key(stage, item.id).label("key")).where(
            item.status == ITEM_OPEN, item.owner_email.is_not(None), _within(item.due_at, ranges)
        )
        for stage, ranges in stages
        if ranges
    ]
    ids = _without_outbox(session, wanted)
    query = (
        select(item, Message)
        .join(Message, Message.id == item.message_pk)
        .where(_open_thread(item.thread_id))
    )
    found = [
        (row, message)
        for chunk in in_chunks(ids)
        for row, message in session.execute(query.where(item.id.in_(chunk)))
    ]
    return sorted(found, key=lambda pair: (pair[0].due_at or datetime.max, pair[0].id))


def requests_with_due_stages(
    session: Session, remind: Sequence[Range], escalate: Sequence[Range]
) -> list[tuple[ConfirmationRequest, Message, list[ConfirmationAnswer]]]:
    """Return the ledgers still waiting for someone whose due time lies in ``remind`` with a
    reminder not written for some silent person, or in ``escalate`` with the escalation not
    written; each with its message and its pending lines (one query per clock, as above)."""
    request, line = ConfirmationRequest, ConfirmationAnswer
    wanted = []
    if remind:  # the pending lines of the ledgers in range, by key (not a join the planner
        # may turn into a scan of every line)
        in_range = list(session.scalars(select(request.id).where(_within(request.due_at, remind))))
        wanted += [
            select(line.request_id.label("id"), clock_key(
                "confirmation-reminder", line.request_id, line.address
            ).label("key")).where(line.request_id.in_(chunk), line.status == ANSWER_PENDING)
            for chunk in in_chunks(in_range)
        ]  # fmt: skip
    if escalate:  # counted per ledger: as EXISTS, PostgreSQL hashes every pending line
        pending = (
            select(func.count(line.id))
            .where(line.request_id == request.id, line.status == ANSWER_PENDING)
            .scalar_subquery()
        )
        wanted.append(
            select(
                request.id.label("id"),
                clock_key("confirmation-escalation", request.id).label("key"),
            ).where(_within(request.due_at, escalate), pending > 0)
        )
    ids = _without_outbox(session, wanted)
    query = (
        select(request, Message)
        .join(Message, Message.id == request.message_pk)
        .where(_open_thread(request.thread_id))
        .options(selectinload(request.answers))
    )
    found = []
    for chunk in in_chunks(ids):
        for row, message in session.execute(query.where(request.id.in_(chunk))):
            waiting = [a for a in row.answers if a.status == ANSWER_PENDING]
            if waiting:
                found.append((row, message, waiting))
    return sorted(found, key=lambda found: (found[0].due_at or datetime.max, found[0].id))


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
        .options(selectinload(ConfirmationRequest.answers))
    )
    found = []
    for request, message in session.execute(query):
        pending = [a for a in request.answers if a.status == ANSWER_PENDING]
        if pending:
            found.append((request, message, pending))
    return found


def objections(
    session: Session, within: Range | None = None
) -> list[tuple[ConfirmationAnswer, ConfirmationRequest, Message]]:
    """Return ledger lines that object (made ``within`` a range, when given), with their
    request and the message objected to."""
    query = (
        select(ConfirmationAnswer, ConfirmationRequest, Message)
        .join(ConfirmationRequest, ConfirmationRequest.id == ConfirmationAnswer.request_id)
        .join(Message, Message.id == ConfirmationRequest.message_pk)
        .where(ConfirmationAnswer.status == OBJECTION, _open_thread(ConfirmationRequest.thread_id))
    )
    if within is not None:
        query = query.where(ConfirmationAnswer.answered_at.between(*within))
    return [(a, r, m) for a, r, m in session.execute(query)]


def complaints(
    session: Session,
    reasons: Sequence[str],
    dated_from: datetime | None = None,
    active_from: datetime | None = None,
) -> list[Message]:
    """Return stored, human-written mail whose 事由 is a complaint reason, oldest first.

    A sweep passes bounds: only complaints dated from ``dated_from`` on, or whose thread has
    mail from ``active_from`` on, can have a clock due (None: that way none can)."""
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
    if dated_from is not None or active_from is not None:
        active = select(Thread.id).where(Thread.last_message_at >= active_from)
        query = query.where(
            or_(
                Message.date >= dated_from if dated_from is not None else false(),
                Message.thread_id.in_(active) if active_from is not None else false(),
            )
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
