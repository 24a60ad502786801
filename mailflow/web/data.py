"""What the pages and the API show, as plain dicts, already cut to the viewer's rights.

Built on the same queries as the command line (``service.queries``), with
what the web adds: the thread and department of each item, due-soon, filters, the messages'
new text and quoted history, who is still silent, the mail mailflow sent in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailflow.rulebook.organization import Organization
from mailflow.service.queries import OVERDUE, list_items, outbox_rows, thread_view
from mailflow.store.messages import texts_of
from mailflow.store.models import ITEM_OPEN
from mailflow.store.threads import item_places
from mailflow.web.access import Viewer, may_see_item, may_see_thread, thread_facts

DUE_SOON = "due_soon"
ITEM_STATUSES = ("open", DUE_SOON, OVERDUE, "done")
DUE_SOON_WINDOW = timedelta(days=3)  # the guide's reminder: three days before a milestone
OUTBOX_STATUSES = ("pending", "failed", "sent", "cancelled")


@dataclass(frozen=True)
class ItemFilter:
    """The item list's filters; None means any."""

    status: str | None = None
    owner: str | None = None  # part of the owner's name or address
    department: str | None = None
    due_before: date | None = None  # deadline on or before this day
    due_after: date | None = None


def items_for(
    sessions: sessionmaker[Session],
    org: Organization,
    viewer: Viewer,
    wanted: ItemFilter,
    tz: tzinfo,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Return the action items ``viewer`` may see that pass the filters, soonest first; each
    with its ``thread_id``, ``department``, ``due_at`` and ``due_soon``."""
    now = now or datetime.now(UTC)
    base = "open" if wanted.status == DUE_SOON else wanted.status
    rows = list_items(sessions, base, now=now, tz=tz)
    with sessions() as session:
        extra = item_places(session, [r["id"] for r in rows])
        facts = thread_facts(session, {e[0] for e in extra.values() if e[0] is not None}, org)
    out = []
    for row in rows:
        thread_id, department, due_at = extra.get(row["id"], (None, None, None))
        soon = row["status"] == ITEM_OPEN and due_at is not None and now <= due_at
        soon = soon and due_at is not None and due_at - now <= DUE_SOON_WINDOW
        row |= {
            "thread_id": thread_id,
            "department": department,
            "due_at": due_at.astimezone(tz).isoformat() if due_at else None,
            "due_soon": soon,
        }
        if not may_see_item(viewer, row, facts.get(thread_id or -1), org):
            continue
        if _passes(row, wanted, due_at, tz):
            out.append(row)
    return out


def _passes(row: dict[str, Any], wanted: ItemFilter, due_at: datetime | None, tz: tzinfo) -> bool:
    if wanted.status == DUE_SOON and not row["due_soon"]:
        return False
    if wanted.owner:
        needle = wanted.owner.strip().lower()
        if needle not in f"{row['owner'] or ''} {row['owner_email'] or ''}".lower():
            return False
    if wanted.department and row["department"] != wanted.department:
        return False
    day = due_at.astimezone(tz).date() if due_at else None
    if wanted.due_before and (day is None or day > wanted.due_before):
        return False
    return not (wanted.due_after and (day is None or day < wanted.due_after))


def thread_for(
    sessions: sessionmaker[Session],
    org: Organization,
    viewer: Viewer,
    message_id: str,
    tz: tzinfo,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """Return the thread holding ``message_id`` as ``mailflow thread --json`` shows it, plus
    each message's new text and quoted history, who is still silent, and the mail sent in it;
    None when there is none or ``viewer`` may not see it (the same answer: no probing)."""
    now = now or datetime.now(UTC)
    view = thread_view(sessions, message_id, now=now, tz=tz)
    if view is None:
        return None
    thread_id = view["thread_id"]
    with sessions() as session:
        facts = thread_facts(session, [thread_id], org)
        if not may_see_thread(viewer, facts.get(thread_id)):
            return None
        bodies = _bodies(session, [m["message_id"] for m in view["messages"]])
    sent = outbox_rows(sessions, thread_id=thread_id, tz=tz)[::-1]  # oldest first
    for m in view["messages"]:
        m |= bodies.get(m["message_id"], {"new_text": "", "quoted": ""})
    view["silent"] = [
        {"address": a["address"], "name": a["name"], "since": c["requested_at"], "due": c["due_at"]}
        for c in view["confirmations"]
        for a in c["answers"]
        if a["status"] == "pending"
    ]
    view["sent"] = sent
    view["subject"] = view["messages"][0]["subject"] if view["messages"] else None
    return view


def _bodies(session: Session, message_ids: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for mid, (new, full) in texts_of(session, message_ids).items():
        quoted = full[len(new) :].strip() if new and full.startswith(new) else full
        out[mid] = {"new_text": new or full, "quoted": quoted if quoted != new else ""}
    return out


def outbox_for(
    sessions: sessionmaker[Session],
    org: Organization,
    viewer: Viewer,
    status: str | None,
    tz: tzinfo,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Return outgoing mail ``viewer`` may see, newest first: everything for administrators,
    else the mail addressed to them or sent in a thread they may see."""
    rows = outbox_rows(sessions, status=status, limit=limit, tz=tz)
    if viewer.admin:
        return rows
    with sessions() as session:
        facts = thread_facts(session, {r["thread_id"] for r in rows if r["thread_id"]}, org)
    out = []
    for row in rows:
        mine = viewer.address in {a.lower() for a in [*row["to"], *row["cc"]]}
        tid = row["thread_id"]
        if mine or (tid is not None and may_see_thread(viewer, facts.get(tid))):
            out.append(row)
    return out
