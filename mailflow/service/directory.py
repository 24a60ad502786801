"""Who is who for the record and the digest: people and departments from the organisation.

Shared by ``record`` (the 内部沟通记录表) and ``digest`` (the weekly mail to managers). Reads the
rules' directory and stored rows only; never touches the database itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, tzinfo

from mailflow.errors import UnknownDepartmentError
from mailflow.rulebook.organization import Organization
from mailflow.store.models import ActionItemRecord, Message

NAME_SEPARATOR = "、"
_ISO_DATE_LENGTH = len("YYYY-MM-DD")


def resolve_department(org: Organization, name: str) -> str:
    """Return the canonical department for a name or alias; raise UnknownDepartmentError."""
    names = org.department_names()
    if name not in names:
        raise UnknownDepartmentError(name, list(org.departments))
    return names[name]


class ReportDirectory:
    """People and departments of the organisation, looked up by address or name."""

    def __init__(self, org: Organization) -> None:
        names = org.department_names()
        self.by_email = {p.email.lower(): names.get(p.department or "") for p in org.people}
        self.by_name = {p.name: names.get(p.department or "") for p in org.people}
        self.departments = names
        self.own = org.organization.shared_address.lower()
        self.internal = tuple(d.lower() for d in org.organization.internal_domains)

    def department(self, email: str | None, name: str | None = None) -> str | None:
        """Return the canonical department of a person, by address, else by name."""
        found = self.by_email.get((email or "").lower())
        return found or self.by_name.get(name or "")

    def subject_department(self, m: Message) -> str | None:
        """Return the canonical department the subject names (aliases resolved)."""
        return self.departments.get(m.department or "")

    def item_department(self, item: ActionItemRecord, m: Message) -> str | None:
        """Return the owner's department, else the department the mail's subject names."""
        return self.department(item.owner_email, item.owner) or self.subject_department(m)

    def is_internal(self, email: str | None) -> bool:
        """Return whether an address belongs to one of the organisation's domains."""
        return (email or "").lower().rpartition("@")[2] in self.internal

    def is_own(self, email: str | None) -> bool:
        """Return whether an address is the shared one (mailflow's own)."""
        return (email or "").lower() == self.own

    def people(self, m: Message) -> list[tuple[str, str]]:
        """Return (address, name) of sender and recipients, without the shared address."""
        seen = {a.address.lower(): a.name for a in m.addresses if a.role in ("from", "to", "cc")}
        return [(a, n) for a, n in seen.items() if a != self.own]

    def participants(self, m: Message) -> tuple[str, tuple[str, ...]]:
        """Return the 参与部门/人员 text (departments first, then people outside the directory)
        and the canonical departments the message concerns (its subject's among them)."""
        depts: list[str] = []
        others: list[str] = []
        for address, name in self.people(m):
            dept = self.department(address)
            bucket, value = (depts, dept) if dept else (others, name or address)
            if value not in bucket:
                bucket.append(value)
        related = unique([*depts, self.subject_department(m)])
        return NAME_SEPARATOR.join(depts + others), related


def unique(values: Iterable[str | None]) -> tuple[str, ...]:
    """Return the non-empty values once each, in their first order."""
    return tuple(dict.fromkeys(v for v in values if v))


def planned(item: ActionItemRecord, tz: tzinfo) -> date | datetime | None:
    """Return an item's deadline as written: a local date, or a local date and time."""
    if item.deadline and len(item.deadline) == _ISO_DATE_LENGTH:
        return date.fromisoformat(item.deadline)
    if item.deadline:
        return datetime.fromisoformat(item.deadline).astimezone(tz)
    return item.due_at.astimezone(tz) if item.due_at else None
