"""What ``mailflow status`` and the metrics read from the database: the outbox's queue, the
messages stored, the pollers' leases and last fetches, the rules in force, the SMTP sessions
held of a shared limit and the OAuth2 refresh tokens kept.

Functions take a Session and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from mailflow.store import outbox
from mailflow.store.db import in_chunks
from mailflow.store.models import (
    OUTBOX_PENDING,
    MailboxLease,
    Message,
    OAuthRefreshToken,
    OutboxMail,
    SmtpSessionSlot,
)


def outbox_queue(session: Session, now: datetime) -> dict[str, Any]:
    """Return the outbox counts by status, how many pending rows are due now, the ``due_at``
    of the longest-waiting due row (None when none waits), and how many rows the sweep will
    look for in the Sent folder (``outbox.cut_short``: their worker died mid-send)."""
    counts = dict(
        session.execute(select(OutboxMail.status, func.count()).group_by(OutboxMail.status)).all()
    )
    due = OutboxMail.status == OUTBOX_PENDING, OutboxMail.due_at <= now
    waiting, oldest = session.execute(
        select(func.count(), func.min(OutboxMail.due_at)).where(*due)
    ).one()
    cut_short = session.scalar(select(func.count()).where(*outbox.cut_short(now)))
    return {
        "by_status": counts,
        "due": int(waiting or 0),
        "oldest_due_at": oldest,
        "cut_short": int(cut_short or 0),
    }


def message_counts(session: Session) -> dict[str, int]:
    """Return how many messages are stored, by status."""
    rows = session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    return {status: int(n) for status, n in rows}


def leases(session: Session) -> list[MailboxLease]:
    """Return every mailbox's lease row, by mailbox."""
    return list(session.scalars(select(MailboxLease).order_by(MailboxLease.source)))


def outbox_by_message(
    session: Session, outbox_ids: Sequence[int]
) -> dict[str, list[tuple[int, str, str | None]]]:
    """Return (id, kind, rule) of the given outbox rows, by the Message-ID of the mail that
    caused each (rows no stored mail caused are left out)."""
    found: dict[str, list[tuple[int, str, str | None]]] = {}
    for chunk in in_chunks(outbox_ids):
        rows = session.execute(
            select(Message.message_id, OutboxMail.id, OutboxMail.kind, OutboxMail.rule)
            .join(Message, OutboxMail.message_pk == Message.id)
            .where(OutboxMail.id.in_(chunk))
            .order_by(OutboxMail.id)
        )
        for message_id, row_id, kind, rule in rows:
            found.setdefault(message_id, []).append((row_id, kind, rule))
    return found


def smtp_sessions(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Return, for each account with a shared session limit (``sessions=``), how many of its
    sessions delivery threads hold now and how many it allows (its rows)."""
    slots = SmtpSessionSlot
    live = case((and_(slots.holder.is_not(None), slots.held_until > now), 1), else_=0)
    rows = session.execute(
        select(slots.account, func.count(), func.sum(live))
        .group_by(slots.account)
        .order_by(slots.account)
    ).all()
    return [{"account": a, "held": int(h or 0), "limit": int(n)} for a, n, h in rows]


def refresh_tokens(session: Session) -> list[dict[str, Any]]:
    """Return the OAuth2 grants whose rotated refresh token is kept, and when it last was."""
    rows = session.execute(
        select(OAuthRefreshToken.grant_name, OAuthRefreshToken.updated_at)
        .where(OAuthRefreshToken.refresh_token.is_not(None))
        .order_by(OAuthRefreshToken.grant_name)
    ).all()
    return [{"grant": grant, "rotated_at": at} for grant, at in rows]
