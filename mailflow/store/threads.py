"""Queries over threads, action items and the confirmation ledger. Never commits."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    FromClause,
    Integer,
    Row,
    Select,
    String,
    Table,
    bindparam,
    func,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased, load_only

from mailflow.store.db import in_chunks
from mailflow.store.models import (
    ITEM_OPEN,
    ActionItemRecord,
    ConfirmationAnswer,
    ConfirmationRequest,
    Message,
    Thread,
)
from mailflow.tracking.model import ThreadState


def thread_states(
    session: Session, ids: Iterable[int], subject_keys: Iterable[str], since: datetime
) -> list[ThreadState]:
    """Return the threads with these ids, and those with one of these subject keys that were
    active since ``since``, as snapshots."""
    columns = select(Thread.id, Thread.subject_key, Thread.started_at, Thread.last_message_at)
    found: dict[int, ThreadState] = {}
    for chunk in in_chunks(ids):
        query = columns.where(Thread.id.in_(chunk))
        found.update((r[0], ThreadState(*r)) for r in session.execute(query))
    for keys in in_chunks(subject_keys):
        query = columns.where(Thread.subject_key.in_(keys), Thread.last_message_at >= since)
        found.update((r[0], ThreadState(*r)) for r in session.execute(query))
    return list(found.values())


_Confirmation = tuple[int, int, str, datetime, dict[str, Any]]


def _confirmations() -> Select[tuple[int | None, int, str | None, datetime, Any]]:
    """Select (thread, pk, sender, when, the contract's confirmation) of mail people wrote."""
    return select(
        Message.thread_id,
        Message.id,
        Message.from_address,
        Message.written_at,
        Message.parsed["confirmation"],
    ).where(Message.automated.is_(False), Message.from_address.is_not(None))


def confirmations_in(
    session: Session,
    thread_ids: Iterable[int],
    but: Sequence[int] = (),
    *,
    headerless: bool = False,
    since: datetime | None = None,
) -> list[_Confirmation]:
    """Return the confirmations (已阅, 有异议, 已完成…) people wrote in these threads (only in
    mail without In-Reply-To when ``headerless``; written at ``since`` or later, when given),
    oldest first, as (thread id, message pk,
    sender, when, the contract's confirmation object); the messages ``but`` are left out, and
    so is automated mail."""
    rows: list[_Confirmation] = []
    for chunk in in_chunks(thread_ids):
        query = (
            _confirmations()
            .where(Message.thread_id.in_(chunk))
            .order_by(Message.date.asc(), Message.id.asc())
        )
        if headerless:
            query = query.where(Message.in_reply_to.is_(None))
        if since is not None:
            query = query.where(Message.written_at >= since)
        if but:
            query = query.where(Message.id.not_in(but))
        rows.extend(
            (tid, pk, sender, when, said)
            for tid, pk, sender, when, said in session.execute(query)
            if said and tid is not None and sender is not None
        )
    return rows


def confirmations_replying(
    session: Session, message_ids: Iterable[str]
) -> list[tuple[str, int, str, datetime, dict[str, Any]]]:
    """Return the confirmations people wrote in reply to these Message-IDs, as (the Message-ID
    answered, message pk, sender, when, the contract's confirmation object)."""
    rows: list[tuple[str, int, str, datetime, dict[str, Any]]] = []
    for chunk in in_chunks(message_ids):
        query = _confirmations().add_columns(Message.in_reply_to)
        query = query.where(Message.in_reply_to.in_(chunk))
        rows.extend(
            (answered, pk, sender, when, said)
            for _, pk, sender, when, said, answered in session.execute(query)
            if said and sender is not None and answered is not None
        )
    return rows


_LedgerLine = tuple[ConfirmationAnswer, int, int, datetime]


def _ledger_lines() -> Select[ConfirmationAnswer, int | None, int, datetime]:
    """Select ledger lines, each with its request's thread, message and time."""
    return select(
        ConfirmationAnswer,
        ConfirmationRequest.thread_id,
        ConfirmationRequest.message_pk,
        ConfirmationRequest.requested_at,
    ).join(ConfirmationRequest)


def answerable_lines(
    session: Session, pairs: Sequence[tuple[int, str]], replied: Sequence[int]
) -> list[_LedgerLine]:
    """Return, for each (thread, address) of ``pairs``, the ledger line of the thread's newest
    request that asked the address, and the lines of the requests of the ``replied`` messages
    in these threads for these addresses; each with its request's thread, message and time, in
    the order of the lines' ids.

    A pair reads its thread's requests newest first until one asked the address
    (``ix_confirmation_requests_thread_id_requested_at``), not every request and line of the
    thread; a replied message reads its own request's lines."""
    found: dict[int, _LedgerLine] = {}
    for chunk in in_chunks(pairs):
        found.update((row[0].id, row) for row in _threaded(_newest_lines(session, chunk)))
        if replied:
            of_replied = _ledger_lines().where(
                ConfirmationRequest.message_pk.in_(replied),
                ConfirmationRequest.thread_id.in_(sorted({t for t, _ in chunk})),
                ConfirmationAnswer.address.in_(sorted({a for _, a in chunk})),
            )
            found.update((row[0].id, row) for row in _threaded(session.execute(of_replied)))
    return [found[i] for i in sorted(found)]


_LineRows = Iterable[Row[ConfirmationAnswer, int | None, int, datetime]]


def _newest_lines(session: Session, pairs: Sequence[tuple[int, str]]) -> _LineRows:
    """Return the line of the newest request of each (thread, address) that asked it."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    wanted = _pairs_table(pairs, postgresql)
    newest = (
        _ledger_lines()
        .where(
            ConfirmationRequest.thread_id == wanted.c.thread_id,
            ConfirmationAnswer.address == wanted.c.address,
        )
        .order_by(ConfirmationRequest.requested_at.desc(), ConfirmationRequest.id.desc())
        .limit(1)
    )
    if postgresql:
        # each pair's line as its probe read it: joining the probes' ids to the lines
        # instead, PostgreSQL may scan every line and request to hash them
        probe = newest.lateral()
        columns = (probe.c.thread_id, probe.c.message_pk, probe.c.requested_at)
        line = aliased(ConfirmationAnswer, probe)
        return session.execute(select(line, *columns).select_from(wanted).join(probe, true()))
    # SQLite has no LATERAL: a correlated subquery finds each pair's line
    ids = select(newest.with_only_columns(ConfirmationAnswer.id).scalar_subquery())
    return session.execute(
        _ledger_lines().where(ConfirmationAnswer.id.in_(ids.select_from(wanted)))
    )


def _pairs_table(pairs: Sequence[tuple[int, str]], postgresql: bool) -> FromClause:
    """Return (thread_id, address) rows made of ``pairs`` in bound parameters (as ``VALUES``
    they would make every batch's statement a new one to compile)."""
    if postgresql:
        threads = bindparam("threads", [t for t, _ in pairs], type_=ARRAY(Integer))
        addresses = bindparam("addresses", [a for _, a in pairs], type_=ARRAY(String))
        return (
            func.unnest(threads, addresses)
            .table_valued("thread_id", "address")
            .render_derived(name="wanted")
        )
    each = func.json_each(bindparam("pairs", json.dumps(pairs), type_=String)).table_valued("value")
    return select(
        func.json_extract(each.c.value, "$[0]").label("thread_id"),
        func.json_extract(each.c.value, "$[1]").label("address"),
    ).subquery("wanted")


def _threaded(rows: _LineRows) -> Iterator[_LedgerLine]:
    return ((line, tid, pk, at) for line, tid, pk, at in rows if tid is not None)


def open_items_in(
    session: Session, thread_ids: Iterable[int], owners: Sequence[str] | None = None
) -> list[ActionItemRecord]:
    """Return the open action items of these threads (only those ``owners`` own, when
    given)."""
    items: list[ActionItemRecord] = []
    for chunk in in_chunks(thread_ids):
        query = select(ActionItemRecord).where(
            ActionItemRecord.thread_id.in_(chunk), ActionItemRecord.status == ITEM_OPEN
        )
        if owners is not None:
            query = query.where(ActionItemRecord.owner_email.in_(owners))
        items.extend(session.scalars(query))
    return items


def assign_threads(session: Session, assigned: Sequence[tuple[int, int, str]]) -> None:
    """Set the thread and subject key of messages, given as (message pk, thread id, subject
    key), in one statement run for all of them."""
    if not assigned:
        return
    table = cast(Table, Message.__table__)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("pk"))
        .values(thread_id=bindparam("thread"), subject_key=bindparam("key")),
        [{"pk": pk, "thread": thread, "key": key} for pk, thread, key in assigned],
    )


