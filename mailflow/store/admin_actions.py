"""The history of what administrators did by hand, who and why. Functions never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.store.models import AdminAction

ITEM_CLOSED = "item closed"
THREAD_CLOSED = "thread closed"
OUTBOX_RETRIED = "outbox retried"
OUTBOX_CANCELLED = "outbox cancelled"


def record(
    session: Session,
    action: str,
    *,
    by: str,
    note: str | None,
    at: datetime,
    thread_id: int | None = None,
    item_id: int | None = None,
    outbox_id: int | None = None,
) -> None:
    """Add one line to the history."""
    session.add(
        AdminAction(
            action=action,
            by=by,
            note=note,
            at=at,
            thread_id=thread_id,
            item_id=item_id,
            outbox_id=outbox_id,
        )
    )


def of_thread(session: Session, thread_id: int) -> list[dict[str, Any]]:
    """Return what was done about a thread, oldest first, as plain dicts."""
    query = select(AdminAction).where(AdminAction.thread_id == thread_id)
    return [
        {
            "action": a.action,
            "by": a.by,
            "note": a.note,
            "at": a.at.isoformat(),
            "item_id": a.item_id,
            "outbox_id": a.outbox_id,
        }
        for a in session.scalars(query.order_by(AdminAction.at, AdminAction.id))
    ]
