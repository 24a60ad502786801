"""The weekly digest for a department's managers, as plain data for a mail template.

Everything is judged as of ``now``: mail dated later, answers given later and completions
later than ``now`` do not count yet, so a digest for a past ``--now`` is what it would have said
then. Read-only; never commits.

``digest(...)`` returns the shape ``outbound/template_variables.py`` documents for the
``digest`` template variable, with more fields (times are local text ``YYYY-MM-DD HH:MM``;
deadlines as written, so ``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM``; empty strings stand for
absent values)::

    {
      "department": "技术部",                     # canonical, aliases resolved
      "managers": ["li.si@example.com"],          # from organization.yaml
      "as_of": "2023-10-14 10:00",
      "period": {"from": "2023-10-07", "to": "2023-10-14"},  # local days of the last 7 days
      "open_items": [ITEM, ...],     # not done by now, overdue ones included (``overdue``)
      "overdue_items": [ITEM, ...],  # the open items past their deadline
      "done_items": [ITEM, ...],     # completed within the last 7 days
      "unconfirmed": [
        {"subject": str, "date": str, "message_id": str, "organiser": str,
         "due_at": str, "pending": ["刘洋", ...], "pending_addresses": [str, ...]}, ...],
      "open_complaints": [
        {"subject": str, "date": str, "message_id": str,
         "from": {"name": str, "address": str}, "hours_open": int}, ...],
      "counts": {"open_items": int, "overdue_items": int, "done_items": int,
                 "unconfirmed": int, "open_complaints": int},
    }

    ITEM = {"id": int, "task": str, "owner": str, "owner_email": str, "deliverable": str,
            "deadline": str, "overdue": bool, "days_overdue": int, "completed_at": str,
            "missing": [str], "subject": str, "message_id": str}

``missing`` holds the Chinese field names (责任人, 完成时限, 交付标准);
``days_overdue`` counts local calendar days past the deadline's day (0
when due today or not overdue). Items belong to their owner's department
(else to the department their mail's subject names); minutes to the
department of their subject, their organiser or anyone who has not
confirmed; complaints (事由 客户投诉 from outside the organisation's
domains, one per thread) to the departments of their subject and internal
recipients, and stay open until someone internal writes in the thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.requests import CONFIRMED_REASONS as MINUTES_REASONS
from mailflow.outbound.record_format import cell_text
from mailflow.rulebook.clocks import ComplaintClock
from mailflow.rulebook.organization import Organization
from mailflow.service.directory import ReportDirectory, planned, resolve_department
from mailflow.store import reporting
from mailflow.store.models import (
    ANSWER_PENDING,
    ITEM_DONE,
    ActionItemRecord,
    Message,
)

DIGEST_PERIOD = timedelta(days=7)
# the complaint clock's 事由 when the caller has no rules at hand (clocks.complaint.reasons)
DEFAULT_COMPLAINT_REASONS = tuple(ComplaintClock().reasons)
FIELD_NAMES = {"owner": "责任人", "deadline": "完成时限", "deliverable": "交付标准"}


def digest(
    sessions: sessionmaker[Session],
    *,
    department: str,
    now: datetime,
    org: Organization,
    tz: tzinfo,
    complaint_reasons: Sequence[str] = DEFAULT_COMPLAINT_REASONS,
) -> dict[str, Any]:
    """Return the weekly digest of ``department`` as of ``now`` (shape in the module docstring);
    complaints are mail whose 事由 is one of ``complaint_reasons`` (the rules'
    ``clocks.complaint.reasons``). Raise UnknownDepartmentError for a name that is no
    department or alias."""
    dept = resolve_department(org, department)
    directory = ReportDirectory(org)
    since = now - DIGEST_PERIOD
    with sessions() as session:
        items = _items(session, dept, directory, now)
        done = [_item(i, m, now, tz) for i, m in items if _done_by(i, now, since)]
        still = [_item(i, m, now, tz) for i, m in items if not _done_by(i, now)]
        result: dict[str, Any] = {
            "department": dept,
            "managers": list(org.departments[dept].managers),
            "as_of": _text(now, tz),
            "period": {"from": _day(since, tz), "to": _day(now, tz)},
            "open_items": still,
            "overdue_items": [i for i in still if i["overdue"]],
            "done_items": done,
            "unconfirmed": _minutes(session, dept, directory, now, tz),
            "open_complaints": _complaints(session, dept, directory, now, tz, complaint_reasons),
        }
    result["counts"] = {key: len(result[key]) for key in _COUNTED}
    return result


_COUNTED = ("open_items", "overdue_items", "done_items", "unconfirmed", "open_complaints")


def _items(
    session: Session, dept: str, directory: ReportDirectory, now: datetime
) -> list[tuple[ActionItemRecord, Message]]:
    """Return the department's items from mail dated up to ``now``, soonest deadline first."""
    rows = reporting.items_until(session, now)
    return [(i, m) for i, m in rows if directory.item_department(i, m) == dept]


