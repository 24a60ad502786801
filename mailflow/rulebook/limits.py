"""Caps on automatic mail (invariant 7, issue 9 §2 and §4), as ``limits:`` in a rule file sets them.

Four caps, each a count within a window of calendar time, each with a shipped default:

- ``per_recipient``: mails to one address, as To or Cc. An address over it is left off the
  mail; a mail left with no To is held.
- ``per_external_sender``: answers to one outside sender caused by its own mails.
- ``per_external_domain``: answers to one outside domain caused by mails from it (30 senders
  of one company count together).
- ``burst``: answers to one correspondent, staff or not, caused by its mails in a short window:
  the loop brake for responders that do not mark themselves automatic (as Zammad's loop
  protection).

The last three count and hold only mail that goes back to the correspondent's side (its
sender or domain among the recipients): that is what feeds a loop or floods an outside
company, while a copy to staff (a complaint's managers) still goes, under ``per_recipient``.

``check`` is pure: it takes what was sent (``Sent``, from the outbox) and one planned mail, and
returns what may go. The service makes the history authoritative (one writer at a time).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
        default_factory=lambda: _cap(5, "1h"), description="back to one outside sender"
    )
    per_external_domain: Cap = Field(
        default_factory=lambda: _cap(20, "1h"), description="back to one outside domain"
    )
    burst: Cap = Field(
        default_factory=lambda: _cap(3, "10m"),
        description="back to one correspondent in a short time: the loop brake",
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


class History:
    """The automatic mails of the longest window, growing as a batch decides more.

    Indexed by what the caps count (an address; a sender or domain the mail went back to), each
    index a sorted list of times, so a count is one binary search however big the batch."""

    def __init__(self, sent: Iterable[Sent] = ()) -> None:
        self._times: dict[tuple[str, str], list[datetime]] = {}
        for one in sent:
            self.add(one)

    def add(self, sent: Sent) -> None:
        """Count one more mail."""
        keys = [("to", r) for r in sent.recipients]
        if sent.cause is not None and sent.cause in sent.recipients:
            keys.append(("cause", sent.cause))
        domain = _domain(sent.cause)
        if domain and _reaches(sent.recipients, domain):
            keys.append(("domain", domain))
        for key in keys:
            insort(self._times.setdefault(key, []), sent.at)

    def count(
        self,
        since: datetime,
        *,
        cause: str | None = None,
        domain: str | None = None,
        recipient: str | None = None,
    ) -> int:
        """Return how many mails since ``since`` match the one filter given: ``cause``, mails
        caused by that sender and sent back to it; ``domain``, mails caused by someone of that
        domain and sent back to that domain; ``recipient``, mails to that address."""
        given = [(k, v) for k, v in (("cause", cause), ("domain", domain), ("to", recipient)) if v]
        if len(given) != 1:
            raise ValueError("count takes exactly one of cause, domain, recipient")
        times = self._times.get(given[0], [])
        return len(times) - bisect_left(times, since)


def _domain(address: str | None) -> str:
    return (address or "").rpartition("@")[2]


def _reaches(recipients: Iterable[str], domain: str) -> bool:
    return any(_domain(r) == domain for r in recipients)


def check(
    limits: Limits,
    history: History,
    now: datetime,
    cause: Cause,
    to: Sequence[str],
    cc: Sequence[str] = (),
) -> Verdict:
    """Return what of a mail to ``to`` and ``cc``, caused by ``cause``, the limits let go now."""
    held = _held_for_cause(limits, history, now, cause, (*to, *cc))
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


def _held_for_cause(
    limits: Limits, history: History, now: datetime, cause: Cause, recipients: Sequence[str]
) -> str | None:
    """Return why a mail going back to ``cause``'s sender or domain is held now, or None.

    Only mail back to the correspondent's side can feed a loop or be used to flood a third
    party of the sender's company; copies to staff (a complaint's managers) are left to
    ``per_recipient``."""
    if cause.sender is None:
        return None
    tests: list[tuple[str, Cap, dict[str, str]]] = []
    if cause.sender in recipients:
        tests.append(("burst", limits.burst, {"cause": cause.sender}))
        if cause.external:
            tests.append(
                ("per_external_sender", limits.per_external_sender, {"cause": cause.sender})
            )
    if cause.domain and _reaches(recipients, cause.domain):
        tests.append(("per_external_domain", limits.per_external_domain, {"domain": cause.domain}))
    for name, cap, filters in tests:
        if history.count(now - cap.window(), **filters) >= cap.count:
            who = filters.get("cause") or filters["domain"]
            return f"{name}: {cap.count} automatic mails to {who} within {cap.within} already"
    return None


def record(history: History, now: datetime, cause: Cause, verdict: Verdict) -> None:
    """Count a mail the verdict lets go."""
    if verdict.held is None:
        history.add(Sent(now, frozenset((*verdict.to, *verdict.cc)), cause.sender))
