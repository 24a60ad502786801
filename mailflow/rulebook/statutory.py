"""PRC statutory holidays and adjusted working days that administrators write themselves.

The ``chinese-calendar`` package knows only the years a release has shipped; the State Council
announces next year's arrangement each November or December. ``organization.yaml`` carries the
years the package does not know yet, under ``organization.statutory_calendar``::

    statutory_calendar:
      2027:
        days_off: [2027-01-01, 2027-02-06..2027-02-13]   # 放假
        workdays: [2027-02-14, 2027-02-20]               # 调休上班

Its entries win over the package (so they can also correct it). ``calendar_gaps`` says which
of this year and the next neither describes, for ``mailflow rules check`` to warn about.
Pure: imports nothing of storage, sources or jobs.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from mailflow.mail.calendar import BusinessCalendar
from mailflow.mail.model import StatutoryDays
from mailflow.rulebook.yamlfile import load_yaml

RANGE_SEPARATOR = ".."
_LONGEST_BREAK = timedelta(days=31)  # no statutory break is longer; a longer range is a typo
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _days(value: object) -> tuple[date, date]:
    """Read one entry: a date (YAML reads 2027-01-01 as one) or ``first..last``."""
    if isinstance(value, date):
        return value, value
    text = str(value).strip()
    first, sep, last = text.partition(RANGE_SEPARATOR)
    parts = [first.strip(), last.strip()] if sep else [text]
    if not all(_DATE.match(p) for p in parts):
        raise ValueError(
            f"{text!r} is neither a date nor a range of dates (write 2027-01-01 or"
            f" 2027-02-06{RANGE_SEPARATOR}2027-02-13)"
        )
    try:
        start, end = date.fromisoformat(parts[0]), date.fromisoformat(parts[-1])
    except ValueError as e:
        raise ValueError(f"{text!r}: {e}") from None
    if end < start:
        raise ValueError(f"{text!r} ends before it starts")
    if end - start > _LONGEST_BREAK:
        raise ValueError(f"{text!r} spans more than a month; is a year or month mistyped?")
    return start, end


Days = Annotated[tuple[date, date], BeforeValidator(_days)]


class StatutoryYear(BaseModel):
    """One year's arrangement as the State Council's notice gives it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # 放假: statutory holidays and the weekend days added to them
    days_off: list[Days] = []
    # 调休上班: weekend days that are working days
    workdays: list[Days] = []

    def off(self) -> frozenset[date]:
        """Return every day off the entries name."""
        return _expand(self.days_off)

    def working(self) -> frozenset[date]:
        """Return every adjusted working day the entries name."""
        return _expand(self.workdays)


def _expand(spans: list[tuple[date, date]]) -> frozenset[date]:
    return frozenset(
        start + timedelta(days=n) for start, end in spans for n in range((end - start).days + 1)
    )


def check_years(years: dict[int, StatutoryYear]) -> list[tuple[tuple[str | int, ...], str]]:
    """Return (path under the years, message) for every day written under another year and
    every workday that is also a day off."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for year, entry in years.items():
        for field in ("days_off", "workdays"):
            for i, (start, end) in enumerate(getattr(entry, field)):
                if start.year != year or end.year != year:
                    where = f"{start}{RANGE_SEPARATOR}{end}" if end != start else str(start)
                    problems.append(((year, field, i), f"{where} is not in {year}"))
        off = entry.off()
        for i, span in enumerate(entry.workdays):
            both = sorted(off & _expand([span]))
            if both:
                message = f"{both[0]} is both a day off and a workday"
                problems.append(((year, "workdays", i), message))
    return problems


def statutory_days(years: dict[int, StatutoryYear]) -> StatutoryDays:
    """Return the days the rules add to the statutory calendar, for the parse context."""
    return StatutoryDays(
        years=frozenset(years),
        days_off=frozenset().union(*(y.off() for y in years.values())),
        workdays=frozenset().union(*(y.working() for y in years.values())),
    )


def calendar_gaps(calendar: BusinessCalendar, today: date) -> list[int]:
    """Return which of ``today``'s year and the next neither the package nor the rules know."""
    return [year for year in (today.year, today.year + 1) if not calendar.knows(year)]


def calendar_warnings(
    organization_file: Path, calendar: BusinessCalendar, today: date
) -> list[str]:
    """Return a warning for each of ``today``'s year and the next that nobody knows, each
    pointing at the line of ``organization_file`` to add it under."""
    gaps = calendar_gaps(calendar, today)
    if not gaps:
        return []
    line = load_yaml(organization_file)[1].line(("organization", "statutory_calendar"))
    return [gap_warning(year, f"{organization_file}:{line}") for year in gaps]


def gap_warning(year: int, where: str) -> str:
    """Return the warning for a year nobody knows: its consequence and exactly what to add."""
    return (
        f"{where}: warning: the PRC statutory holidays of {year} are unknown (the"
        f" chinese-calendar package has no data for {year} and organization.yaml no"
        f" statutory_calendar entry): deadlines, reminders and SLA clocks in {year} count"
        f" weekends only (Monday to Friday are workdays, 元旦, 春节 and the other holidays are"
        f" not days off, 调休 weekends are not workdays). Add under `organization:` in"
        f" organization.yaml, from the State Council's notice (国务院办公厅关于{year}年部分节假日"
        f"安排的通知):\n"
        f"  statutory_calendar:\n"
        f"    {year}:\n"
        f"      days_off: [{year}-01-01, {year}-MM-DD{RANGE_SEPARATOR}{year}-MM-DD, ...]"
        f"   # 放假\n"
        f"      workdays: [{year}-MM-DD, ...]   # 调休上班\n"
        f"  or upgrade chinese-calendar once a release knows {year}."
    )
