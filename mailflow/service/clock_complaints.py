"""The complaint clocks (GUIDE: an outside complaint is answered within 48 h): a complaint no
internal colleague has answered in time goes to the managers; one marked resolved gets a revisit
reminder to its handler."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from mailflow.service.clock_sweep import ClockSweep, Due
from mailflow.service.outmail import local_time
from mailflow.store import clock_queries as queries
from mailflow.store.models import Message


def complaints(session: Session, work: ClockSweep) -> Iterator[Due]:
    clock = work.rulebook.clocks.complaint
    internal = set(work.rulebook.organization.organization.internal_domains)
    own = {a.lower() for a in work.ctx.own_addresses}
    if work.windowed:
        dated, active = work.windows.complaints_dated, work.windows.complaints_active
        if dated is None and active is None:
            return
        found = queries.complaints(session, clock.reasons, dated, active)
    else:
        found = queries.complaints(session, clock.reasons)
    for complaint in found:
        if complaint.date is None or _domain(complaint.from_address) in internal:
            continue
        staff = [
            m
            for m in queries.later_in_thread(session, complaint)
            if _domain(m.from_address) in internal and m.from_address not in own
        ]
        info = _complaint_data(complaint, staff, work)
        if not staff:
            managers = _complaint_managers(complaint, work)
            if managers:
                yield Due(
                    work.after(complaint.date, clock.answer_within),
                    work.mail(
                        ("complaint-escalation", complaint.id),
                        "complaint_escalation",
                        managers,
                        [],
                        complaint,
                        {"complaint": info},
                    ),
                )
            continue
        resolved = next((m for m in staff if _resolves(m, clock.resolved_words)), None)
        if resolved is not None and resolved.date and resolved.from_address:
            info["resolved_at"] = local_time(resolved.date, work.ctx.timezone)
            yield Due(
                work.after(resolved.date, clock.revisit_after),
                work.mail(
                    ("complaint-revisit", complaint.id),
                    "revisit_reminder",
                    [resolved.from_address],
                    [],
                    complaint,
                    {"complaint": info},
                ),
            )


def _complaint_data(complaint: Message, staff: list[Message], work: ClockSweep) -> dict[str, Any]:
    assert complaint.date is not None
    handler = staff[0] if staff else None
    return {
        "subject": complaint.subject or "",
        "from": {"name": complaint.from_name or "", "address": complaint.from_address or ""},
        "date": local_time(complaint.date, work.ctx.timezone),
        "hours_open": int((work.now - complaint.date).total_seconds() // 3600),
        "handler": (
            {"name": handler.from_name or "", "address": handler.from_address or ""}
            if handler
            else None
        ),
        "resolved_at": None,
    }


def _complaint_managers(complaint: Message, work: ClockSweep) -> list[str]:
    managers = list(work.directory.managers(complaint.department))
    if managers:
        return managers
    internal_to = [a.address for a in complaint.addresses if a.role in ("to", "cc")]
    return work.managers_of(internal_to, None)


def _resolves(message: Message, words: list[str]) -> bool:
    doc = message.parsed or {}
    text = doc.get("new_text") or message.body_text or ""
    kind = (doc.get("confirmation") or {}).get("kind")
    return kind == "done" or any(w in text for w in words)


def _domain(address: str | None) -> str:
    return (address or "").rpartition("@")[2].lower()
