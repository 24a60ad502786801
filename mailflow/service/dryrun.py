"""``mailflow rules test``: what the rules would do with one mail; nothing stored, nothing sent."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from mailflow.mail.calendar import BusinessCalendar
from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext
from mailflow.outbound.render import TemplateSet
from mailflow.rulebook.decision import decide
from mailflow.rulebook.facts import MessageFacts
from mailflow.rulebook.loader import Rulebook
from mailflow.service.decide import due_after
from mailflow.service.mailcontext import template_context


def dry_run(
    raw: bytes, rulebook: Rulebook, templates: TemplateSet, ctx: ParseContext
) -> dict[str, Any]:
    """Return the matching rules, the misses with their reasons, and each mail that would go."""
    parsed = parse_message(raw, ctx)
    facts = MessageFacts.of(parsed, rulebook.organization)
    decision = decide(rulebook, facts)
    sent_at = parsed.date or datetime.now(UTC)
    calendar = BusinessCalendar.from_context(ctx)
    requests = [
        {
            "rule": plan.rule,
            "from": list(plan.addresses),
            "within": str(plan.within),
            "due": due_after(sent_at, plan.within, calendar).isoformat(),
        }
        for plan in decision.requests
    ]
    due = due_after(sent_at, decision.requests[0].within, calendar) if decision.requests else None
    mails = []
    for planned in decision.mails:
        rendered = templates.render(
            planned.template,
            template_context(parsed, planned, rulebook.organization, ctx.timezone, due=due),
        )
        mails.append(
            {
                "rule": planned.rule,
                "template": planned.template,
                "purpose": planned.purpose,
                "to": list(planned.to),
                "cc": list(planned.cc),
                "subject": rendered.subject,
                "text": rendered.text,
                "html": rendered.html,
            }
        )
    return {
        "message_id": parsed.message_id,
        "subject": parsed.subject.raw,
        "automated": parsed.automated,
        "automated_reason": parsed.automated_reason,
        "hits": [asdict(h) | {"notes": list(h.notes)} for h in decision.hits],
        "misses": [asdict(m) for m in decision.misses],
        "mails": mails,
        "confirmation_requests": requests,
        "track_action_items": decision.track_items,
        "dropped_recipients": [
            {"address": d.address, "mail": d.mail, "reason": d.reason.value, "why": d.why}
            for d in decision.dropped
        ],
        "answers_own_mail": facts.answers_own,
        "sender_internal": facts.sender_internal,
        "sender_trust": facts.trust_reason,
    }
