"""The scheduler's clocks: what has come due as of ``now`` becomes outbox rows, once.

Every reminder, chase and escalation has a key (kind, subject, stage, recipient), so a sweep run
twice, or by two schedulers at once, writes each mail once (the outbox's unique key decides).
Nothing is sent for a done item, a confirmed person, or a thread an administrator closed. A
reminder that missed its moment by more than ``clocks.stale_after`` (mailflow was not running,
or old mail was imported) is dropped rather than sent late.

The confirmation, deadline and objection clocks are here; the complaint clocks are in
``clock_complaints``, the weekly record in ``clock_weekly``, and what they all compute with
(``ClockSweep``, ``Due``) in ``clock_sweep``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.model import ParseContext
from mailflow.rulebook.loader import Rulebook
from mailflow.rulebook.recipients import is_internal_address
from mailflow.service.clock_complaints import complaints
from mailflow.service.clock_sweep import ClockSweep, Due
from mailflow.service.clock_weekly import weekly_records
from mailflow.service.outmail import (
    deadline_event,
    key_of,
    local_time,
)
from mailflow.store import clock_queries as queries
from mailflow.store import outbox
from mailflow.store.models import ActionItemRecord, Message

log = logging.getLogger(__name__)

# items whose deadline is further away than this cannot need a reminder yet
LOOKAHEAD = timedelta(days=60)
# how far ahead ``schedule`` looks for the last stage of a clock
HORIZON = timedelta(days=400)

# the stages of one subject, earliest first
DEADLINE_STAGES = ("deadline-before", "deadline-today", "deadline-overdue", "deadline-escalation")


def _later_keys(stages: tuple[str, ...], stage: str, *subject: object) -> tuple[str, ...]:
    """Return the idempotency keys of the stages after ``stage`` for the same subject."""
    return tuple(key_of("clock", s, *subject) for s in stages[stages.index(stage) + 1 :])


def due_mail(session: Session, work: ClockSweep) -> Iterator[Due]:
    """Yield every clock mail due as of ``work.now`` (stale ones are logged and skipped)."""
    stale = work.rulebook.clocks.stale_after.timedelta()
    found: list[Due] = []
    for due in (
        *_confirmations(session, work),
        *_deadlines(session, work),
        *_objections(session, work),
        *complaints(session, work),
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
            *complaints(session, work),
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
        managers = work.managers_of([a.address for a in pending], message.from_address)
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
    weekly = list(weekly_records(sessions, work))  # read before the write transaction
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
