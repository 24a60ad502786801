"""Read-only use cases for the command line and the web view: action items, thread views and
outgoing mail as plain dicts.

The ``--json`` output and the tables are built from these, so both always agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailflow.service.timestamps import local_iso
from mailflow.store import admin_actions, messages, recipients, threads
from mailflow.store.models import ITEM_OPEN, ActionItemRecord, Message, OutboxMail, OutboxRecipient
from mailflow.store.outbox import list_outbox

OVERDUE = "overdue"
ITEM_FILTERS = ("open", "done", OVERDUE)


def item_row(
    item: ActionItemRecord, message_id: str, now: datetime, tz: tzinfo = UTC
) -> dict[str, Any]:
    """Return the ``items list --json`` object of one item (contract fields first), times in
    ``tz`` with their offset."""
    overdue = item.status == ITEM_OPEN and item.due_at is not None and item.due_at < now
    return {
        "id": item.id,
        "message_id": message_id,
        "task": item.task,
        "owner": item.owner,
        "owner_email": item.owner_email,
        "deadline": item.deadline,
        "deliverable": item.deliverable,
        "status": OVERDUE if overdue else item.status,
        "completed_at": local_iso(item.completed_at, tz),
        "missing": list(item.missing),
        "position": item.position,
    }


def list_items(
    sessions: sessionmaker[Session],
    status: str | None,
    now: datetime | None = None,
    tz: tzinfo = UTC,
) -> list[dict[str, Any]]:
    """Return action items, soonest deadline first; ``overdue`` means open and past due."""
    now = now or datetime.now(UTC)
    with sessions() as session:
        if status == OVERDUE:
            rows = threads.list_items(session, overdue_at=now)
        else:
            rows = threads.list_items(session, status=status)
        return [item_row(item, mid, now, tz) for item, mid in rows]


def thread_view(
    sessions: sessionmaker[Session],
    message_id: str,
    now: datetime | None = None,
    tz: tzinfo = UTC,
) -> dict[str, Any] | None:
    """Return the thread holding ``message_id``: messages, items, and who has confirmed what."""
    now = now or datetime.now(UTC)
    with sessions() as session:
        found = messages.message_with_id(session, message_id)
        if found is None or found.thread_id is None:
            return None
        thread_id = found.thread_id
        members = threads.thread_messages(session, thread_id, _LISTED)
        ids = {m.id: m.message_id for m in members}
        return {
            "thread_id": thread_id,
            "messages": [_message(m, tz) for m in members],
            "action_items": [
                item_row(i, ids.get(i.message_pk, ""), now, tz)
                for i in threads.items_in_thread(session, thread_id)
            ],
            "history": admin_actions.of_thread(session, thread_id),
            "confirmations": [
                {
                    "message_id": ids.get(r.message_pk, ""),
                    "requested_at": local_iso(r.requested_at, tz),
                    "due_at": local_iso(r.due_at, tz),
                    "answers": [
                        {
                            "address": a.address,
                            "name": a.name,
                            "role": a.role,
                            "status": a.status,
                            "answered_at": local_iso(a.answered_at, tz),
                            "text": a.answer_text,
                        }
                        for a in r.answers
                    ],
                }
                for r in threads.requests_in_thread(session, thread_id)
            ],
        }


# what a thread's listing shows of each message (not its body)
_LISTED = (
    Message.message_id,
    Message.date,
    Message.from_address,
    Message.from_name,
    Message.subject,
    Message.parsed,
    Message.automated,
)


def _message(m: Message, tz: tzinfo) -> dict[str, Any]:
    confirmation = (m.parsed or {}).get("confirmation")
    return {
        "message_id": m.message_id,
        "date": local_iso(m.date, tz),
        "from": m.from_address,
        "from_name": m.from_name,
        "subject": m.subject,
        "confirmation": confirmation,
        "automated": m.automated,
    }


def recipient_rows(row: OutboxMail, lines: list[OutboxRecipient]) -> list[dict[str, Any]]:
    """Return each recipient's state: its own line where the server answered for it alone,
    else the row's status."""
    known = {line.address.lower(): line for line in lines}
    out = []
    for field, addresses in ((recipients.TO, row.to_addrs), (recipients.CC, row.cc_addrs)):
        for address in addresses:
            line = known.get(address.lower())
            out.append(
                {
                    "address": address,
                    "field": field,
                    "status": line.status if line else row.status,
                    "code": line.code if line else None,
                    "reply": line.reply if line else None,
                }
            )
    return out


def outbox_json(
    row: OutboxMail, lines: list[OutboxRecipient] | None = None, tz: tzinfo = UTC
) -> dict[str, Any]:
    """Return the ``outbox list --json`` object of one row (contract fields first), with
    ``recipients``: each one's status, and the server's code and reply where it answered;
    times in ``tz`` with their offset."""
    return {
        "id": row.id,
        "kind": row.kind,
        "to": list(row.to_addrs),
        "cc": list(row.cc_addrs),
        "subject": row.subject,
        "status": row.status,
        "in_reply_to": row.in_reply_to,
        "due_at": local_iso(row.due_at, tz),
        "sent_at": local_iso(row.sent_at, tz),
        "message_id": row.message_id,
        "rule": row.rule,
        "attempts": row.attempts,
        "next_attempt_at": local_iso(row.next_attempt_at, tz),
        "last_error": row.last_error,
        "recipients": recipient_rows(row, lines or []),
        "thread_id": row.thread_id,
    }


def outbox_rows(
    sessions: sessionmaker[Session],
    *,
    status: str | None = None,
    limit: int | None = None,
    tz: tzinfo = UTC,
    thread_id: int | None = None,
) -> list[dict[str, Any]]:
    """Return outbox rows as ``outbox list --json`` objects, newest first (of one thread when
    ``thread_id`` is given)."""
    with sessions() as session:
        rows = list_outbox(session, status=status, limit=limit, thread_id=thread_id)
        lines = recipients.of_rows(session, [r.id for r in rows])
        return [outbox_json(r, lines.get(r.id), tz) for r in rows]
