"""After a batch of mail is stored: thread it, record its action items, open and answer the
confirmation ledgers, close the items a 已完成 reply reports done, and decide about each mail.

The rules are pure (``mailflow.tracking``); this runs them against what ``store.tracking``
loads, a few queries per batch, and writes what they change, each kind of row in one
statement. It runs inside the ingest transaction, so a message and everything it means commit
together. docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from mailflow.mail.model import ParseContext, ParsedMessage
from mailflow.mail.subject import thread_key
from mailflow.rulebook.loader import Rulebook
from mailflow.service import decide
from mailflow.store import tracking
from mailflow.store.models import Message
from mailflow.tracking.model import Arrival
from mailflow.tracking.tracker import Tracker


def understand(
    session: Session,
    mails: Sequence[tuple[Message, ParsedMessage]],
    ctx: ParseContext,
    rulebook: Rulebook | None,
    now: datetime,
    insert_messages: Callable[[Sequence[tuple[int, int, str]]], None] | None = None,
) -> list[int]:
    """Understand stored, unthreaded mails, in order, and return the ids of the outbox rows
    their decisions added (for the caller to enqueue after the commit).

    Without a ``rulebook``, a mail's own words decide who must confirm it. Mails later in the
    batch are stored and threaded already, but none counts as read (its answers, its
    confirmations) until its turn, as if it had not arrived.

    With ``insert_messages`` (ingest's ``MessageBatch.insert``) the mails are keyed but not yet
    inserted: it inserts them with their threads (``tracking.write``). None of the queries
    here reads the batch's own mails, so the result is the same either way."""
    arrivals = [Arrival(m.id, m.message_id, m.received_at, p) for m, p in mails]
    tracker = Tracker(
        tracking.snapshot(session, arrivals), arrivals, tracking.Keys(session, arrivals)
    )
    for arrival in arrivals:
        tracker.assign_thread(arrival, ctx.own_addresses)
    for message, parsed in mails:  # as if loaded: written with the batch's other rows
        set_committed_value(message, "thread_id", tracker.thread_of(message.id))
        set_committed_value(message, "subject_key", thread_key(parsed.subject))
    tracker.learn(tracking.history(session, tracker.wanted()))
    limit = decide.RateLimit(session, now)
    with session.no_autoflush:
        for (message, parsed), arrival in zip(mails, arrivals, strict=True):
            if rulebook is None:
                tracker.record(arrival, ctx, ledger=True, items=True)
            else:
                decide.apply(message, parsed, rulebook, ctx, now, limit, tracker)
            tracker.mark_read(arrival)
    outbox_ids = tracking.write(session, tracker.changes(), insert_messages)
    limit.report()
    return outbox_ids
