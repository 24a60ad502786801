"""Per-recipient delivery state of outgoing mail. Functions never commit.

An outbox row has no recipient rows until the next hop answers for single recipients (a
partial refusal); until then every recipient shares the row's status. From then on a recipient
is ``pending`` (not sent yet, or deferred with a 4xx), ``sent``, ``failed`` (refused with a
5xx) or ``cancelled``, and only the pending ones are in the envelope of the next attempt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from mailflow.store.models import (
    RECIPIENT_FAILED,
    RECIPIENT_PENDING,
    RECIPIENT_SENT,
    OutboxMail,
    OutboxRecipient,
)

TO, CC = "to", "cc"


@dataclass(frozen=True)
class Answer:
    """What the next hop said about one recipient: the status it leads to, code and text."""

    status: str
    code: int | None = None
    reply: str | None = None


def settled(session: Session, outbox_id: int) -> set[str]:
    """Return the addresses (lower case) that need no further attempt: sent, failed, cancelled."""
    query = select(OutboxRecipient.address).where(
        OutboxRecipient.outbox_id == outbox_id, OutboxRecipient.status != RECIPIENT_PENDING
    )
    return {address.lower() for address in session.scalars(query)}


def record(session: Session, row: OutboxMail, answers: Mapping[str, Answer], now: datetime) -> None:
    """Write each address's answer, adding a line for every recipient of ``row`` the first time."""
    lines = {line.address.lower(): line for line in of_row(session, row.id)}
    for address, field in _fields(row):
        if address.lower() not in lines:
            line = OutboxRecipient(
                outbox_id=row.id,
                address=address,
                field=field,
                status=RECIPIENT_PENDING,
                updated_at=now,
            )
            session.add(line)
            lines[address.lower()] = line
    for address, answer in answers.items():
        known = lines.get(address.lower())
        if known is not None:
            known.status, known.code, known.reply = answer.status, answer.code, answer.reply
            known.updated_at = now
    session.flush()


def settle_pending(session: Session, outbox_id: int, status: str, now: datetime) -> None:
    """Give the recipients still pending ``status`` (the whole mail was sent, failed, stopped);
    a deferral's code is kept as the reason unless the mail then went through."""
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status == RECIPIENT_SENT:
        values |= {"code": None, "reply": None}
    session.execute(
        update(OutboxRecipient)
        .where(OutboxRecipient.outbox_id == outbox_id, OutboxRecipient.status == RECIPIENT_PENDING)
        .values(**values)
    )


def reopen_failed(session: Session, outbox_id: int, now: datetime) -> int:
    """Make refused and cancelled recipients pending again (an administrator's retry); return
    how many."""
    result = session.execute(
        update(OutboxRecipient)
        .where(OutboxRecipient.outbox_id == outbox_id, OutboxRecipient.status != RECIPIENT_SENT)
        .where(OutboxRecipient.status != RECIPIENT_PENDING)
        .values(status=RECIPIENT_PENDING, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def any_with_status(session: Session, outbox_id: int, status: str) -> bool:
    """Return whether some recipient of the row has ``status``."""
    query = select(OutboxRecipient.id).where(
        OutboxRecipient.outbox_id == outbox_id, OutboxRecipient.status == status
    )
    return session.scalar(query.limit(1)) is not None


def with_lines() -> Select[Any]:
    """Return the query of outbox ids some recipient of which was answered for alone."""
    return select(OutboxRecipient.outbox_id)


def with_failures() -> Select[Any]:
    """Return the query of outbox ids that have a refused recipient."""
    return select(OutboxRecipient.outbox_id).where(OutboxRecipient.status == RECIPIENT_FAILED)


def of_row(session: Session, outbox_id: int) -> list[OutboxRecipient]:
    """Return the recipient lines of one row, in the order they were written."""
    query = select(OutboxRecipient).where(OutboxRecipient.outbox_id == outbox_id)
    return list(session.scalars(query.order_by(OutboxRecipient.id)))


def of_rows(session: Session, outbox_ids: Iterable[int]) -> dict[int, list[OutboxRecipient]]:
    """Return the recipient lines of many rows, by row id (rows without lines are absent)."""
    ids = list(outbox_ids)
    found: dict[int, list[OutboxRecipient]] = {}
    if not ids:
        return found
    query = select(OutboxRecipient).where(OutboxRecipient.outbox_id.in_(ids))
    for line in session.scalars(query.order_by(OutboxRecipient.id)):
        found.setdefault(line.outbox_id, []).append(line)
    return found


class Addressed(Protocol):
    """A row's To and Cc: an outbox row, or what delivery claimed of one."""

    @property
    def to_addrs(self) -> list[str]: ...

    @property
    def cc_addrs(self) -> list[str]: ...


def _fields(row: Addressed) -> list[tuple[str, str]]:
    """Return each distinct recipient with To or Cc, To first."""
    seen: set[str] = set()
    out = []
    for field, addresses in ((TO, row.to_addrs), (CC, row.cc_addrs)):
        for address in addresses:
            if address.lower() not in seen:
                seen.add(address.lower())
                out.append((address, field))
    return out


def envelope(row: Addressed, done: set[str]) -> list[str]:
    """Return the distinct recipients of ``row`` not in ``done`` (lower case), To first."""
    return [address for address, _field in _fields(row) if address.lower() not in done]