def _done_by(item: ActionItemRecord, now: datetime, since: datetime | None = None) -> bool:
    """Return whether the item was completed by ``now`` (and, given ``since``, after it)."""
    done = item.completed_at if item.status == ITEM_DONE else None
    return done is not None and done <= now and (since is None or done >= since)


def _late(item: ActionItemRecord, now: datetime) -> bool:
    return item.due_at is not None and item.due_at < now


def _item(item: ActionItemRecord, m: Message, now: datetime, tz: tzinfo) -> dict[str, Any]:
    late = not _done_by(item, now) and _late(item, now)
    due_day = item.due_at.astimezone(tz).date() if item.due_at else None
    return {
        "id": item.id,
        "task": item.task,
        "owner": item.owner or "",
        "owner_email": item.owner_email or "",
        "deliverable": item.deliverable or "",
        "deadline": cell_text(planned(item, tz)),
        "overdue": late,
        "completed_at": _text(item.completed_at if _done_by(item, now) else None, tz),
        "days_overdue": (now.astimezone(tz).date() - due_day).days if late and due_day else 0,
        "missing": [FIELD_NAMES.get(code, code) for code in item.missing],
        "subject": m.subject or "",
        "message_id": m.message_id,
    }


def _minutes(
    session: Session, dept: str, directory: ReportDirectory, now: datetime, tz: tzinfo
) -> list[dict[str, Any]]:
    """Return minutes with participants who had not confirmed by ``now``, oldest first."""
    found = []
    for request, m in reporting.ledgers_until(session, now, sorted(MINUTES_REASONS)):
        pending = [
            a
            for a in request.answers
            if a.status == ANSWER_PENDING or (a.answered_at is not None and a.answered_at > now)
        ]
        concerned = {directory.subject_department(m), directory.department(m.from_address)}
        concerned |= {directory.department(a.address, a.name) for a in pending}
        if pending and dept in concerned:
            found.append(
                {
                    "subject": m.subject or "",
                    "date": _text(m.written_at, tz),
                    "message_id": m.message_id,
                    "organiser": m.from_name or m.from_address or "",
                    "due_at": _text(request.due_at, tz),
                    "pending": [a.name or a.address for a in pending],
                    "pending_addresses": [a.address for a in pending],
                }
            )
    return found


def _complaints(
    session: Session,
    dept: str,
    directory: ReportDirectory,
    now: datetime,
    tz: tzinfo,
    reasons: Sequence[str],
) -> list[dict[str, Any]]:
    """Return customer complaints no one internal had answered in their thread by ``now``."""
    found: list[dict[str, Any]] = []
    seen_threads: set[int | None] = set()
    for m in reporting.mail_of_reasons_until(session, now, reasons):
        if directory.is_internal(m.from_address) or (m.thread_id and m.thread_id in seen_threads):
            continue
        seen_threads.add(m.thread_id)
        concerned = {directory.subject_department(m)}
        concerned |= {directory.department(address) for address, _ in directory.people(m)}
        if dept in concerned and not _answered(session, m, directory, now):
            when = m.written_at
            found.append(
                {
                    "subject": m.subject or "",
                    "date": _text(when, tz),
                    "message_id": m.message_id,
                    "from": {"name": m.from_name or "", "address": m.from_address or ""},
                    "hours_open": int((now - when).total_seconds() // 3600),
                }
            )
    return found


def _answered(session: Session, m: Message, directory: ReportDirectory, now: datetime) -> bool:
    """Return whether someone internal wrote in the complaint's thread after it, by ``now``."""
    later = reporting.later_senders(session, m, now)
    return any(directory.is_internal(a) and not directory.is_own(a) for a in later)


def _day(moment: datetime, tz: tzinfo) -> str:
    return cell_text(moment.astimezone(tz).date())


def _text(moment: datetime | None, tz: tzinfo) -> str:
    """Return a local ``YYYY-MM-DD HH:MM``, or an empty string for no instant."""
    return cell_text(moment.astimezone(tz)) if moment else ""
