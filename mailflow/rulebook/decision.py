"""``decide``: which rules hit a mail, which missed and why, and what mailflow should send.

Rules run in file order; a ``stop`` step ends the run, and the rules after it are misses that
say so. Automatic mail gets no rule at all (invariant 7), nor does mail that answers or quotes
mailflow's own automatic mail (issue 9 §4: responders that do not mark themselves). Every
recipient passes the invariant-8 gate in ``recipients.py``. The result is plain data for the
service (outbox rows, confirmation ledger) and for ``mailflow rules test``. Pure.
"""

from __future__ import annotations

from mailflow.rulebook.facts import MessageFacts
from mailflow.rulebook.loader import Rulebook
from mailflow.rulebook.matching import check
from mailflow.rulebook.outcome import (
    ConfirmationPlan,
    Decision,
    PlannedMail,
    RuleHit,
    RuleMiss,
)
from mailflow.rulebook.planner import Planner

__all__ = ["ConfirmationPlan", "Decision", "PlannedMail", "RuleHit", "RuleMiss", "decide"]

AUTOMATIC = "automatic mail is never answered"
OWN_MAIL = "a mail answering mailflow's own automatic mail is never answered"
FORGED = (
    "the sender claims an internal address our receiving server failed; an answer would reach "
    "the real owner of that address, so nothing is sent"
)


def decide(rulebook: Rulebook, facts: MessageFacts) -> Decision:
    """Return the decision of ``rulebook`` on the mail described by ``facts``."""
    if facts.parsed.automated:
        why = f"{AUTOMATIC} ({facts.parsed.automated_reason})"
        return Decision(misses=tuple(RuleMiss(r.name, why) for r in rulebook.rules))
    if facts.answers_own:
        why = f"{OWN_MAIL} ({facts.answers_own})"
        return Decision(misses=tuple(RuleMiss(r.name, why) for r in rulebook.rules))
    if facts.forged:
        why = f"{FORGED} ({facts.forged})"
        return Decision(misses=tuple(RuleMiss(r.name, why) for r in rulebook.rules))
    planner = Planner.of(rulebook, facts)
    hits: list[RuleHit] = []
    misses: list[RuleMiss] = []
    stopped_by: str | None = None
    for rule in rulebook.rules:
        if stopped_by is not None:
            misses.append(RuleMiss(rule.name, f"not run: rule {stopped_by!r} said stop"))
            continue
        ok, why = check(rule.when, facts)
        if not ok:
            misses.append(RuleMiss(rule.name, why))
            continue
        notes, stop = planner.run(rule)
        hits.append(RuleHit(rule.name, why, notes))
        stopped_by = rule.name if stop else None
    return Decision(
        hits=tuple(hits),
        misses=tuple(misses),
        mails=tuple(planner.mails),
        requests=tuple(planner.requests),
        track_items=planner.track_items,
        dropped=tuple(planner.dropped),
    )
