"""What a sweep of the scheduler's clocks computes with (``ClockSweep``) and what it yields
(``Due``): shared by the clocks of ``clock_mail``, ``clock_complaints`` and ``clock_weekly``."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, time
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session

from mailflow.mail.calendar import BusinessCalendar
from mailflow.mail.model import ParseContext
from mailflow.rulebook.duration import Duration
from mailflow.rulebook.loader import Rulebook
from mailflow.rulebook.recipients import Directory
from mailflow.service import clock_windows
from mailflow.service.decide import due_after
from mailflow.service.outmail import key_of, outbox_row, stored_message_data
from mailflow.store import outbox
from mailflow.store.models import Message, OutboxMail

Keys = Collection[tuple[object, ...]]  # stages of clock mails, as ``ClockSweep.mail`` takes them


@dataclass(frozen=True)
class Due:
    """One mail a clock asks for, the moment it became due, and the keys of the later stages of
    the same subject (an item's overdue notice after its reminders): once one of those is
    written, this one is never sent, whatever instant a sweep is run for."""

    moment: datetime
    row: OutboxMail
    later: tuple[str, ...] = ()


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

    def managers_of(self, people: list[str], fallback: str | None) -> list[str]:
        """Return the managers of ``people``'s departments, else of ``fallback``'s department."""
        found: list[str] = []
        for group in (people, [fallback] if fallback else []):
            for address in group:
                for manager in self.directory.managers(self.directory.department_of(address)):
                    if manager not in found and manager not in people:
                        found.append(manager)
            if found:
                break
        return found
