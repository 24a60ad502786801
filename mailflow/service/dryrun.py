"""``mailflow rules test``: what mailflow would do with one mail; nothing stored, nothing sent.

It runs the code ingestion runs (invariant 15), not a second implementation: the mail is
ingested, with the rules, into a scratch SQLite database that is thrown away after. What that
stored is the prediction: the rules that matched and missed, each mail the decision wrote to the
outbox (rendered), the ledger and items it opened, and every clock those start (reminders,
chases, escalations), with the moment each falls due if nobody answers.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext
from mailflow.outbound.render import TemplateSet
from mailflow.rulebook.decision import decide
from mailflow.rulebook.facts import MessageFacts
from mailflow.rulebook.loader import Rulebook
from mailflow.service.clock_mail import schedule
from mailflow.service.decide import DEFAULT_WITHIN
from mailflow.service.ingest import ingest
from mailflow.sources.maildir import MaildirSource
from mailflow.store import outbox, threads
from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.models import (
    Base,
)


def dry_run(
    raw: bytes,
    rulebook: Rulebook,
    templates: TemplateSet,
    ctx: ParseContext,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Return the matching rules, the misses with their reasons, each mail that would go, and
    the ledgers, items and clocks the mail would start, as decided at ``now`` (the wall
    clock when None)."""
    parsed = parse_message(raw, ctx)
    facts = MessageFacts.of(parsed, rulebook.organization)
    decision = decide(rulebook, facts)
    moment = now or datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="mailflow-dry-run-") as tmp:
        box = Path(tmp) / "box"
        for sub in ("new", "cur", "tmp"):
            (box / sub).mkdir(parents=True)
        (box / "new" / "1.dry-run").write_bytes(raw)
        engine = make_engine(f"sqlite:///{tmp}/scratch.db")
        try:
            Base.metadata.create_all(engine)
            sessions = make_session_factory(engine)
            ingest(MaildirSource(box), sessions, ctx, rulebook=rulebook, decided_at=moment,
                   parse_workers=1)  # fmt: skip
            with sessions() as session:
                found = _stored(session, templates, rulebook, ctx, moment)
        finally:
            engine.dispose()
    purposes = {(m.rule, m.template): m.purpose for m in decision.mails}
    for mail in found["mails"]:
        mail["purpose"] = purposes.get((mail["rule"], mail["template"]), "")
    plan = decision.requests[0] if decision.requests else None
    for request in found["confirmation_requests"]:  # the rules' plan, or the mail's own words
        request["rule"] = plan.rule if plan else None
        request["within"] = str(plan.within if plan else DEFAULT_WITHIN)
    return {
        "message_id": parsed.message_id,
        "subject": parsed.subject.raw,
        "automated": parsed.automated,
        "automated_reason": parsed.automated_reason,
        "hits": [asdict(h) | {"notes": list(h.notes)} for h in decision.hits],
        "misses": [asdict(m) for m in decision.misses],
        "track_action_items": decision.track_items,
        "dropped_recipients": [
            {"address": d.address, "mail": d.mail, "reason": d.reason.value, "why": d.why}
            for d in decision.dropped
        ],
        "answers_own_mail": facts.answers_own,
        "sender_internal": facts.sender_internal,
        "sender_trust": facts.trust_reason,
        **found,
    }


def _stored(
    session: Session, templates: TemplateSet, rulebook: Rulebook, ctx: ParseContext, now: datetime
) -> dict[str, Any]:
    def local(moment: datetime | None) -> str | None:
        return moment.astimezone(ctx.timezone).isoformat() if moment else None

    mails = []
    for row in outbox.every_row(session):
        rendered = templates.render(row.kind, row.context, row.lang)
        mails.append(
            {
                "rule": row.rule,
                "template": row.kind,
                "to": list(row.to_addrs),
                "cc": list(row.cc_addrs),
                "subject": rendered.subject,
                "text": rendered.text,
                "html": rendered.html,
            }
        )
    requests = [
        {
            "requested_at": local(r.requested_at),
            "due": local(r.due_at),
            "from": [a.address for a in r.answers],
            "answers": {a.address: a.status for a in r.answers},
        }
        for r in threads.every_request(session)
    ]
    items = [
        {
            "position": i.position,
            "task": i.task,
            "owner": i.owner,
            "owner_email": i.owner_email,
            "deadline": i.deadline,
            "due_at": local(i.due_at),
            "deliverable": i.deliverable,
            "missing": list(i.missing),
            "status": i.status,
        }
        for i in threads.every_item(session)
    ]
    clocks = [
        {
            "kind": due.row.kind,
            "to": list(due.row.to_addrs),
            "cc": list(due.row.cc_addrs),
            "due_at": local(due.moment),
        }
        for due in schedule(session, rulebook, ctx, now)
    ]
    return {"mails": mails, "confirmation_requests": requests, "items": items, "clocks": clocks}
