"""Who mailflow may write to, and who the directory says people and managers are.

Invariant 8: only the original sender and the thread's participants, people and managers of
the directory, and addresses written in the rules; never an address read from a mail body,
never the shared address itself. ``Gate.admit`` applies it to every planned recipient and says
what it dropped. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mailflow.rulebook.facts import MessageFacts
from mailflow.rulebook.organization import Organization


@dataclass(frozen=True)
class Directory:
    """Lookups in the organisation's people and departments (addresses lower-cased)."""

    org: Organization

    def department_of(self, address: str | None) -> str | None:
        """Return the canonical department of the person with ``address``, if known."""
        names = self.org.department_names()
        for person in self.org.people:
            if address and person.email.lower() == address.lower() and person.department:
                return names.get(person.department, person.department)
        return None

    def name_of(self, address: str) -> str | None:
        """Return the directory name of ``address``, if any."""
        return next((p.name for p in self.org.people if p.email.lower() == address), None)

    def managers(self, department: str | None) -> tuple[str, ...]:
        """Return the managers of ``department`` (a canonical name or alias)."""
        canonical = self.org.department_names().get(department or "")
        if canonical is None:
            return ()
        return tuple(m.lower() for m in self.org.departments[canonical].managers)

    def addresses(self) -> frozenset[str]:
        """Return everyone the directory names: people and managers."""
        people = {p.email.lower() for p in self.org.people}
        managers = {m.lower() for d in self.org.departments.values() for m in d.managers}
        return frozenset(people | managers)


@dataclass(frozen=True)
class Gate:
    """The set of addresses invariant 8 allows for one mail, and the addresses never allowed."""

    allowed: frozenset[str]
    never: frozenset[str]

    @classmethod
    def of(cls, facts: MessageFacts, org: Organization, written: Iterable[str]) -> Gate:
        """Return the gate for replies about ``facts``."""
        sender = {facts.sender} if facts.sender else set()
        allowed = (
            sender
            | facts.copied
            | facts.thread_participants
            | Directory(org).addresses()
            | {a.lower() for a in written}
        )
        return cls(frozenset(allowed), frozenset({org.organization.shared_address.lower()}))

    def admit(self, addresses: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Return the admitted addresses (in order, once each) and the dropped ones.

        The shared address is left out silently: writing to itself is never meant.
        """
        kept: list[str] = []
        dropped: list[str] = []
        for address in (a.lower() for a in addresses):
            if address in self.never:
                continue
            if address not in self.allowed:
                dropped.append(address)
            elif address not in kept:
                kept.append(address)
        return tuple(kept), tuple(dropped)
