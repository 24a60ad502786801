"""Loading what a batch of mail is understood with, and writing what it changes.

The after-store rules (``mailflow.tracking``) are pure: this module turns the database into
their snapshots, a few queries per batch whatever its size, and their ``Changes`` back into
rows, each kind in one statement. Never commits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from mailflow.mail.subject import thread_key
from mailflow.store import outbox, participants, threads
from mailflow.store.db import IdPool, in_chunks, insert_rows
from mailflow.store.models import (
    ActionItemRecord,
    ConfirmationAnswer,
    ConfirmationRequest,
    Message,
    Thread,
)
from mailflow.tracking.model import (
    Arrival,
    Changes,
    History,
    KnownMail,
    LedgerLine,
    OpenItem,
    Said,
    Snapshot,
    Wanted,
)
from mailflow.tracking.rules import SUBJECT_WINDOW

_TABLES: dict[str, Any] = {
    "thread": Thread,
    "request": ConfirmationRequest,
    "line": ConfirmationAnswer,
    "item": ActionItemRecord,
}


class Keys:
    """New primary keys for the rows a batch adds (``IdPool``), by kind of row."""

    def __init__(self, session: Session, mails: Sequence[Arrival]) -> None:
        size = max(1, len(mails))
        hints = {
            "thread": size,
            "request": size,
            "line": 4 * size,
            "item": max(1, sum(len(a.parsed.action_items) for a in mails)),
        }
        self._pools = {
            kind: IdPool(session, cast(Table, model.__table__), hints[kind])
            for kind, model in _TABLES.items()
        }

    def __call__(self, kind: str) -> int:
        return self._pools[kind].take()


def snapshot(session: Session, arrivals: Sequence[Arrival]) -> Snapshot:
    """Return what the stored mails are threaded with: the messages they name, the
    stored replies to them, the confirmations replying to them, and the threads they may join
    by link or subject, with their participants."""
    mails = [(a.pk, a.parsed) for a in arrivals]
    pks = {pk for pk, _ in mails}
    own_ids = [p.message_id for _, p in mails]
    named = {i for _, p in mails for i in (p.in_reply_to, *p.references) if i} - set(own_ids)
    known = {m.message_id: m for m in _known(session, Message.message_id, named)}
    replies: dict[str, list[KnownMail]] = {}
    for reply in _known(session, Message.in_reply_to, own_ids):
        if reply.pk not in pks and reply.in_reply_to:
            replies.setdefault(reply.in_reply_to, []).append(reply)
    replied: dict[str, list[Said]] = {}
    for answered, pk, sender, at, said in threads.confirmations_replying(session, own_ids):
        if pk not in pks:
            replied.setdefault(answered, []).append(_said(pk, sender, at, said))
    linked = {m.thread_id for m in known.values()} | {
        r.thread_id for rs in replies.values() for r in rs
    }
    oldest = min((a.when for a in arrivals), default=datetime.now(UTC))
    keys = {thread_key(p.subject) for _, p in mails} - {""}
    found = threads.thread_states(session, {t for t in linked if t}, keys, oldest - SUBJECT_WINDOW)
    people: dict[int, set[str]] = {t.id: set() for t in found}
    for tid, address in participants.addresses_in(session, [t.id for t in found]):
        people[tid].add(address)
    return Snapshot(
        known=known,
        replies={k: tuple(v) for k, v in replies.items()},
        replied={k: tuple(v) for k, v in replied.items()},
        threads=tuple(found),
        people={k: frozenset(v) for k, v in people.items()},
    )


def _known(session: Session, column: Any, values: Sequence[str] | set[str]) -> list[KnownMail]:
    query = select(Message.id, Message.message_id, Message.thread_id, Message.in_reply_to)
    return [
        KnownMail(pk, mid, tid, irt)
        for chunk in in_chunks(sorted(values))
        for pk, mid, tid, irt in session.execute(
            query.where(column.in_(chunk)).order_by(Message.id)
        )
    ]


def _said(pk: int, sender: str, at: Any, said: dict[str, Any]) -> Said:
    return Said(pk, sender, at, said["kind"], said.get("text"))


def history(session: Session, wanted: Wanted) -> History:
    """Return the history ``wanted`` names, a query per kind."""
    said = tuple(
        (tid, _said(pk, sender, at, found))
        for tid, pk, sender, at, found in threads.confirmations_in(
            session, wanted.said_threads, headerless=True, since=wanted.since
        )
    )
    lines: tuple[LedgerLine, ...] = ()
    if wanted.line_pairs:
        rows = threads.answerable_lines(session, wanted.line_pairs, wanted.replied)
        lines = tuple(
            LedgerLine(line.id, tid, line.address, line.status, pk, at)
            for line, tid, pk, at in rows
        )
    items = tuple(
        OpenItem(i.id, i.thread_id, i.owner_email, i.message_pk, i.position, i.task)
        for i in threads.open_items_in(session, wanted.item_threads, wanted.item_owners)
        if i.thread_id is not None
    ) if wanted.item_threads else ()  # fmt: skip
    return History(said, lines, items)


def write(
    session: Session,
    changes: Changes,
    insert_messages: Callable[[Sequence[tuple[int, int, str]]], None] | None = None,
) -> list[int]:
    """Write ``changes`` in an order the foreign keys accept; return the new outbox rows' ids
    (a row whose idempotency key exists is not written again).

    The batch's messages are stored already, and get their threads by an UPDATE; or, with
    ``insert_messages``, they are inserted here by it, given (key, thread, subject key) of each
    threaded one, once their threads exist and before the rows that refer to them."""
    session.flush()  # the batch's messages
    insert_rows(session, _table(Thread), [
        {"id": t.id, "subject_key": t.subject_key, "started_at": t.started_at,
         "last_message_at": t.last_message_at, "closed_at": None}
        for t in changes.threads
    ])  # fmt: skip
    _update(session, Thread, [
        {"k": tid, "started_at": start, "last_message_at": last}
        for tid, (start, last) in changes.thread_times.items()
    ])  # fmt: skip
    if insert_messages is None:
        threads.assign_threads(session, changes.assigned)
    else:
        insert_messages(changes.assigned)
    insert_rows(session, _table(ConfirmationRequest), [vars(r).copy() for r in changes.requests])
    insert_rows(session, _table(ConfirmationAnswer), [
        {"id": x.id, "request_id": x.request_id, "address": x.address, "name": x.name,
         "role": x.role, **vars(x.answer)}
        for x in changes.lines
    ])  # fmt: skip
    insert_rows(session, _table(ActionItemRecord), changes.items)
    _update(session, ConfirmationAnswer, [
        {"k": lid, **vars(answer)} for lid, answer in changes.answers.items()
    ])  # fmt: skip
    _update(session, ActionItemRecord, [
        {"k": iid, "status": "done", **vars(c)} for iid, c in changes.closed.items()
    ])  # fmt: skip
    for keep, gone in changes.merges:
        for model in (Message, ActionItemRecord, ConfirmationRequest):
            session.execute(
                update(model).where(model.thread_id == gone).values(thread_id=keep),
                execution_options={"synchronize_session": False},
            )
        participants.merge(session, keep, gone)
        session.execute(delete(Thread).where(Thread.id == gone))
    participants.add_messages(session, [pk for pk, _, _ in changes.assigned])
    return outbox.add_all_new(session, changes.outbox)


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _update(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Update rows by key (``k``), one statement for them all."""
    if not rows:
        return
    table = _table(model)
    values: dict[str, Any] = {c: bindparam(c) for c in rows[0] if c != "k"}
    session.execute(update(table).where(table.c.id == bindparam("k")).values(values), rows)
