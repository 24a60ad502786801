"""The sweep: outbox rows that are due and not held by a worker, found again from the database.

It covers a crash between commit and enqueue, a broker that lost a message, the in-process
broker's queue after a restart, and retries whose time has come (invariant 4). A row whose
worker died mid-delivery is first looked for in the mailbox's Sent folder
(``settle_interrupted``): a copy there means the server took it, and it is not sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from mailflow.service import journal
from mailflow.sources.sent import SentCopies
from mailflow.store import outbox
from mailflow.store.db import writing

log = logging.getLogger(__name__)

# a row enqueued at decision time is normally claimed within this; only later is it "stuck"
STUCK_AFTER = timedelta(seconds=20)


def due_outbox(
    sessions: sessionmaker[Session],
    now: datetime | None = None,
    grace: timedelta = STUCK_AFTER,
) -> list[int]:
    """Return the ids of outbox rows to enqueue now: due for ``grace`` and held by no worker."""
    with sessions() as session:
        return outbox.due_ids(session, now or datetime.now(UTC), grace)


def settle_interrupted(
    sessions: sessionmaker[Session],
    sent_folder: Callable[[], SentCopies | None],
    now: datetime | None = None,
) -> list[int]:
    """Record sent the rows whose delivery was cut short (claimed, no outcome, claim run out)
    and a copy of which is in the mailbox's Sent folder (``sent_folder()``, asked only when
    there are such rows; None: none to look in); return their ids. The others stay pending
    and go out again (``due_outbox``). Run before the sweep enqueues what is due."""
    moment = now or datetime.now(UTC)
    with sessions() as session:
        rows = outbox.interrupted(session, moment)
    sent = sent_folder() if rows else None
    if sent is None:
        return []
    copies = sent.find({row.message_id: row.claimed_until for row in rows})
    settled: list[int] = []
    for row in rows:
        if row.message_id not in copies:
            continue
        with writing(sessions) as session:
            if not outbox.mark_sent_found(session, row.id, copies[row.message_id], moment):
                continue
        log.warning(
            "outbox %d: its delivery was cut short, and a copy of %s is in the Sent folder of"
            " %s: recorded sent, not sent again",
            row.id,
            row.message_id,
            sent.name,
        )
        journal.tell_sent(row.id, row.kind, row.message_id, row.in_reply_to)
        settled.append(row.id)
    return settled
