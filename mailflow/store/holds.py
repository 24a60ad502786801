"""Holds on a row that run out: when another holder may take one over, as one condition.

A row held by ``holder_column`` until ``until_column`` (a shared SMTP session, an OAuth2 turn
to refresh) may be taken when nobody holds it, when the hold ran out, when its holder is the
one asking, or when ``dead(holder)`` says the holder no longer runs. ``takeover`` turns what
was read into the condition of a compare-and-set UPDATE: it matches only while the row is as
read, so two holders that read the same free row never both take it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_


def takeover(
    holder_column: Any,
    until_column: Any,
    read: tuple[str | None, datetime | None],
    holder: str,
    now: datetime,
    dead: Callable[[str], bool],
) -> ColumnElement[bool] | None:
    """Return the condition under which ``holder`` takes the row whose hold was ``read`` as
    (holder, until), or None when a live holder has it."""
    held_by, held_until = read
    if held_by is None:
        return holder_column.is_(None)  # type: ignore[no-any-return]
    if held_until is None or held_until <= now:
        return and_(holder_column == held_by, until_column <= now)
    if held_by == holder or dead(held_by):
        return holder_column == held_by  # type: ignore[no-any-return]
    return None
