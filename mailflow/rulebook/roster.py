"""From what the company's directory says to the people and departments mailflow knows. Pure.

A directory source (LDAP, Active Directory, an HR sheet) yields ``Entry`` values; ``build_roster``
turns them into people and department managers, ``compare`` says what a sync would change
(added, moved, renamed, left, new managers), and ``SyncPlan.refused`` holds the guard that keeps
a broken answer from emptying the directory.

Managers from the ``manager`` attribute: a department's managers are the members the others
report up to, the heads of its reporting tree (members whose own manager is outside the
department and who manage someone inside it). Where no member manages anyone, they are the
people the department's members report to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailflow.rulebook.organization import EMAIL, Person, SyncedDirectory


@dataclass(frozen=True)
class Entry:
    """One person as the company's directory gives them."""

    key: str  # what other entries' manager fields point at: an LDAP DN, or a sheet row's e-mail
    name: str
    email: str | None
    aliases: tuple[str, ...] = ()
    department: str | None = None
    manager: str | None = None  # the direct manager: a key, an e-mail or a name
    disabled: bool = False


@dataclass(frozen=True)
class DirectoryRead:
    """Everything one read of a directory source returned."""

    source: str  # where it came from, for people: ``ldap://dc1/OU=Staff,…`` or a file name
    entries: tuple[Entry, ...]
    # managers_from: groups — department -> the keys of its manager group's members
    manager_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Roster:
    """The people and department managers a directory read gives, and what it left out."""

    people: tuple[Person, ...]
    managers: Mapping[str, tuple[str, ...]]  # department -> manager addresses
    skipped: tuple[str, ...] = ()  # one line per entry left out, saying why

    def document(self, source: str, synced_at: str) -> dict[str, Any]:
        """Return the ``organization.synced.yaml`` document for this roster."""
        return {
            "synced_at": synced_at,
            "source": source,
            "departments": {
                name: {"managers": list(managers)}
                for name, managers in sorted(self.managers.items())
            },
            "people": [p.model_dump(exclude_defaults=True) for p in self.people],
        }


@dataclass(frozen=True)
class Move:
    """A person whose department changed."""

    email: str
    name: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class RosterChange:
    """What applying a roster would change, against the last synced directory."""

    added: tuple[Person, ...]
    left: tuple[Person, ...]
    moved: tuple[Move, ...]
    renamed: tuple[tuple[str, str, str], ...]  # (email, old name, new name)
    managers: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]  # (dept, before, after)

    @property
    def empty(self) -> bool:
        """Return whether nothing would change."""
        return not (self.added or self.left or self.moved or self.renamed or self.managers)


@dataclass(frozen=True)
class SyncPlan:
    """A roster, its change against the last sync, and whether the removal guard refuses it."""

    roster: Roster
    change: RosterChange
    before_count: int
    refused: str | None  # why the sync must not apply on its own, or None

    @classmethod
    def of(cls, read: DirectoryRead, before: SyncedDirectory | None, max_share: float) -> SyncPlan:
        """Return the plan for ``read`` against ``before``, guarded at ``max_share`` removed."""
        roster = build_roster(read)
        previous = before or SyncedDirectory()
        change = compare(previous, roster)
        count = len(previous.people)
        refused = None
        if count and len(change.left) / count > max_share:
            refused = (
                f"{len(change.left)} of {count} people would be removed "
                f"({len(change.left) / count:.0%}), more than the {max_share:.0%} "
                "max_removed_share allows"
            )
        return cls(roster, change, count, refused)


def build_roster(read: DirectoryRead) -> Roster:
    """Return the people and department managers of ``read``; entries left out are listed."""
    skipped: list[str] = []
    active: list[Entry] = []
    seen: dict[str, Entry] = {}
    for entry in read.entries:
        why = _left_out(entry, seen)
        if why:
            skipped.append(f"{entry.name or entry.key}: {why}")
            continue
        active.append(entry)
        for address in _addresses(entry):
            seen[address] = entry
    people = tuple(_person(e) for e in active)
    if read.manager_groups:
        managers = _group_managers(read.manager_groups, active)
    else:
        managers = _tree_managers(active)
    return Roster(people, managers, tuple(skipped))


