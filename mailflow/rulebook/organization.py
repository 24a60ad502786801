"""The organisation's directory: name, shared address, domains, timezone, departments, people.

Read from ``organization.yaml`` in the rules folder and validated with pydantic; every problem
comes back as ``file:line: message``. Later rule files (matching and actions) build on this.
"""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mailflow.errors import RuleFileError
from mailflow.rulebook.yamlfile import load_yaml

ORGANIZATION_FILE = "organization.yaml"
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")

_AUTHSERV = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")

Email = Annotated[str, Field(pattern=_EMAIL.pattern)]


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


class Organization(_Strict):
    """The whole ``organization.yaml``."""

    organization: OrganizationInfo
    departments: dict[str, Department] = {}
    people: list[Person] = []

    def department_names(self) -> dict[str, str]:
        """Return every department name and alias mapped to its canonical name."""
        names = {name: name for name in self.departments}
        for name, dept in self.departments.items():
            names.update({alias: name for alias in dept.aliases})
        return names


def load_organization(rules_dir: Path) -> Organization:
    """Return the validated organisation; raise RuleFileError listing every problem."""
    path = rules_dir / ORGANIZATION_FILE
    data, locator = load_yaml(path)
    try:
        org = Organization.model_validate(data if data is not None else {})
    except ValidationError as e:
        raise RuleFileError(
            [locator.problem(err["loc"], _message(err)) for err in e.errors()]
        ) from None
    problems = [locator.problem(loc, msg) for loc, msg in _cross_check(org)]
    if problems:
        raise RuleFileError(problems)
    return org


def _message(err: object) -> str:
    assert isinstance(err, dict)
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown key {loc!r}"
    if err["type"] == "missing":
        return f"{loc}: required but missing"
    if err["type"] == "string_pattern_mismatch" and err["ctx"].get("pattern") == _EMAIL.pattern:
        return f"{loc}: {err['input']!r} is not an e-mail address"
    if err["type"] == "string_pattern_mismatch" and err["ctx"].get("pattern") == _AUTHSERV.pattern:
        return f"{loc}: {err['input']!r} is not a server name (write e.g. mx.example.com)"
    return f"{loc}: {err['msg']}"


def _cross_check(org: Organization) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
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
