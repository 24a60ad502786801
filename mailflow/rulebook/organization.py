"""The organisation's directory: name, shared address, domains, timezone, departments, people.

Read from ``organization.yaml`` in the rules folder and validated with pydantic; every problem
comes back as ``file:line: message``. Later rule files (matching and actions) build on this.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mailflow.errors import RuleFileError
from mailflow.rulebook.directory_config import DirectorySync
from mailflow.rulebook.statutory import StatutoryYear, check_years
from mailflow.rulebook.yamlfile import Locator, load_yaml

ORGANIZATION_FILE = "organization.yaml"
# written by ``mailflow directory sync``; what organization.yaml says about the same person or
# department wins over it
SYNCED_FILE = "organization.synced.yaml"
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")

_AUTHSERV = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")

Email = Annotated[str, Field(pattern=EMAIL.pattern)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrganizationInfo(_Strict):
    name: str
    shared_address: Email
    internal_domains: list[str] = Field(min_length=1)
    timezone: str = "Asia/Shanghai"
    work_hours: str = Field(
        default="09:00-18:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"
    )
    require_authentication: bool = False
    # who hears about broken rule edits and mail that could not be delivered
    administrators: list[Email] = []
    # the authserv-id the organisation's receiving server writes in Authentication-Results
    # (RFC 8601 §5): only its headers are read, all others ignored
    authserv_id: str = Field(default="mx.example.com", pattern=_AUTHSERV.pattern)
    # more receiving servers of the organisation (a second MX), read like authserv_id
    trusted_authserv_ids: list[Annotated[str, Field(pattern=_AUTHSERV.pattern)]] = []
    # company days off on top of the PRC statutory holidays (公司自定休息日)
    days_off: list[date] = []
    # PRC statutory days off and 调休 workdays per year, for years chinese-calendar does not
    # know yet (rulebook/statutory.py); they win over the package
    statutory_calendar: dict[int, StatutoryYear] = {}

    @field_validator("work_hours")
    @classmethod
    def _start_before_end(cls, value: str) -> str:
        start, end = value.split("-")
        if start >= end:
            raise ValueError(f"work_hours {value!r} must start before it ends")
        return value

    def authserv_ids(self) -> frozenset[str]:
        """Return every authserv-id whose Authentication-Results count, lower-cased."""
        return frozenset(s.lower() for s in (self.authserv_id, *self.trusted_authserv_ids))

    def work_times(self) -> tuple[time, time]:
        """Return the start and end of the working day."""
        start, end = self.work_hours.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (write e.g. Asia/Shanghai)") from None
        return value


class Department(_Strict):
    aliases: list[str] = []
    managers: list[Email] = []


class Person(_Strict):
    name: str
    email: Email
    department: str | None = None
    # other addresses of the same person (Active Directory's proxyAddresses, old domains)
    aliases: list[Email] = []

    def addresses(self) -> tuple[str, ...]:
        """Return the person's main address and aliases, lower-cased."""
        return (self.email.lower(), *(a.lower() for a in self.aliases))


@dataclass(frozen=True)
class DirectoryIndex:
    """The directory's lookups by lower-cased address, built once per loaded organisation, so
    that what each mail asks of it costs the same for 16 people as for 10,000."""

    # a person's main address -> canonical department, from the first person listed with one
    departments: dict[str, str]
    # a person's main address -> name, from the first person listed
    names: dict[str, str]
    # everyone the directory names: people (main addresses) and managers
    addresses: frozenset[str]


