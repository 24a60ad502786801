"""The last good rule sets and what running components report about themselves.

Functions take a Session and never commit; the use case owns the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.store.models import RuleSet, ServiceState

MAILBOX_STATE = "mailbox:"  # + the source's name: its poller, last fetch and backlog
RULES_STATE = "rules"  # the rules in force and the last reload error (service.rulestore)


def save_rule_set(session: Session, digest: str, archive: bytes, now: datetime) -> int:
    """Keep a validated rule set; return its version (the one stored before, if the same)."""
    known = session.scalar(select(RuleSet.id).where(RuleSet.digest == digest))
    if known is not None:
        return known
    row = RuleSet(digest=digest, archive=archive, stored_at=now)
    session.add(row)
    session.flush()
    return row.id


def newest_rule_set(session: Session) -> RuleSet | None:
    """Return the rule set stored last, or None when none was ever stored."""
    return session.scalar(select(RuleSet).order_by(RuleSet.id.desc()).limit(1))


def update_state(session: Session, name: str, changes: dict[str, Any], now: datetime) -> None:
    """Merge ``changes`` into the state called ``name`` (JSON values), creating it if new."""
    row = session.get(ServiceState, name, with_for_update=True)
    if row is None:
        session.add(ServiceState(name=name, data=dict(changes), updated_at=now))
        return
    row.data = {**row.data, **changes}
    row.updated_at = now


def record_mailbox_backlog(
    session: Session, source: str, waiting: int | None, now: datetime
) -> None:
    """Record how many mails are still waiting in ``source``'s mailbox (None: more, uncounted)."""
    update_state(
        session, MAILBOX_STATE + source, {"backlog": waiting, "backlog_at": now.isoformat()}, now
    )


def state(session: Session, name: str) -> dict[str, Any] | None:
    """Return the state called ``name``, or None."""
    row = session.get(ServiceState, name)
    return dict(row.data) if row else None


def states(session: Session, prefix: str) -> dict[str, dict[str, Any]]:
    """Return every state whose name starts with ``prefix``, by name."""
    rows = session.scalars(select(ServiceState).where(ServiceState.name.startswith(prefix)))
    return {r.name: dict(r.data) for r in rows}
