"""Caps on automatic mail (invariant 7, issue 9 §2 and §4), as ``limits:`` in a rule file sets them.

Four caps, each a count within a window of calendar time, each with a shipped default:

- ``per_recipient``: mails to one address, as To or Cc. An address over it is left off the
  mail; a mail left with no To is held.
- ``per_external_sender``: answers caused by one outside sender's mails.
- ``per_external_domain``: answers caused by mails from one outside domain (30 senders of one
  company count together).
- ``burst``: answers caused by one correspondent, staff or not, in a short window: the loop
  brake for responders that do not mark themselves automatic (as Zammad's loop protection).

``check`` is pure: it takes what was sent (``Sent``, from the outbox) and one planned mail, and
returns what may go. The service makes the history authoritative (one writer at a time).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import Field, field_validator

from mailflow.rulebook.duration import Duration, parse_duration
from mailflow.rulebook.vocabulary import DurationText, Strict


class Cap(Strict):
    """At most ``count`` mails within ``within`` (calendar time)."""

    count: int = Field(ge=1, description="how many automatic mails")
    within: DurationText = Field(description="within this much calendar time, e.g. 1h, 10m")

    @field_validator("within")
    @classmethod
    def _calendar_time(cls, value: Duration) -> Duration:
        if value.business:
            raise ValueError(f"{value}: a limit counts calendar time (write e.g. 1h or 10m)")
        return value

    def window(self) -> timedelta:
        """Return the window as a span of time."""
        return self.within.timedelta()


def _cap(count: int, within: str) -> Cap:
    return Cap(count=count, within=parse_duration(within))


class Limits(Strict):
    """The caps on automatic mail; the defaults hold when a rule file sets none."""

    per_recipient: Cap = Field(
        default_factory=lambda: _cap(10, "1h"), description="to one address, To or Cc"
    )
    per_external_sender: Cap = Field(
        default_factory=lambda: _cap(5, "1h"), description="caused by one outside sender"
    )
    per_external_domain: Cap = Field(
        default_factory=lambda: _cap(20, "1h"), description="caused by one outside domain"
    )
    burst: Cap = Field(
        default_factory=lambda: _cap(3, "10m"),
        description="caused by one correspondent in a short time: the loop brake",
    )

    def longest(self) -> timedelta:
        """Return the longest window: how far back the history must reach."""
        caps = (self.per_recipient, self.per_external_sender, self.per_external_domain, self.burst)
        return max(c.window() for c in caps)


@dataclass(frozen=True)
class Sent:
    """One automatic mail already decided: when, to whom (To and Cc), and whose mail caused it
    (``cause``: its sender, lower-cased; None for mail no incoming mail caused)."""

    at: datetime
    recipients: frozenset[str]
    cause: str | None = None


@dataclass(frozen=True)
class Cause:
    """Whose mail a planned mail answers, and whether that sender is external."""

    sender: str | None
    external: bool
    internal_domains: frozenset[str] = frozenset()

    @property
    def domain(self) -> str | None:
        """Return the sender's domain when the domain limit applies to it (an outside one)."""
        if not self.external or not self.sender:
            return None
        domain = self.sender.rpartition("@")[2]
        return None if domain in self.internal_domains else domain


@dataclass(frozen=True)
class Verdict:
    """What may go: the kept To and Cc, who was left off and why, or why all of it is held."""

    to: tuple[str, ...]
    cc: tuple[str, ...]
    left_off: tuple[tuple[str, str], ...] = ()  # (address, why)
    held: str | None = None


@dataclass
class History:
    """The automatic mails of the longest window, growing as a batch decides more."""

    sent: list[Sent] = field(default_factory=list)

    def count(
        self,
        since: datetime,
        *,
        cause: str | None = None,
        domain: str | None = None,
        recipient: str | None = None,
    ) -> int:
        """Return how many mails since ``since`` match every filter given."""
        found = 0
        for s in self.sent:
            if s.at < since:
                continue
            if cause is not None and s.cause != cause:
                continue
            if domain is not None and (s.cause or "").rpartition("@")[2] != domain:
                continue
            if recipient is not None and recipient not in s.recipients:
                continue
            found += 1
        return found


def check(
    limits: Limits,
    history: History,
    now: datetime,
    cause: Cause,
    to: Sequence[str],
    cc: Sequence[str] = (),
) -> Verdict:
    """Return what of a mail to ``to`` and ``cc``, caused by ``cause``, the limits let go now."""
    held = _held_for_cause(limits, history, now, cause)
    if held is not None:
        return Verdict((), (), (), held)
    cap = limits.per_recipient
    since = now - cap.window()
    left_off: list[tuple[str, str]] = []

    def keep(addresses: Iterable[str]) -> tuple[str, ...]:
        kept = []
        for address in addresses:
            if history.count(since, recipient=address) >= cap.count:
                left_off.append((address, f"per_recipient: {cap.count} within {cap.within}"))
            else:
                kept.append(address)
        return tuple(kept)

    kept_to, kept_cc = keep(to), keep(cc)
    if not kept_to:
        return Verdict((), (), tuple(left_off), "per_recipient: every To is over its limit")
    return Verdict(kept_to, kept_cc, tuple(left_off))


def _held_for_cause(limits: Limits, history: History, now: datetime, cause: Cause) -> str | None:
    """Return why every mail caused by ``cause`` is held now, or None."""
    if cause.sender is None:
        return None
    tests: list[tuple[str, Cap, dict[str, str]]] = [
        ("burst", limits.burst, {"cause": cause.sender})
    ]
    if cause.external:
        tests.append(("per_external_sender", limits.per_external_sender, {"cause": cause.sender}))
    if cause.domain:
        tests.append(("per_external_domain", limits.per_external_domain, {"domain": cause.domain}))
    for name, cap, filters in tests:
        if history.count(now - cap.window(), **filters) >= cap.count:
            who = filters.get("cause") or filters["domain"]
            return f"{name}: {cap.count} automatic mails about {who} within {cap.within} already"
    return None


def record(history: History, now: datetime, cause: Cause, verdict: Verdict) -> None:
    """Count a mail the verdict lets go."""
    if verdict.held is None:
        history.sent.append(Sent(now, frozenset((*verdict.to, *verdict.cc)), cause.sender))