class Organization(_Strict):
    """The whole ``organization.yaml``."""

    organization: OrganizationInfo
    departments: dict[str, Department] = {}
    people: list[Person] = []
    directory_sync: DirectorySync | None = None

    def department_names(self) -> dict[str, str]:
        """Return every department name and alias mapped to its canonical name."""
        names = {name: name for name in self.departments}
        for name, dept in self.departments.items():
            names.update({alias: name for alias in dept.aliases})
        return names

    @cached_property
    def index(self) -> DirectoryIndex:
        """Return the directory's lookups by address (built on first use)."""
        canonical = self.department_names()
        departments: dict[str, str] = {}
        names: dict[str, str] = {}
        for person in self.people:
            address = person.email.lower()
            names.setdefault(address, person.name)
            if person.department:
                departments.setdefault(address, canonical.get(person.department, person.department))
        managers = {m.lower() for d in self.departments.values() for m in d.managers}
        return DirectoryIndex(departments, names, frozenset(names.keys() | managers))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Return a copy, without the lookups built for this one (``index``)."""
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop("index", None)
        return copied


class SyncedDirectory(_Strict):
    """The whole ``organization.synced.yaml``: what the last directory sync found."""

    synced_at: str | None = None
    source: str | None = None
    departments: dict[str, Department] = {}
    people: list[Person] = []


def load_organization(rules_dir: Path) -> Organization:
    """Return the validated organisation, merged with the synced directory when there is one.

    Raises RuleFileError listing every problem of both files as ``file:line: message``.
    """
    path = rules_dir / ORGANIZATION_FILE
    data, locator = load_yaml(path)
    try:
        org = Organization.model_validate(data if data is not None else {})
    except ValidationError as e:
        raise RuleFileError(
            [locator.problem(err["loc"], _message(err)) for err in e.errors()]
        ) from None
    synced, synced_locator = _load_synced(rules_dir)
    merged = merge_synced(org, synced) if synced is not None else org
    kept = _kept_synced(org, synced) if synced is not None else []
    n_synced = len(kept)
    problems = []
    for loc, msg in _cross_check(merged):
        if loc[0] == "people" and isinstance(loc[1], int):
            index = loc[1]
            if index < n_synced and synced_locator is not None:
                problems.append(synced_locator.problem(("people", kept[index]), msg))
                continue
            loc = ("people", index - n_synced, *loc[2:])
        problems.append(locator.problem(loc, msg))
    if problems:
        raise RuleFileError(problems)
    return merged


def load_synced(rules_dir: Path) -> SyncedDirectory | None:
    """Return the synced directory of ``rules_dir``, or None when no sync has written one."""
    return _load_synced(rules_dir)[0]


def _load_synced(rules_dir: Path) -> tuple[SyncedDirectory | None, Locator | None]:
    path = rules_dir / SYNCED_FILE
    if not path.is_file():
        return None, None
    data, locator = load_yaml(path)
    try:
        return SyncedDirectory.model_validate(data if data is not None else {}), locator
    except ValidationError as e:
        raise RuleFileError(
            [locator.problem(err["loc"], _message(err)) for err in e.errors()]
        ) from None


def merge_synced(org: Organization, synced: SyncedDirectory) -> Organization:
    """Return ``org`` with the synced people and departments it does not itself name.

    Hand-written entries win: a department written in organization.yaml replaces the synced
    one of that name, and a person written there replaces every synced person sharing one of
    their addresses. Synced departments come first, so hand-written ones keep their order last.
    """
    departments = {**synced.departments, **org.departments}
    people = [synced.people[i] for i in _kept_synced(org, synced)]
    return org.model_copy(update={"departments": departments, "people": people + org.people})


def _kept_synced(org: Organization, synced: SyncedDirectory) -> list[int]:
    """Return the indexes of the synced people that no hand-written person replaces."""
    written = {a for p in org.people for a in p.addresses()}
    return [i for i, p in enumerate(synced.people) if not written.intersection(p.addresses())]


def _message(err: object) -> str:
    assert isinstance(err, dict)
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown key {loc!r}"
    if err["type"] == "missing":
        return f"{loc}: required but missing"
    if err["type"] == "string_pattern_mismatch" and err["ctx"].get("pattern") == EMAIL.pattern:
        return f"{loc}: {err['input']!r} is not an e-mail address"
    if err["type"] == "string_pattern_mismatch" and err["ctx"].get("pattern") == _AUTHSERV.pattern:
        return f"{loc}: {err['input']!r} is not a server name (write e.g. mx.example.com)"
    return f"{loc}: {err['msg']}"


def _cross_check(org: Organization) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = [
        (("organization", "statutory_calendar", *loc), message)
        for loc, message in check_years(org.organization.statutory_calendar)
    ]
    seen: dict[str, str] = {}
    for name, dept in org.departments.items():
        for alias in [name, *dept.aliases]:
            if alias in seen and seen[alias] != name:
                problems.append(
                    (("departments", name), f"{alias!r} names both {seen[alias]} and {name}")
                )
            seen[alias] = name
    for i, person in enumerate(org.people):
        if person.department and person.department not in seen:
            problems.append(
                (("people", i, "department"), f"unknown department {person.department!r}")
            )
    return problems
