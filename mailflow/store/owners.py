"""Queries about the people action items belong to, for the directory sync."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailflow.store.models import ITEM_OPEN, ActionItemRecord, Message


def open_items_of(
    session: Session, addresses: Collection[str]
) -> list[tuple[ActionItemRecord, Message]]:
    """Return the open items owned by any of ``addresses``, with the mail that assigned each."""
    if not addresses:
        return []
    wanted = sorted({a.lower() for a in addresses})
    statement = (
        select(ActionItemRecord, Message)
        .join(Message, Message.id == ActionItemRecord.message_pk)
        .where(
            ActionItemRecord.status == ITEM_OPEN,
            func.lower(ActionItemRecord.owner_email).in_(wanted),
        )
        .order_by(ActionItemRecord.id)
    )
    return [(item, message) for item, message in session.execute(statement)]
