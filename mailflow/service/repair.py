"""Repairs an administrator makes by hand: close an item or a thread, retry or cancel outgoing
mail. Each records who did it and why (``--by``, ``--note``) in the history ``thread`` shows.

Returns plain values for the command line; the broker is not touched here (the command enqueues
what this returns, and the sweep finds it anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import RepairRefused
from mailflow.store import admin_actions, messages, outbox, threads
from mailflow.store.db import writing
from mailflow.store.models import ITEM_DONE, ActionItemRecord, OutboxMail, Thread


@dataclass(frozen=True)
class Who:
    """Who repairs, why, and when."""

    by: str
    note: str | None
    at: datetime


def close_item(sessions: sessionmaker[Session], item_id: int, who: Who) -> str | None:
    """Mark an action item done by hand; return its task, or None if there is no such item."""
    with writing(sessions) as session:
        item = session.get(ActionItemRecord, item_id)
        if item is None:
            return None
        if item.status != ITEM_DONE:
            item.status, item.completed_at = ITEM_DONE, who.at
        _record(session, admin_actions.ITEM_CLOSED, who, item.thread_id, item_id=item.id)
        return item.task


def close_thread(sessions: sessionmaker[Session], message_id: str, who: Who) -> int | None:
    """Close the thread holding ``message_id``: no reminder goes out for it any more.

    Returns the number of messages in it, or None when no such message is stored.
    """
    with writing(sessions) as session:
        found = messages.message_with_id(session, message_id)
        if found is None or found.thread_id is None:
            return None
        thread = session.get(Thread, found.thread_id)
        if thread is not None and thread.closed_at is None:
            thread.closed_at = who.at
        _record(session, admin_actions.THREAD_CLOSED, who, found.thread_id)
        return len(threads.thread_messages(session, found.thread_id))


def retry_outbox(sessions: sessionmaker[Session], outbox_id: int, who: Who) -> int:
    """Make one failed or cancelled mail, or its refused recipients, due now with fresh
    attempts; return its id. Raise RepairRefused when there is no such row or nothing to send."""
    with writing(sessions) as session:
        row = session.get(OutboxMail, outbox_id)
        if row is None:
            raise _unknown(outbox_id)
        status = row.status
        if outbox.reopen(session, outbox_id, who.at) is None:
            raise RepairRefused(
                f"outgoing mail {outbox_id} was {status} to every recipient; nothing to retry"
            )
        _record(session, admin_actions.OUTBOX_RETRIED, who, row.thread_id, outbox_id=outbox_id)
        return outbox_id


def retry_failed(sessions: sessionmaker[Session], who: Who) -> list[int]:
    """Retry every failed mail and every refused recipient; return the ids made due."""
    with sessions() as session:
        ids = outbox.failed_ids(session)
    done = []
    for outbox_id in ids:
        try:
            done.append(retry_outbox(sessions, outbox_id, who))
        except RepairRefused:  # sent meanwhile
            continue
    return done


def cancel_outbox(sessions: sessionmaker[Session], outbox_id: int, who: Who) -> None:
    """Stop a pending or failed mail from being sent; raise RepairRefused when it cannot be."""
    with writing(sessions) as session:
        row = session.get(OutboxMail, outbox_id)
        if row is None:
            raise _unknown(outbox_id)
        status = row.status
        reason = f"cancelled by {who.by}" + (f": {who.note}" if who.note else "")
        if outbox.cancel(session, outbox_id, who.at, reason) is None:
            raise RepairRefused(f"outgoing mail {outbox_id} is {status} already; nothing to cancel")
        _record(session, admin_actions.OUTBOX_CANCELLED, who, row.thread_id, outbox_id=outbox_id)


def _unknown(outbox_id: int) -> RepairRefused:
    return RepairRefused(f"no outgoing mail has the id {outbox_id}; see `mailflow outbox list`")


def _record(
    session: Session,
    action: str,
    who: Who,
    thread_id: int | None,
    *,
    item_id: int | None = None,
    outbox_id: int | None = None,
) -> None:
    admin_actions.record(
        session,
        action,
        by=who.by,
        note=who.note,
        at=who.at,
        thread_id=thread_id,
        item_id=item_id,
        outbox_id=outbox_id,
    )
