"""Who and which departments are on a thread, for the web view's rights. Never commits."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.store import participants
from mailflow.store.db import in_chunks
from mailflow.store.models import Message


def subject_departments(session: Session, thread_ids: Iterable[int]) -> dict[int, set[str]]:
    """Return the departments the subjects of each thread's messages name (an empty set for
    a thread whose subjects name none)."""
    out: dict[int, set[str]] = {}
    for chunk in in_chunks(thread_ids):
        query = select(Message.thread_id, Message.department).where(Message.thread_id.in_(chunk))
        for tid, dept in session.execute(query):
            if tid is not None:
                out.setdefault(tid, set()).update([dept] if dept else [])
    return out


def thread_addresses(session: Session, thread_ids: Iterable[int]) -> dict[int, set[str]]:
    """Return every address (lower case) on each thread's messages: From, To, Cc and
    Reply-To (``thread_participants``)."""
    out: dict[int, set[str]] = {}
    for tid, address in participants.addresses_in(session, thread_ids):
        out.setdefault(tid, set()).add(address.lower())
    return out
