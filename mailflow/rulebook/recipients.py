"""Who mailflow may write to, and who the directory says people and managers are.

Invariant 8: only the original sender and the thread's participants, people and managers of
the directory, and addresses written in the rules; never an address read from a mail body,
never the shared address itself. Mail caused by an external sender goes only to that sender,
addresses of the sender's own domain already on the mail, and internal recipients the rules
name themselves (managers of ``copy_managers``, departments and addresses of ``notify``): an
outsider never chooses a recipient. ``Gate.admit`` applies this to every planned recipient and
returns what it dropped, with the reason (``Dropped``). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from mailflow.rulebook.facts import MessageFacts
from mailflow.rulebook.organization import Organization


@dataclass(frozen=True)
class Directory:
    """Lookups in the organisation's people and departments (addresses lower-cased)."""

    org: Organization

    def department_of(self, address: str | None) -> str | None:
        """Return the canonical department of the person with ``address``, if known."""
        return self.org.index.departments.get(address.lower()) if address else None

    def name_of(self, address: str) -> str | None:
        """Return the directory name of ``address`` (lower-cased), if any."""
        return self.org.index.names.get(address)

    def managers(self, department: str | None) -> tuple[str, ...]:
        """Return the managers of ``department`` (a canonical name or alias)."""
        canonical = self.org.department_names().get(department or "")
        if canonical is None:
            return ()
        return tuple(m.lower() for m in self.org.departments[canonical].managers)

    def addresses(self) -> frozenset[str]:
        """Return everyone the directory names: people and managers."""
        return self.org.index.addresses


class DropReason(StrEnum):
    """Why the recipient policy left an address out; the value is the code ``--json`` shows."""

    NOT_ALLOWED = "not_allowed"
    THIRD_DOMAIN = "outsider_third_domain"
    NAMED_BY_OUTSIDER = "outsider_named_staff"
    NOT_STAFF = "outsider_not_staff"

    def words(self) -> str:
        """Return the reason in an administrator's words."""
        return _REASON_WORDS[self]


_REASON_WORDS = {
    DropReason.NOT_ALLOWED: "invariant 8: not a participant, directory or rule address",
    DropReason.THIRD_DOMAIN: (
        "an outsider's mail: this address is of neither the sender's domain nor ours"
    ),
    DropReason.NAMED_BY_OUTSIDER: (
        "an outsider's mail: staff it names are written to only when the rules name them"
    ),
    DropReason.NOT_STAFF: "an outsider's mail: only staff are asked to confirm it and chased",
}


@dataclass(frozen=True)
class Dropped:
    """A recipient the policy left out of a planned mail (``mail``: its template) or ledger."""

    address: str
    mail: str
    reason: DropReason

    @property
    def why(self) -> str:
        """Return the reason in words."""
        return self.reason.words()

    def note(self) -> str:
        """Return the line ``rules test`` shows for it."""
        return f"{self.mail}: left out {self.address} ({self.why})"


def domain_of(address: str) -> str:
    """Return the lower-cased domain of ``address`` ('' when it has none)."""
    return address.rpartition("@")[2].lower()


def is_internal_address(address: str | None, org: Organization) -> bool:
    """Return whether ``address`` is of one of the organisation's internal domains."""
    internal = {d.lower().lstrip("@") for d in org.organization.internal_domains}
    return bool(address) and domain_of(address or "") in internal


@dataclass(frozen=True)
class Gate:
    """Who invariant 8 lets mail about one message reach, and the addresses never allowed.

    ``allowed`` holds the addresses the rules may use (sender, participants, rule addresses)
    and ``directory`` everyone the directory names, kept apart so that no set the size of
    the directory is built per mail. For an outsider's mail (``outsider`` set to its sender),
    an address the mail put forward (its To, Cc, owners, people to confirm) passes only when
    it is the sender or of the sender's domain and on the mail; one the rules name passes when
    it is internal.
    """

    allowed: frozenset[str]
    never: frozenset[str]
    outsider: str | None = None
    on_mail: frozenset[str] = frozenset()
    internal: frozenset[str] = frozenset()  # internal domains
    directory: frozenset[str] = frozenset()

    @classmethod
    def of(cls, facts: MessageFacts, org: Organization, written: Iterable[str]) -> Gate:
        """Return the gate for replies about ``facts``."""
        sender = {facts.sender} if facts.sender else set()
        allowed = sender | facts.copied | facts.thread_participants | {a.lower() for a in written}
        info = org.organization
        return cls(
            frozenset(allowed),
            frozenset({info.shared_address.lower()}),
            outsider=None if facts.sender_internal else (facts.sender or ""),
            on_mail=facts.copied | frozenset(sender),
            internal=frozenset(d.lower().lstrip("@") for d in info.internal_domains),
            directory=Directory(org).addresses(),
        )

    def is_internal(self, address: str) -> bool:
        """Return whether ``address`` is of an internal domain."""
        return domain_of(address) in self.internal

    def reason(self, address: str, by_rule: bool = False) -> DropReason | None:
        """Return why ``address`` (lower-cased) may not be written to, or None when it may.

        ``by_rule``: the rules named it themselves (a manager, a department, an address)."""
        if address not in self.allowed and address not in self.directory:
            return DropReason.NOT_ALLOWED
        if self.outsider is None or address == self.outsider:
            return None
        if by_rule:
            return None if self.is_internal(address) else DropReason.THIRD_DOMAIN
        if address in self.on_mail and domain_of(address) == domain_of(self.outsider):
            return None
        if self.is_internal(address):
            return DropReason.NAMED_BY_OUTSIDER
        return DropReason.THIRD_DOMAIN

    def admit(
        self, addresses: Iterable[str], mail: str = "", by_rule: bool = False
    ) -> tuple[tuple[str, ...], tuple[Dropped, ...]]:
        """Return the admitted addresses (in order, once each) and the dropped ones.

        The shared address is left out silently: writing to itself is never meant.
        """
        kept: list[str] = []
        dropped: list[Dropped] = []
        for address in (a.lower() for a in addresses):
            if address in self.never or address in kept:
                continue
            why = self.reason(address, by_rule)
            if why is None:
                kept.append(address)
            elif all(d.address != address for d in dropped):
                dropped.append(Dropped(address, mail, why))
        return tuple(kept), tuple(dropped)

    def ledger(self, addresses: Iterable[str]) -> tuple[tuple[str, ...], tuple[Dropped, ...]]:
        """Return who may be asked to confirm an outsider's mail: internal people only.

        A 已阅 ledger is followed by chases and escalations to the person and their managers,
        so it names only staff (internal domains), never a third party the outsider copied.
        Mail from staff is gated as any other mail."""
        if self.outsider is None:
            return self.admit(addresses, "confirmation")
        kept: list[str] = []
        dropped: list[Dropped] = []
        for address in dict.fromkeys(a.lower() for a in addresses):
            if address in self.never or address == self.outsider:
                continue
            if self.is_internal(address):
                kept.append(address)
            else:
                dropped.append(Dropped(address, "confirmation", DropReason.NOT_STAFF))
        return tuple(kept), tuple(dropped)
