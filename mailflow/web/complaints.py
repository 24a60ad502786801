"""Customer complaints in the web view: who complained, who answers, and the time left on the
48-hour clock (the rules' ``clocks.complaint``), computed as the scheduler computes it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mailflow.service.decide import due_after
from mailflow.store import clock_queries as stored
from mailflow.web.access import Viewer, may_see_thread, thread_facts
from mailflow.web.app import WebContext, context_of, viewer_of
from mailflow.web.pages import page, to_sign_in

router = APIRouter(include_in_schema=False)


def complaints_for(ctx: WebContext, viewer: Viewer, now: datetime) -> list[dict[str, Any]]:
    """Return the open threads' complaints ``viewer`` may see, most urgent first: the first
    staff answer (the handler), or the time left before the clock escalates."""
    if ctx.clocks is None:
        return []
    rules, calendar = ctx.clocks()
    clock = rules.clocks.complaint
    org = rules.organization
    internal = {d.lower() for d in org.organization.internal_domains}
    own = {org.organization.shared_address.lower()}
    out = []
    with ctx.sessions() as session:
        found, seen = [], set()
        for c in stored.complaints(session, clock.reasons):  # oldest first: one per thread
            outside = (c.from_address or "").rpartition("@")[2].lower() not in internal
            if c.date and outside and (c.thread_id is None or c.thread_id not in seen):
                found.append(c)
                seen.add(c.thread_id)
        facts = thread_facts(session, {c.thread_id for c in found if c.thread_id}, org)
        for c in found:
            if not may_see_thread(viewer, facts.get(c.thread_id or -1)):
                continue
            assert c.date is not None
            staff = [
                m
                for m in stored.later_in_thread(session, c)
                if (m.from_address or "").rpartition("@")[2].lower() in internal
                and (m.from_address or "").lower() not in own
            ]
            due = due_after(c.date, clock.answer_within, calendar)
            out.append(
                {
                    "message_id": c.message_id,
                    "subject": c.subject or "",
                    "from": c.from_address or "",
                    "from_name": c.from_name or "",
                    "date": c.date.astimezone(ctx.timezone).isoformat(),
                    "handler": staff[0].from_address if staff else None,
                    "answered_at": (
                        staff[0].date.astimezone(ctx.timezone).isoformat()
                        if staff and staff[0].date
                        else None
                    ),
                    "answer_due": due.astimezone(ctx.timezone).isoformat(),
                    "hours_left": None if staff else round((due - now).total_seconds() / 3600, 1),
                }
            )
    return sorted(out, key=lambda r: (r["handler"] is not None, r["hours_left"] or 0))


@router.get("/complaints")
def complaints_page(request: Request) -> Response:
    viewer = viewer_of(request)
    if viewer is None:
        return to_sign_in()
    ctx = context_of(request)
    rows = complaints_for(ctx, viewer, datetime.now(UTC))
    return page(request, "complaints.html", viewer=viewer, rows=rows)