def thread_messages(session: Session, thread_id: int, only: Sequence[Any] = ()) -> list[Message]:
    """Return a thread's messages, oldest first (loading ``only`` these columns, when given)."""
    query = (
        select(Message)
        .where(Message.thread_id == thread_id)
        .order_by(Message.date.asc(), Message.id.asc())
    )
    if only:
        query = query.options(load_only(*only))
    return list(session.scalars(query))


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


def item_places(
    session: Session, item_ids: Iterable[int]
) -> dict[int, tuple[int | None, str | None, datetime | None]]:
    """Return each item's thread, its message's subject department and its deadline."""
    out: dict[int, tuple[int | None, str | None, datetime | None]] = {}
    for chunk in in_chunks(item_ids):
        query = (
            select(
                ActionItemRecord.id,
                ActionItemRecord.thread_id,
                Message.department,
                ActionItemRecord.due_at,
            )
            .join(Message, Message.id == ActionItemRecord.message_pk)
            .where(ActionItemRecord.id.in_(chunk))
        )
        out.update({i: (t, d, due) for i, t, d, due in session.execute(query)})
    return out


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


def every_request(session: Session) -> list[ConfirmationRequest]:
    """Return every confirmation ledger, oldest first (for the dry run's scratch database)."""
    return list(session.scalars(select(ConfirmationRequest).order_by(ConfirmationRequest.id)))


def every_item(session: Session) -> list[ActionItemRecord]:
    """Return every action item in mail order (for the dry run's scratch database)."""
    return list(session.scalars(select(ActionItemRecord).order_by(ActionItemRecord.position)))
