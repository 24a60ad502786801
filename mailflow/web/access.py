"""Who may see what in the web view and its API.

Administrators (organization.yaml) see everything; a department's managers see the threads and
items of their departments; everyone else sees the threads they take part in (From, To, Cc or
Reply-To of one of its messages) and the items they own. Pages and API ask the same ``Viewer``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from mailflow.rulebook.organization import Organization
from mailflow.store import thread_members


@dataclass(frozen=True)
class Viewer:
    """A signed-in person: their address, and what the directory says they lead."""

    address: str
    name: str = ""
    admin: bool = False
    departments: frozenset[str] = field(default_factory=frozenset)  # the ones they manage
    own_department: str | None = None

    @property
    def role(self) -> str:
        """``administrator``, ``manager`` or ``staff``."""
        if self.admin:
            return "administrator"
        return "manager" if self.departments else "staff"


def directory_addresses(org: Organization) -> dict[str, str]:
    """Return every address the directory knows (people, managers, administrators) with its
    person's name ("" when none)."""
    known: dict[str, str] = {a.lower(): "" for a in org.organization.administrators}
    for dept in org.departments.values():
        known.update({a.lower(): "" for a in dept.managers if a.lower() not in known})
    for person in org.people:
        known.update({a: person.name for a in person.addresses()})
    return known


def viewer_for(org: Organization, address: str) -> Viewer | None:
    """Return the viewer for ``address``, or None when the directory does not know it."""
    wanted = address.strip().lower()
    known = directory_addresses(org)
    if wanted not in known:
        return None
    managed = frozenset(
        name
        for name, dept in org.departments.items()
        if wanted in (m.lower() for m in dept.managers)
    )
    own = next((p.department for p in org.people if wanted in p.addresses()), None)
    admins = {a.lower() for a in org.organization.administrators}
    return Viewer(wanted, known[wanted], wanted in admins, managed, own)


def person_departments(org: Organization) -> dict[str, str]:
    """Return each person's address (and aliases) mapped to their department."""
    return {a: p.department for p in org.people if p.department for a in p.addresses()}


@dataclass(frozen=True)
class ThreadFacts:
    """What decides who may see a thread: its departments and the addresses on it."""

    departments: frozenset[str]
    addresses: frozenset[str]


def thread_facts(
    session: Session, thread_ids: Iterable[int], org: Organization
) -> dict[int, ThreadFacts]:
    """Return the facts of each thread: subject departments and the departments of the people
    on it, and every address on its messages."""
    by_person = person_departments(org)
    wanted = list(thread_ids)
    departments = thread_members.subject_departments(session, wanted)
    addresses = thread_members.thread_addresses(session, wanted)
    for tid, on_thread in addresses.items():
        departments.setdefault(tid, set()).update(by_person[a] for a in on_thread if a in by_person)
    return {
        tid: ThreadFacts(frozenset(departments.get(tid, ())), frozenset(addresses.get(tid, ())))
        for tid in set(departments) | set(addresses)
    }


def may_see_thread(viewer: Viewer, facts: ThreadFacts | None) -> bool:
    """Whether ``viewer`` may see a thread with these facts."""
    if viewer.admin:
        return True
    if facts is None:
        return False
    return bool(viewer.departments & facts.departments) or viewer.address in facts.addresses


def may_see_item(
    viewer: Viewer, item: dict[str, Any], facts: ThreadFacts | None, org: Organization
) -> bool:
    """Whether ``viewer`` may see an action item: their own, or (managers) one owned in or
    written about their departments. Staff see their threads' items on the thread's page."""
    if viewer.admin or (item.get("owner_email") or "").lower() == viewer.address:
        return True
    if not viewer.departments:
        return False
    owner_dept = person_departments(org).get((item.get("owner_email") or "").lower())
    if owner_dept in viewer.departments or item.get("department") in viewer.departments:
        return True
    return facts is not None and bool(viewer.departments & facts.departments)
