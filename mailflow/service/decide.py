"""Decisions become outbox rows and confirmation ledgers, in the ingest transaction (invariant 3).

For each stored mail: build the facts the rules look at, let the rulebook decide, and write one
outbox row per planned mail under an idempotency key (message, rule, action, template,
recipients), so deciding twice about the same mail sends nothing twice. Replies carry
In-Reply-To/References of the mail they answer and a Message-ID fixed now. A per-recipient
rate limit caps automatic mail to one person (invariant 7).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mailflow.mail.calendar import BusinessCalendar
from mailflow.mail.model import ParseContext, ParsedMessage
from mailflow.mail.requests import asks_for_confirmation
from mailflow.rulebook.decision import Decision, PlannedMail, decide
from mailflow.rulebook.duration import Duration
from mailflow.rulebook.facts import MessageFacts
from mailflow.rulebook.loader import Rulebook
from mailflow.service.outmail import deadline_event, key_of, outbox_row
from mailflow.service.template_data import template_context
from mailflow.store import outbox
from mailflow.store.models import Message, OutboxMail
from mailflow.tracking.tracker import Tracker

log = logging.getLogger(__name__)

RATE_WINDOW = timedelta(hours=1)
RATE_LIMIT = 10  # automatic mails to one person per hour; more are dropped and logged
DEFAULT_WITHIN = Duration(24, "hours")


class RateLimit:
    """Invariant 7 for one transaction: at most RATE_LIMIT automatic mails to one person within
    RATE_WINDOW. The outbox is counted once, with one query for every address, then in memory as
    rows are added; what was held back is logged once, by ``report``, not once per mail."""

    def __init__(self, session: Session, now: datetime) -> None:
        self._session, self._since = session, now - RATE_WINDOW
        self._counts: Counter[str] | None = None
        self.held: list[tuple[str, str]] = []  # (template, recipients) not written

    def allows(self, planned: PlannedMail) -> bool:
        """Return whether ``planned`` stays within the limit; remember it when it does not."""
        if all(self._count(a) < RATE_LIMIT for a in planned.to):
            return True
        self.held.append((planned.template, ", ".join(planned.to)))
        return False

    def added(self, planned: PlannedMail) -> None:
        """Count a row written for ``planned``."""
        counts = self._load()
        for address in planned.to:
            counts[address] += 1

    def report(self) -> None:
        """Log what was held back, in one line."""
        if not self.held:
            return
        people = sorted({to for _, to in self.held})
        shown = "; ".join(people[:5]) + (f" and {len(people) - 5} more" if len(people) > 5 else "")
        log.warning(
            "rate limit (%d automatic mails per person per hour): %d mails not written, to %s",
            RATE_LIMIT,
            len(self.held),
            shown,
        )
        self.held.clear()

    def _count(self, address: str) -> int:
        return self._load()[address]

    def _load(self) -> Counter[str]:
        if self._counts is None:  # the first time it is needed
            self._counts = outbox.sent_counts_since(self._session, self._since)
        return self._counts


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
    ``tracker`` writes them with the batch."""
    arrival = tracker.arrival(message.id)
    participants = tracker.participants(message.id)
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
    asked, within = _confirmation(decision, parsed)
    due = due_after(sent_at, within, calendar) if asked else None
    if asked:
        tracker.open_ledger(arrival, asked, sent_at, due, ctx.own_addresses)
    for planned in decision.mails:
        if not limit.allows(planned):
            outcome.limited.append(", ".join(planned.to))
            continue
        row = _row(message, parsed, planned, rulebook, ctx, now, due)
        # counted when planned: a row whose key exists already (deciding twice) counts twice,
        # which can only hold back more, never send more
        limit.added(planned)
        tracker.plan(outbox.row_values(row))
    return outcome


def _confirmation(decision: Decision, parsed: ParsedMessage) -> tuple[list[str], Duration]:
    """Return who must confirm and within what: the rules' plan, or the mail's own request."""
    if decision.requests:
        plan = decision.requests[0]
        return list(plan.addresses), plan.within
    if asks_for_confirmation(parsed):
        return [a.address for a in (*parsed.to, *parsed.cc)], DEFAULT_WITHIN
    return [], DEFAULT_WITHIN


def due_after(start: datetime, within: Duration, calendar: BusinessCalendar) -> datetime:
    """Return when ``within`` has passed since ``start``, in business time when it says so."""
    if not within.business:
        return start + within.timedelta()
    if within.unit == "days":
        day = calendar.add_workdays(start.astimezone(calendar.timezone).date(), within.value)
        return calendar.at(day, start.astimezone(calendar.timezone).time())
    return calendar.add_business_hours(start, within.timedelta())


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
