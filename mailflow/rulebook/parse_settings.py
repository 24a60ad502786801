"""Turns the organisation and the settings into the parser's ParseContext."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from mailflow.errors import ConfigurationError
from mailflow.mail.model import ParseContext, Person
from mailflow.rulebook.organization import Organization
from mailflow.rulebook.statutory import statutory_days
from mailflow.settings import Settings


def parse_context(org: Organization, settings: Settings) -> ParseContext:
    """Return what the parser needs; MAILFLOW_TIMEZONE wins over the rules' timezone."""
    tz_name = settings.timezone or org.organization.timezone
    try:
        tz = ZoneInfo(tz_name)
    except Exception as e:
        raise ConfigurationError(f"MAILFLOW_TIMEZONE: unknown timezone {tz_name!r}") from e
    work_start, work_end = org.organization.work_times()
    names = org.department_names()
    return ParseContext(
        timezone=tz,
        departments=names,
        own_addresses=frozenset({org.organization.shared_address.lower()}),
        limits=settings.limits,
        people=tuple(
            Person(p.name, p.email.lower(), names.get(p.department or "")) for p in org.people
        ),
        days_off=frozenset(org.organization.days_off),
        work_start=work_start,
        work_end=work_end,
        statutory=statutory_days(org.organization.statutory_calendar),
    )
