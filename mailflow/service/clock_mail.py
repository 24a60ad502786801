"""The scheduler's clocks: what has come due as of ``now`` becomes outbox rows, once.

Every reminder, chase and escalation has a key (kind, subject, stage, recipient), so a sweep run
twice, or by two schedulers at once, writes each mail once (the outbox's unique key decides).
Nothing is sent for a done item, a confirmed person, or a thread an administrator closed. A
reminder that missed its moment by more than ``clocks.stale_after`` (mailflow was not running,
or old mail was imported) is dropped rather than sent late.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.calendar import BusinessCalendar
from mailflow.mail.model import ParseContext
from mailflow.rulebook.clocks import WEEKDAYS
from mailflow.rulebook.duration import Duration
from mailflow.rulebook.loader import Rulebook
from mailflow.rulebook.recipients import Directory, is_internal_address
from mailflow.service import clock_windows
from mailflow.service.comm_record import record_rows
from mailflow.service.decide import due_after
from mailflow.service.digest import digest
from mailflow.service.outmail import (
    deadline_event,
    key_of,
    local_time,
    outbox_row,
    stored_message_data,
)
from mailflow.store import clock_queries as queries
from mailflow.store import outbox
from mailflow.store.models import ActionItemRecord, Message, OutboxMail

log = logging.getLogger(__name__)

Keys = Collection[tuple[object, ...]]  # stages of clock mails, as ``ClockSweep.mail`` takes them

# items whose deadline is further away than this cannot need a reminder yet
LOOKAHEAD = timedelta(days=60)
WEEKLY_GRACE = timedelta(days=1)
# how far ahead ``schedule`` looks for the last stage of a clock
HORIZON = timedelta(days=400)


@dataclass(frozen=True)
class Due:
    """One mail a clock asks for, the moment it became due, and the keys of the later stages of
    the same subject (an item's overdue notice after its reminders): once one of those is
    written, this one is never sent, whatever instant a sweep is run for."""

    moment: datetime
    row: OutboxMail
    later: tuple[str, ...] = ()


# the stages of one subject, earliest first
DEADLINE_STAGES = ("deadline-before", "deadline-today", "deadline-overdue", "deadline-escalation")


def _later_keys(stages: tuple[str, ...], stage: str, *subject: object) -> tuple[str, ...]:
    """Return the idempotency keys of the stages after ``stage`` for the same subject."""
    return tuple(key_of("clock", s, *subject) for s in stages[stages.index(stage) + 1 :])


@dataclass(frozen=True)
class ClockSweep:
    """What the clocks compute with: the rules, the calendar and the instant of the sweep.

    A sweep is ``windowed``: it reads only the rows whose stages can be due at ``now`` and are
    not in the outbox yet (``clock_windows``), and builds only the mails that are due;
    ``schedule`` is not, and sees every stage of every row."""

    rulebook: Rulebook
    ctx: ParseContext
    now: datetime
    windowed: bool = False

    @cached_property
    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar.from_context(self.ctx)

    @cached_property
    def directory(self) -> Directory:
        return Directory(self.rulebook.organization)

    @cached_property
    def windows(self) -> clock_windows.Windows:
        return clock_windows.windows(self.rulebook.clocks, self.calendar, self.now)

    def wants(self, moment: datetime, stage: tuple[object, ...] = (), written: Keys = ()) -> bool:
        """Return whether a stage falling due at ``moment`` is worth building: in a sweep, only
        when it is due, not stale (``due_mail`` drops those) and not in ``written``."""
        if not self.windowed:
            return True
        stale = self.rulebook.clocks.stale_after.timedelta()
        return self.now - stale <= moment <= self.now and stage not in written

    def written(self, session: Session, stages: Iterable[tuple[object, ...]]) -> Keys:
        """Return which of these stages have their mail in the outbox (a sweep asks only)."""
        if not self.windowed:
            return set()
        keys = {key_of("clock", *stage): stage for stage in stages}
        return {keys[k] for k in outbox.keys_present(session, keys)}

    @property
    def domain(self) -> str:
        return self.rulebook.organization.organization.shared_address.rpartition("@")[2]

    def base(self, about: Message | None, recipient: str, rule: str) -> dict[str, Any]:
        """Return the context every clock mail shares."""
        info = self.rulebook.organization.organization
        return {
            "organization": {"name": info.name, "shared_address": info.shared_address},
            "message": stored_message_data(about, self.ctx.timezone) if about else None,
            "recipient": {"name": self.directory.name_of(recipient) or "", "address": recipient},
            "rule": {"name": rule},
        }

    def mail(
        self,
        stage: tuple[object, ...],
        kind: str,
        to: list[str],
        cc: list[str],
        about: Message | None,
        extra: dict[str, Any],
    ) -> OutboxMail:
        """Return the outbox row of one clock mail."""
        context = {**self.base(about, to[0], f"clock:{stage[0]}"), **extra}
        return outbox_row(
            key=key_of("clock", *stage),
            kind=kind,
            rule=f"clock:{stage[0]}",
            to=to,
            cc=cc,
            context=context,
            domain=self.domain,
            now=self.now,
            about=about,
        )

    def before(self, moment: datetime, duration: Duration, at: time) -> datetime:
        """Return ``duration`` before ``moment``: business days land on ``at`` of that workday."""
        return clock_windows.before(self.calendar, moment, duration, at)

    def after(self, moment: datetime, duration: Duration) -> datetime:
        """Return ``duration`` after ``moment``, in business time when it says so."""
        return due_after(moment, duration, self.calendar)


def due_mail(session: Session, work: ClockSweep) -> Iterator[Due]:
    """Yield every clock mail due as of ``work.now`` (stale ones are logged and skipped)."""
    stale = work.rulebook.clocks.stale_after.timedelta()
    found: list[Due] = []
    for due in (
        *_confirmations(session, work),
        *_deadlines(session, work),
        *_objections(session, work),
        *_complaints(session, work),
    ):
        if due.moment > work.now:
            continue
        if work.now - due.moment > stale:
            log.debug("dropped a stale %s (due %s)", due.row.kind, due.moment.isoformat())
            continue
        found.append(due)
    # a later stage written already (a sweep for a later instant ran before) overtakes it
    written = outbox.keys_present(session, (k for due in found for k in due.later))
    for due in found:
        if written.intersection(due.later):
            log.info("skipped a %s: a later stage went out already", due.row.kind)
            continue
        yield due


def schedule(session: Session, rulebook: Rulebook, ctx: ParseContext, start: datetime) -> list[Due]:
    """Return every clock mail the stored ledgers, items, objections and complaints will ask for
    from ``start`` on if nobody answers, each with the moment it falls due, earliest first.

    The same clocks as a sweep, asked at ``start`` (the reminders before a deadline) and long
    after it (the overdue notices and escalations); ``rules test`` shows these."""
    found: dict[str, Due] = {}
    for work in (ClockSweep(rulebook, ctx, start), ClockSweep(rulebook, ctx, start + HORIZON)):
        for due in (
            *_confirmations(session, work),
            *_deadlines(session, work),
            *_objections(session, work),
            *_complaints(session, work),
        ):
            found.setdefault(due.row.key, due)
    return sorted(found.values(), key=lambda d: (d.moment, d.row.kind))


def _confirmations(session: Session, work: ClockSweep) -> Iterator[Due]:
    clock = work.rulebook.clocks.confirmation
    if work.windowed:
        found = queries.requests_with_due_stages(
            session, work.windows.remind, work.windows.escalate
        )
    else:
        found = queries.requests_due_by(session, work.now)
    written = work.written(session, (
        stage
        for request, _, pending in found
        for stage in [("confirmation-escalation", request.id)] + [
            ("confirmation-reminder", request.id, a.address) for a in pending
        ]
    ))  # fmt: skip
    for request, message, pending in found:
        assert request.due_at is not None
        people = [{"name": a.name, "address": a.address} for a in pending]
        extra = {"due": local_time(request.due_at, work.ctx.timezone)}
        if clock.remind:
            for person in people:
                stage = ("confirmation-reminder", request.id, person["address"])
                if not work.wants(request.due_at, stage, written):
                    continue
                row = work.mail(
                    stage,
                    "confirmation_reminder",
                    [person["address"]],
                    [],
                    message,
                    {**extra, "pending": [person]},
                )
                escalation = key_of("clock", "confirmation-escalation", request.id)
                yield Due(request.due_at, row, (escalation,))
        escalate_at = work.after(request.due_at, clock.escalate_after)
        managers = _managers_of(work, [a.address for a in pending], message.from_address)
        if managers and work.wants(escalate_at, ("confirmation-escalation", request.id), written):
            row = work.mail(
                ("confirmation-escalation", request.id),
                "confirmation_escalation",
                managers,
                [],
                message,
                {**extra, "pending": people},
            )
            yield Due(escalate_at, row)


def _managers_of(work: ClockSweep, people: list[str], fallback: str | None) -> list[str]:
    """Return the managers of ``people``'s departments, else of ``fallback``'s department."""
    found: list[str] = []
    for group in (people, [fallback] if fallback else []):
        for address in group:
            for manager in work.directory.managers(work.directory.department_of(address)):
                if manager not in found and manager not in people:
                    found.append(manager)
        if found:
            break
    return found


def _deadlines(session: Session, work: ClockSweep) -> Iterator[Due]:
    clock = work.rulebook.clocks.deadline
    at = time.fromisoformat(clock.remind_on_day_at)
    tz = work.ctx.timezone
    if work.windowed:
        found = queries.items_with_due_stages(session, work.windows.deadlines)
    else:
        found = queries.open_items_due_by(session, work.now + LOOKAHEAD)
    written = work.written(session, (
        (stage, item.id) for item, _ in found for stage in DEADLINE_STAGES
    ))  # fmt: skip
    for item, message in found:
        assert item.due_at is not None
        # an outsider's mail sets clocks for staff only, and tells the outsider nothing
        outsider = not is_internal_address(message.from_address, work.rulebook.organization)
        if not item.owner_email or (
            outsider and not is_internal_address(item.owner_email, work.rulebook.organization)
        ):
            continue
        due, data = item.due_at, _item_data(item, message, work, clock.milestone_words)
        day_start = datetime.combine(due.astimezone(tz).date(), time(0), tzinfo=tz)
        days_left = (due.astimezone(tz).date() - work.now.astimezone(tz).date()).days
        owner, initiator = item.owner_email, message.from_address
        remind = {
            "item": data,
            "days_left": max(days_left, 0),
            "files": [_calendar_file(item, message, work)] if item.deadline else [],
        }
        early = work.before(due, clock.remind_before, at)
        assigned = message.written_at
        # an item given with less notice than remind_before needs no "coming up" reminder
        if (
            work.now < day_start
            and early >= assigned
            and work.wants(early, ("deadline-before", item.id), written)
        ):
            yield Due(
                early,
                work.mail(
                    ("deadline-before", item.id), "deadline_reminder", [owner], [], message, remind
                ),
                _later_keys(DEADLINE_STAGES, "deadline-before", item.id),
            )
        today = datetime.combine(due.astimezone(tz).date(), at, tzinfo=tz)
        if work.now < due:
            if not work.wants(today, ("deadline-today", item.id), written):
                continue
            yield Due(
                today,
                work.mail(
                    ("deadline-today", item.id),
                    "deadline_reminder",
                    [owner],
                    [],
                    message,
                    {**remind, "days_left": 0},
                ),
                _later_keys(DEADLINE_STAGES, "deadline-today", item.id),
            )
            continue
        late = {"item": data, "overdue_days": max((work.now - due).days, 0)}
        cc = [initiator] if initiator and initiator != owner and not outsider else []
        escalate_at = work.after(due, clock.escalate_after)
        if work.wants(due, ("deadline-overdue", item.id), written):
            yield Due(
                due,
                work.mail(
                    ("deadline-overdue", item.id), "deadline_overdue", [owner], cc, message, late
                ),
                _later_keys(DEADLINE_STAGES, "deadline-overdue", item.id),
            )
        managers = list(work.directory.managers(work.directory.department_of(owner)))
        if managers and work.wants(escalate_at, ("deadline-escalation", item.id), written):
            yield Due(
                escalate_at,
                work.mail(
                    ("deadline-escalation", item.id),
                    "deadline_escalation",
                    managers,
                    [owner],
                    message,
                    late,
                ),
            )


def _item_data(
    item: ActionItemRecord, message: Message, work: ClockSweep, milestone_words: list[str]
) -> dict[str, Any]:
    text = f"{item.task} {message.subject or ''}".lower()
    return {
        "index": item.position,
        "task": item.task,
        "owner": item.owner,
        "owner_email": item.owner_email,
        "deadline": local_time(item.due_at, work.ctx.timezone),
        "deliverable": item.deliverable,
        "source_subject": message.subject or "",
        "milestone": any(w.lower() in text for w in milestone_words),
    }


def _calendar_file(item: ActionItemRecord, message: Message, work: ClockSweep) -> dict[str, Any]:
    """Return the .ics spec of an item's deadline (the same event the assignment mail carried)."""
    assert item.deadline is not None and item.owner_email is not None
    return deadline_event(
        message_id=message.message_id,
        position=item.position,
        task=item.task,
        due=item.deadline,
        owner=item.owner,
        owner_email=item.owner_email,
        deliverable=item.deliverable,
        source_subject=message.subject or "",
        organization=work.rulebook.organization.organization,
        timezone=str(work.ctx.timezone),
    )


def _objections(session: Session, work: ClockSweep) -> Iterator[Due]:
    within = work.windows.objections if work.windowed else None
    for answer, _request, message in queries.objections(session, within):
        if not message.from_address or answer.answered_at is None:
            continue
        objection = {
            "name": answer.name,
            "address": answer.address,
            "text": answer.answer_text or "",
            "date": local_time(answer.answered_at, work.ctx.timezone),
        }
        stage = ("objection", answer.id, answer.answered_at.isoformat())
        yield Due(
            answer.answered_at,
            work.mail(
                stage,
                "objection_notice",
                [message.from_address],
                [],
                message,
                {"objection": objection},
            ),
        )


def _complaints(session: Session, work: ClockSweep) -> Iterator[Due]:
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
    return _managers_of(work, internal_to, None)


def _resolves(message: Message, words: list[str]) -> bool:
    doc = message.parsed or {}
    text = doc.get("new_text") or message.body_text or ""
    kind = (doc.get("confirmation") or {}).get("kind")
    return kind == "done" or any(w in text for w in words)


def _domain(address: str | None) -> str:
    return (address or "").rpartition("@")[2].lower()


def _weekly_records(sessions: sessionmaker[Session], work: ClockSweep) -> Iterator[Due]:
    """Each department's managers get the week's record once a week, when there is something."""
    clock = work.rulebook.clocks.weekly_record
    if not clock.enabled:
        return
    tz = work.ctx.timezone
    today = work.now.astimezone(tz).date()
    planned_day = today - timedelta(days=(today.weekday() - WEEKDAYS.index(clock.day)) % 7)
    slot_day = _workday_from(planned_day, work.calendar)  # a holiday moves it to the next workday
    slot = datetime.combine(slot_day, time.fromisoformat(clock.at), tzinfo=tz)
    if work.now < slot or work.now - slot > WEEKLY_GRACE:
        return  # a week's record missed by more than a day waits for next week's
    week = planned_day.isocalendar()
    org = work.rulebook.organization
    for department, info in org.departments.items():
        if not info.managers:
            continue
        data = digest(
            sessions,
            department=department,
            now=work.now,
            org=org,
            tz=tz,
            complaint_reasons=work.rulebook.clocks.complaint.reasons,
        )
        if not any(data["counts"].values()):
            continue
        rows = record_rows(
            sessions,
            start=slot_day - timedelta(days=6),
            end=slot_day,
            department=department,
            org=org,
            tz=tz,
            now=work.now,
        )
        label = f"{week.year}-W{week.week:02d}"
        files = [
            {
                "type": "xlsx",
                "title": f"内部沟通记录表 {department} {label}",
                "filename": f"内部沟通记录表_{department}_{slot_day:%Y%m%d}.xlsx",
                "rows": [row.labelled() for row in rows],
            }
        ]
        managers = [m.lower() for m in info.managers]
        row = work.mail(
            ("weekly-record", department, label),
            "weekly_digest",
            managers,
            [],
            None,
            {"digest": data, "files": files, "department": department},
        )
        yield Due(slot, row)


def _workday_from(day: date, calendar: BusinessCalendar) -> date:
    """Return ``day`` when it is a workday, else the next workday."""
    return day if calendar.is_workday(day) else calendar.next_workday(day)


@dataclass(frozen=True)
class ClockMail:
    """One mail a sweep wrote (or, in a dry run, would write)."""

    kind: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    due: datetime
    about: str | None  # the Message-ID it is about
    outbox_id: int | None


def sweep_clocks(
    sessions: sessionmaker[Session],
    rulebook: Rulebook,
    ctx: ParseContext,
    now: datetime,
    *,
    dry_run: bool = False,
) -> list[ClockMail]:
    """Write the outbox rows every clock asks for as of ``now``; return the new ones.

    A dry run computes the same and writes nothing (``scheduler --once --now … --dry-run``).
    """
    found: list[ClockMail] = []
    work = ClockSweep(rulebook, ctx, now, windowed=True)
    weekly = list(_weekly_records(sessions, work))  # read before the write transaction
    with sessions() as session:
        session.connection(execution_options={"sqlite_immediate": True})
        dues = [*due_mail(session, work), *weekly]
        added = outbox.add_new_by_key(session, [outbox.row_values(d.row) for d in dues])
        for due in dues:
            row = due.row
            new_id = added.pop(row.key, None)  # a key asked for twice is written once
            if new_id is not None:
                found.append(
                    ClockMail(
                        row.kind,
                        tuple(row.to_addrs),
                        tuple(row.cc_addrs),
                        due.moment,
                        row.in_reply_to,
                        None if dry_run else new_id,
                    )
                )
        if dry_run:
            session.rollback()
        else:
            session.commit()
    return found