def compare(before: SyncedDirectory, after: Roster) -> RosterChange:
    """Return what replacing ``before`` by ``after`` changes; a person is matched by any address."""
    old_by_address = {a: p for p in before.people for a in p.addresses()}
    matched: set[str] = set()
    added, moved, renamed = [], [], []
    for person in after.people:
        old = next((old_by_address[a] for a in person.addresses() if a in old_by_address), None)
        if old is None:
            added.append(person)
            continue
        matched.add(old.email.lower())
        if old.department != person.department:
            moved.append(Move(person.email, person.name, old.department, person.department))
        if old.name != person.name:
            renamed.append((person.email, old.name, person.name))
    left = [p for p in before.people if p.email.lower() not in matched]
    managers = []
    for dept in sorted(set(before.departments) | set(after.managers)):
        was = tuple(before.departments[dept].managers) if dept in before.departments else ()
        now = tuple(after.managers.get(dept, ()))
        if was != now and (now or dept in after.managers):
            managers.append((dept, was, now))
    return RosterChange(tuple(added), tuple(left), tuple(moved), tuple(renamed), tuple(managers))


def _left_out(entry: Entry, seen: Mapping[str, Entry]) -> str | None:
    if entry.disabled:
        return "account disabled"
    if not entry.email:
        return "no e-mail address"
    if not EMAIL.match(entry.email):
        return f"{entry.email!r} is not an e-mail address"
    if not entry.name.strip():
        return "no name"
    clash = next((seen[a] for a in _addresses(entry) if a in seen), None)
    if clash is not None:
        return f"address already used by {clash.name} ({clash.key})"
    return None


def _addresses(entry: Entry) -> list[str]:
    return [a.lower() for a in (entry.email or "", *entry.aliases) if a]


def _person(entry: Entry) -> Person:
    email = (entry.email or "").lower()
    aliases = sorted({a.lower() for a in entry.aliases if EMAIL.match(a)} - {email})
    return Person(
        name=entry.name.strip(), email=email, department=entry.department, aliases=aliases
    )


def _resolver(entries: Sequence[Entry]) -> dict[str, Entry]:
    """Return a lookup from every way a manager field may name someone to that entry."""
    names = Counter(e.name.strip() for e in entries)
    found: dict[str, Entry] = {}
    for e in entries:
        found[e.key.lower()] = e
        for a in _addresses(e):
            found[a] = e
        if names[e.name.strip()] == 1:  # a name two people share identifies neither
            found[e.name.strip().lower()] = e
    return found


def _tree_managers(entries: Sequence[Entry]) -> dict[str, tuple[str, ...]]:
    lookup = _resolver(entries)

    def boss(e: Entry) -> Entry | None:
        return lookup.get(e.manager.strip().lower()) if e.manager else None

    by_dept: dict[str, list[Entry]] = {}
    for e in entries:
        if e.department:
            by_dept.setdefault(e.department, []).append(e)
    managers: dict[str, tuple[str, ...]] = {}
    for dept, members in sorted(by_dept.items()):
        keys = {m.key for m in members}
        bosses_inside = {b.key for m in members if (b := boss(m)) is not None and b.key in keys}
        tops = [m for m in members if (b := boss(m)) is None or b.key not in keys]
        heads = [m for m in tops if m.key in bosses_inside]
        if not heads:
            heads = _distinct(b for m in tops if (b := boss(m)) is not None)
        managers[dept] = tuple(_distinct_emails(heads))
    return managers


def _group_managers(
    groups: Mapping[str, tuple[str, ...]], entries: Sequence[Entry]
) -> dict[str, tuple[str, ...]]:
    lookup = _resolver(entries)
    return {
        dept: tuple(_distinct_emails(lookup[k.lower()] for k in keys if k.lower() in lookup))
        for dept, keys in sorted(groups.items())
    }


def _distinct(entries: Iterable[Entry]) -> list[Entry]:
    out: dict[str, Entry] = {}
    for e in entries:
        out.setdefault(e.key, e)
    return list(out.values())


def _distinct_emails(entries: Iterable[Entry]) -> list[str]:
    return list(dict.fromkeys((e.email or "").lower() for e in entries if e.email))
