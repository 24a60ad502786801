"""Decisions become outbox rows and confirmation ledgers, in the ingest transaction (invariant 3).

For each stored mail: build the facts the rules look at, let the rulebook decide, and write one
outbox row per planned mail under an idempotency key (message, rule, action, template,
recipients), so deciding twice about the same mail sends nothing twice. Replies carry
In-Reply-To/References of the mail they answer and a Message-ID fixed now. The rules'
``limits`` (per recipient, per outside sender and domain, the burst brake) cap automatic mail
(invariant 7), counted in the database under one lock so that they hold across processes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mailflow.mail.calendar import BusinessCalendar
from mailflow.mail.items import settle_owner
from mailflow.mail.model import ParseContext, ParsedMessage
from mailflow.mail.requests import asks_for_confirmation
from mailflow.rulebook.decision import Decision, PlannedMail, decide
from mailflow.rulebook.duration import Duration
from mailflow.rulebook.facts import MessageFacts
from mailflow.rulebook.limits import Cause, History, Limits, Sent, check, record
from mailflow.rulebook.loader import Rulebook
from mailflow.rulebook.recipients import Gate
from mailflow.service.outmail import deadline_event, key_of, outbox_row
from mailflow.service.template_data import template_context
from mailflow.store import outbox
from mailflow.store.models import Message, OutboxMail
from mailflow.tracking.tracker import Tracker

log = logging.getLogger(__name__)

DEFAULT_WITHIN = Duration(24, "hours")


class RateLimit:
    """The rules' ``limits`` for one transaction (invariant 7, issue 9 §2 and §4).

    The history is read once, at the first planned mail, after ``outbox.lock_for_limits``: from
    then until the commit no other process counts or adds automatic mail, so two pollers can
    never both pass a limit. Mails the transaction adds are counted in memory as they are
    admitted. What was held back or left off is logged by ``report``, once per batch."""

    def __init__(self, session: Session, now: datetime) -> None:
        self._session, self._now = session, now
        self._history: History | None = None
        self.held: list[tuple[str, str, str, str]] = []  # (message, template, to, why)
        self.left_off: list[tuple[str, str, str, str]] = []  # (message, template, address, why)

    def admit(
        self, planned: PlannedMail, facts: MessageFacts, rulebook: Rulebook
    ) -> PlannedMail | None:
        """Return ``planned`` with the recipients the limits let through, or None when held."""
        limits = rulebook.limits
        info = rulebook.organization.organization
        cause = Cause(
            facts.sender,
            not facts.sender_internal,
            frozenset(d.lower().lstrip("@") for d in info.internal_domains),
        )
        history = self._load(limits)
        verdict = check(limits, history, self._now, cause, planned.to, planned.cc)
        message = facts.parsed.message_id
        if verdict.held is not None:
            self.held.append((message, planned.template, ", ".join(planned.to), verdict.held))
            return None
        for address, why in verdict.left_off:
            self.left_off.append((message, planned.template, address, why))
        record(history, self._now, cause, verdict)
        return replace(planned, to=verdict.to, cc=verdict.cc)

    def report(self) -> None:
        """Log what was held back or left off, one line each, saying which limit and why."""
        for message, template, to, why in self.held:
            log.warning("limit: %s to %s about %s not written (%s)", template, to, message, why)
        for message, template, address, why in self.left_off:
            log.warning("limit: %s about %s goes without %s (%s)", template, message, address, why)
        self.held.clear()
        self.left_off.clear()

    def _load(self, limits: Limits) -> History:
        if self._history is None:  # the first time it is needed
            outbox.lock_for_limits(self._session)
            rows = outbox.sent_since(self._session, self._now - limits.longest())
            self._history = History(
                [
                    Sent(at, frozenset(a.lower() for a in (*to, *cc)), cause)
                    for at, to, cc, cause in rows
                ]
            )
        return self._history


@dataclass
class Outcome:
    """What deciding about one mail did: the decision and the outbox rows it added."""

    decision: Decision
    limited: list[str] = field(default_factory=list)


def apply(
    message: Message,
    parsed: ParsedMessage,
    rulebook: Rulebook,
    ctx: ParseContext,
    now: datetime,
    limit: RateLimit,
    tracker: Tracker,
) -> Outcome:
    """Decide about ``message`` (stored and placed in its thread by ``tracker``): record what
    it means (``Tracker.record``; its action items when a rule tracks them), open the ledger
    the decision asks for, and plan the outbox rows it asks for, each through ``limit``.
    ``tracker`` writes them with the batch; the caller reports what ``limit`` held back."""
    arrival = tracker.arrival(message.id)
    participants = tracker.participants(message.id)
    # namesakes the mail left open are settled by who took part in the thread before
    parsed = replace(
        parsed, action_items=tuple(settle_owner(i, participants) for i in parsed.action_items)
    )
    facts = MessageFacts.of(
        parsed,
        rulebook.organization,
        thread_exists=len(participants) > 0 and parsed.in_reply_to is not None,
        thread_participants=participants,
    )
    decision = decide(rulebook, facts)
    # items are kept (and their deadlines followed) only when a rule says track_action_items
    tracker.record(arrival, ctx, ledger=False, items=decision.track_items)
    outcome = Outcome(decision)
    calendar = BusinessCalendar.from_context(ctx)
    sent_at = arrival.when
    asked, within = _confirmation(decision, facts, rulebook)
    due = due_after(sent_at, within, calendar) if asked else None
    if asked:
        tracker.open_ledger(arrival, asked, sent_at, due, ctx.own_addresses)
    for planned in decision.mails:
        # counted when admitted: a row whose key exists already (deciding twice) counts twice,
        # which can only hold back more, never send more
        admitted = limit.admit(planned, facts, rulebook)
        if admitted is None:
            outcome.limited.append(", ".join(planned.to))
            continue
        row = _row(message, parsed, admitted, rulebook, ctx, now, due)
        tracker.plan(outbox.row_values(row))
    return outcome


def _confirmation(
    decision: Decision, facts: MessageFacts, rulebook: Rulebook
) -> tuple[list[str], Duration]:
    """Return who must confirm and within what: the rules' plan, or the mail's own request
    (of an outsider's mail, only the staff on it: issue 9 §1)."""
    if decision.requests:
        plan = decision.requests[0]
        return list(plan.addresses), plan.within
    parsed = facts.parsed
    if asks_for_confirmation(parsed):
        gate = Gate.of(facts, rulebook.organization, rulebook.written_addresses())
        asked, _ = gate.ledger(a.address for a in (*parsed.to, *parsed.cc))
        return list(asked), DEFAULT_WITHIN
    return [], DEFAULT_WITHIN


def due_after(start: datetime, within: Duration, calendar: BusinessCalendar) -> datetime:
    """Return when ``within`` has passed since ``start``, in business time when it says so."""
    if not within.business:
        return start + within.timedelta()
    if within.unit == "days":
        day = calendar.add_workdays(start.astimezone(calendar.timezone).date(), within.value)
        return calendar.at(day, start.astimezone(calendar.timezone).time())
    return calendar.add_business_hours(start, timedelta(**{within.unit: within.value}))


def _row(
    message: Message,
    parsed: ParsedMessage,
    planned: PlannedMail,
    rulebook: Rulebook,
    ctx: ParseContext,
    now: datetime,
    due: datetime | None,
) -> OutboxMail:
    context = template_context(parsed, planned, rulebook.organization, ctx.timezone, due=due)
    context["files"] = deadline_files(parsed, planned, rulebook, ctx)
    return outbox_row(
        key=idempotency_key(message.message_id, planned),
        kind=planned.template,
        rule=planned.rule,
        to=planned.to,
        cc=planned.cc,
        context=context,
        domain=rulebook.organization.organization.shared_address.rpartition("@")[2],
        now=now,
        about=message,
        auto_submitted="auto-replied",
    )


def deadline_files(
    parsed: ParsedMessage, planned: PlannedMail, rulebook: Rulebook, ctx: ParseContext
) -> list[dict[str, str | list[str]]]:
    """Return a calendar file for each item with a deadline whose owner gets this mail, so the
    deadline lands in their calendar (Outlook imports the .ics)."""
    info = rulebook.organization.organization
    recipients = {a.lower() for a in (*planned.to, *planned.cc)}
    files: list[dict[str, str | list[str]]] = []
    for index, item in enumerate(parsed.action_items, start=1):
        if item.deadline is None or not item.owner_email:
            continue
        if item.owner_email.lower() not in recipients:
            continue
        files.append(
            deadline_event(
                message_id=parsed.message_id,
                position=index,
                task=item.task,
                due=item.deadline.isoformat(),
                owner=item.owner,
                owner_email=item.owner_email,
                deliverable=item.deliverable,
                source_subject=parsed.subject.raw,
                organization=info,
                timezone=str(ctx.timezone),
            )
        )
    return files


def idempotency_key(message_id: str, planned: PlannedMail) -> str:
    """Return the key that makes one planned mail one outbox row, however often it is decided."""
    recipients = ",".join(sorted(planned.to))
    return key_of(message_id, planned.rule, planned.action_index, planned.template, recipients)
