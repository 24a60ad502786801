"""Who is on a thread: every address on its messages (From, To, Cc, Reply-To), kept as rows.

Threading by subject asks, for each batch, who is on the threads of the same subject, and the
web view asks who may see a thread. Reading that from the messages' addresses cost as much as
the threads are long, so it grew with the mailbox (issue 10 §3); ``thread_participants`` holds
it: the messages' addresses are added when they join a thread, and move with a merge. It
holds exactly what the messages' addresses say: migration 0014 filled it from them. Never
commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, literal, select
from sqlalchemy.orm import Session

from mailflow.store.db import in_chunks, skipping_insert
from mailflow.store.models import Message, MessageAddress, ThreadParticipant


def addresses_in(session: Session, thread_ids: Iterable[int]) -> list[tuple[int, str]]:
    """Return (thread id, address) for every address on the threads' messages."""
    rows: list[tuple[int, str]] = []
    for chunk in in_chunks(thread_ids):
        query = select(ThreadParticipant.thread_id, ThreadParticipant.address).where(
            ThreadParticipant.thread_id.in_(chunk)
        )
        rows.extend((tid, address) for tid, address in session.execute(query))
    return rows


def add_messages(session: Session, message_pks: Iterable[int]) -> None:
    """Add the addresses of these stored messages to the threads they are in now."""
    for chunk in in_chunks(message_pks):
        pairs = (
            select(Message.thread_id, MessageAddress.address)
            .join(Message, Message.id == MessageAddress.message_pk)
            .where(Message.id.in_(chunk), Message.thread_id.is_not(None))
            .distinct()
        )
        statement = skipping_insert(session, ThreadParticipant).from_select(
            ["thread_id", "address"], pairs
        )
        session.execute(statement.on_conflict_do_nothing())


def merge(session: Session, keep: int, gone: int) -> None:
    """Move the people of thread ``gone`` to thread ``keep`` (before ``gone`` is deleted)."""
    moved = select(literal(keep), ThreadParticipant.address).where(
        ThreadParticipant.thread_id == gone
    )
    statement = skipping_insert(session, ThreadParticipant).from_select(
        ["thread_id", "address"], moved
    )
    session.execute(statement.on_conflict_do_nothing())
    session.execute(delete(ThreadParticipant).where(ThreadParticipant.thread_id == gone))
