"""The newest refresh token of each OAuth2 grant, and whose turn it is to refresh.

One row a grant (``models.OAuthRefreshToken``). A process takes the grant's turn before it
refreshes, with a compare-and-set on the holder it read, and gives it back after; a turn
whose holder died runs out by itself, or is free at once when ``dead(holder)`` says so.

Functions take a Session and never commit; the use case owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from mailflow.store.db import skipping_insert
from mailflow.store.holds import takeover
from mailflow.store.models import OAuthRefreshToken

_TOKENS: Table = OAuthRefreshToken.__table__  # type: ignore[assignment]


def take_turn(
    session: Session,
    grant: str,
    holder: str,
    now: datetime,
    until: datetime,
    dead: Callable[[str], bool],
) -> bool:
    """Hold ``grant``'s turn to refresh for ``holder`` until ``until``; False when another
    live holder has it."""
    _ensure(session, grant)
    row = session.execute(
        select(_TOKENS.c.turn_by, _TOKENS.c.turn_until).where(_TOKENS.c.grant_name == grant)
    ).one()
    still = takeover(_TOKENS.c.turn_by, _TOKENS.c.turn_until, tuple(row), holder, now, dead)
    if still is None:
        return False
    taken = session.execute(
        update(_TOKENS)
        .where(_TOKENS.c.grant_name == grant, still)
        .values(turn_by=holder, turn_until=until)
    )
    return getattr(taken, "rowcount", 0) == 1


def end_turn(session: Session, grant: str, holder: str) -> None:
    """Give the turn back, if ``holder`` still has it."""
    session.execute(
        update(_TOKENS)
        .where(_TOKENS.c.grant_name == grant, _TOKENS.c.turn_by == holder)
        .values(turn_by=None, turn_until=None)
    )


def newest(session: Session, grant: str, seed: str) -> str | None:
    """Return the newest refresh token kept for ``grant`` grown from ``seed``, or None."""
    return session.scalar(
        select(_TOKENS.c.refresh_token).where(_TOKENS.c.grant_name == grant, _TOKENS.c.seed == seed)
    )


def keep(session: Session, grant: str, seed: str, token: str, now: datetime) -> None:
    """Keep ``token`` as the newest of ``grant``, grown from ``seed``."""
    _ensure(session, grant)
    session.execute(
        update(_TOKENS)
        .where(_TOKENS.c.grant_name == grant)
        .values(seed=seed, refresh_token=token, updated_at=now)
    )


def _ensure(session: Session, grant: str) -> None:
    session.execute(
        skipping_insert(session, _TOKENS).values(grant_name=grant).on_conflict_do_nothing()
    )
