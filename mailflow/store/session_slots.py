"""The SMTP sessions a mailbox allows at once, shared by every worker (``sessions=``).

A mailbox's ``count`` sessions are rows ``(account, 0 … count-1)``. A delivery thread holds a
row while its SMTP session is open: ``holder`` names it and ``held_until`` bounds the hold,
which the thread renews while it keeps sending. A row is free when nobody holds it, when the
hold ran out, or when ``dead(holder)`` says the holder no longer runs (a process of this
machine killed without giving it back). Every change is a compare-and-set on the holder read
(``holds.takeover``), so two threads that saw the same free row never both take it.

Functions take a Session and never commit; the use case owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from mailflow.store.db import skipping_insert
from mailflow.store.holds import takeover
from mailflow.store.models import SmtpSessionSlot

_SLOTS: Table = SmtpSessionSlot.__table__  # type: ignore[assignment]


def ensure(session: Session, account: str, count: int) -> None:
    """Create the rows of ``account``'s sessions 0 … count-1 that do not exist yet."""
    rows = [{"account": account, "slot": n} for n in range(count)]
    session.execute(skipping_insert(session, _SLOTS).values(rows).on_conflict_do_nothing())


def take(
    session: Session,
    account: str,
    count: int,
    holder: str,
    now: datetime,
    until: datetime,
    dead: Callable[[str], bool],
) -> int | None:
    """Hold a free session of ``account`` (one of the first ``count``) for ``holder`` until
    ``until``; return its number, or None when all are held by live holders."""
    rows = session.execute(
        select(_SLOTS.c.slot, _SLOTS.c.holder, _SLOTS.c.held_until)
        .where(_SLOTS.c.account == account, _SLOTS.c.slot < count)
        .order_by(_SLOTS.c.slot)
    ).all()
    for slot, held_by, held_until in rows:
        still = takeover(
            _SLOTS.c.holder, _SLOTS.c.held_until, (held_by, held_until), holder, now, dead
        )
        if still is None:
            continue
        taken = session.execute(
            update(_SLOTS)
            .where(_SLOTS.c.account == account, _SLOTS.c.slot == slot, still)
            .values(holder=holder, held_until=until)
        )
        if getattr(taken, "rowcount", 0) == 1:
            return int(slot)
    return None


def renew(session: Session, account: str, slot: int, holder: str, until: datetime) -> bool:
    """Extend ``holder``'s hold of the session to ``until``; False when it no longer holds it
    (the hold ran out and someone else took the session)."""
    renewed = session.execute(
        update(_SLOTS)
        .where(_SLOTS.c.account == account, _SLOTS.c.slot == slot, _SLOTS.c.holder == holder)
        .values(held_until=until)
    )
    return getattr(renewed, "rowcount", 0) == 1


def give_back(session: Session, account: str, slot: int, holder: str) -> None:
    """Free the session, if ``holder`` still holds it."""
    session.execute(
        update(_SLOTS)
        .where(_SLOTS.c.account == account, _SLOTS.c.slot == slot, _SLOTS.c.holder == holder)
        .values(holder=None, held_until=None)
    )


def held(session: Session, account: str, now: datetime) -> list[tuple[int, str]]:
    """Return the sessions of ``account`` held now, as (slot, holder)."""
    rows = session.execute(
        select(_SLOTS.c.slot, _SLOTS.c.holder)
        .where(
            _SLOTS.c.account == account,
            _SLOTS.c.holder.is_not(None),
            _SLOTS.c.held_until > now,
        )
        .order_by(_SLOTS.c.slot)
    ).all()
    return [(int(slot), str(holder)) for slot, holder in rows]
