"""The health of a mailflow installation, as ``mailflow status`` shows it and the metrics
export it: database and broker reachable, the active poller and its lease, the last fetch
and the mail still waiting in each mailbox, the outbox's backlog, the rules in force and
their last error.

One snapshot serves both, so the command and the metrics never disagree. The verdict is
``healthy`` unless the database or the broker cannot be reached, no poller holds a live
lease, or due mail has waited longer than ``STALLED_AFTER``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import ServiceUnavailable
from mailflow.service.timestamps import local_iso
from mailflow.store import health, migrate, service_state
from mailflow.store.db import database_outage, probe_database
from mailflow.store.models import OUTBOX_FAILED, OUTBOX_PENDING
from mailflow.store.service_state import MAILBOX_STATE, RULES_STATE

# due mail waiting longer than this means nobody delivers it (no worker, a stuck transport)
STALLED_AFTER = timedelta(minutes=15)


@dataclass
class Health:
    """One look at the installation; ``problems`` make it unhealthy, ``warnings`` do not."""

    checked_at: datetime
    database: dict[str, Any]
    broker: dict[str, Any]
    pollers: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[str, int] = field(default_factory=dict)
    outbox: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, Any] = field(default_factory=dict)
    # OAuth2 grants whose rotated refresh token the database keeps, and when it last rotated
    oauth: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self, tz: tzinfo = UTC) -> dict[str, Any]:
        """Return the ``status --json`` document, times in ``tz`` with their offset."""
        pollers = [
            p
            | {
                "expires_at": local_iso(p["expires_at"], tz),
                "fetched_at": _local_text(p["fetched_at"], tz),
                "mailbox_backlog_at": _local_text(p["mailbox_backlog_at"], tz),
            }
            for p in self.pollers
        ]
        rules = self.rules | {
            k: _local_text(self.rules.get(k), tz) for k in ("loaded_at", "last_error_at")
        }
        oldest = self.outbox.get("oldest_due_at")
        return {
            "healthy": self.healthy,
            "checked_at": local_iso(self.checked_at, tz),
            "problems": self.problems,
            "warnings": self.warnings,
            "database": self.database,
            "broker": self.broker,
            "pollers": pollers,
            "messages": self.messages,
            "outbox": self.outbox | {"oldest_due_at": local_iso(oldest, tz)},
            "rules": rules,
            "oauth": {
                "refresh_tokens": [
                    t | {"rotated_at": local_iso(t["rotated_at"], tz)} for t in self.oauth
                ]
            },
        }


def _local_text(iso: str | None, tz: tzinfo) -> str | None:
    return local_iso(datetime.fromisoformat(iso), tz) if iso else None


def check(
    engine: Engine,
    sessions: sessionmaker[Session],
    probe_broker: Callable[[], None],
    broker_name: str,
    now: datetime | None = None,
) -> Health:
    """Look at everything once; never raises for a server that cannot be reached."""
    now = now or datetime.now(UTC)
    found = Health(now, _reach(lambda: probe_database(engine)), _reach(probe_broker))
    found.broker["kind"] = broker_name
    if not found.database["reachable"]:
        found.problems.append(f"cannot reach the database: {found.database['error']}")
    if not found.broker["reachable"]:
        found.problems.append(f"cannot reach the broker: {found.broker['error']}")
    if found.database["reachable"]:
        current, head = migrate.current_revision(engine), migrate.head_revision()
        found.database["revision"] = current
        if current != head:
            state = "has no mailflow tables" if current is None else f"is at {current}"
            found.problems.append(
                f"the database {state}, the code needs {head}: run `mailflow db upgrade`"
            )
        else:
            _read(found, sessions, now)
    return found


def _reach(probe: Callable[[], None]) -> dict[str, Any]:
    try:
        probe()
    except ServiceUnavailable as e:
        return {"reachable": False, "error": e.reason}
    except Exception as e:
        outage = database_outage(e)
        if outage is None:
            raise
        return {"reachable": False, "error": outage.reason}
    return {"reachable": True, "error": None}


def _read(found: Health, sessions: sessionmaker[Session], now: datetime) -> None:
    with sessions() as session:
        fetches = service_state.states(session, MAILBOX_STATE)
        for lease in health.leases(session):
            fetch = fetches.get(MAILBOX_STATE + lease.source, {})
            found.pollers.append(
                {
                    "source": lease.source,
                    "owner": lease.owner,
                    "active": lease.expires_at > now,
                    # a lease given up on shutdown is set to expire at the epoch
                    "expires_at": lease.expires_at if lease.expires_at.year > 1970 else None,
                    "lease_left_s": max(0, round((lease.expires_at - now).total_seconds())),
                    "fetched_at": fetch.get("fetched_at"),
                    "fetched_by": fetch.get("owner"),
                    **_mailbox_backlog(fetch),
                }
            )
        found.messages = health.message_counts(session)
        queue = health.outbox_queue(session, now)
        found.rules = service_state.state(session, RULES_STATE) or {}
        smtp_sessions = health.smtp_sessions(session, now)
        found.oauth = health.refresh_tokens(session)
    oldest = queue["oldest_due_at"]
    age = (now - oldest).total_seconds() if oldest else 0.0
    counts = queue["by_status"]
    found.outbox = {
        "pending": counts.get(OUTBOX_PENDING, 0),
        "failed": counts.get(OUTBOX_FAILED, 0),
        "by_status": counts,
        "backlog": queue["due"],
        "oldest_due_at": oldest,
        "oldest_pending_age_s": round(age),
        "cut_short": queue["cut_short"],
        "smtp_sessions": smtp_sessions,
    }
    _judge(found, age)


def _mailbox_backlog(fetch: dict[str, Any]) -> dict[str, Any]:
    """Return the mail still waiting in the mailbox as the poller last counted it: a count
    (None when never counted, or when the source said only "more"), whether any waits, when."""
    counted = "backlog" in fetch
    waiting = fetch.get("backlog")
    return {
        "mailbox_backlog": waiting,
        "mailbox_backlog_more": counted and (waiting is None or waiting > 0),
        "mailbox_backlog_at": fetch.get("backlog_at"),
    }


def _judge(found: Health, age_s: float) -> None:
    if not any(p["active"] for p in found.pollers):
        found.problems.append("no poller holds a live lease: nobody reads the mailbox")
    if age_s > STALLED_AFTER.total_seconds():
        found.problems.append(
            f"due mail has waited {age_s / 60:.0f} min to be sent: is a worker running?"
        )
    if found.outbox["failed"]:
        found.warnings.append(f"{found.outbox['failed']} outgoing mail(s) failed")
    if found.rules.get("broken"):
        version = found.rules.get("version")
        found.warnings.append(
            f"the rule files are broken; version {version} runs: {found.rules.get('last_error')}"
        )
