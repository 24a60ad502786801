"""The values a decision is made of: hits, misses, planned mails and confirmation plans. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mailflow.rulebook.duration import Duration
from mailflow.rulebook.recipients import Dropped


@dataclass(frozen=True)
class RuleHit:
    """A rule whose conditions held; ``notes`` say what its actions did not do, and why."""

    rule: str
    why: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleMiss:
    """A rule that did not apply; ``why`` is the first condition that failed, in words."""

    rule: str
    why: str


@dataclass(frozen=True)
class PlannedMail:
    """One mail to send: a template, its recipients and what the template needs beyond the mail."""

    rule: str
    action_index: int
    template: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    purpose: str
    extra: Mapping[str, Any]


@dataclass(frozen=True)
class ConfirmationPlan:
    """Expect 已阅 from the people in ``from_roles`` (resolved: ``addresses``) within a time."""

    from_roles: tuple[str, ...]
    within: Duration
    addresses: tuple[str, ...] = ()
    rule: str = ""


@dataclass(frozen=True)
class Decision:
    """What the rules make of one mail."""

    hits: tuple[RuleHit, ...] = ()
    misses: tuple[RuleMiss, ...] = ()
    mails: tuple[PlannedMail, ...] = ()
    requests: tuple[ConfirmationPlan, ...] = ()
    track_items: bool = False
    # every recipient the recipient policy left out, and why (``rules test`` lists them)
    dropped: tuple[Dropped, ...] = ()
