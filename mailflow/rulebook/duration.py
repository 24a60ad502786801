"""Durations as administrators write them: ``24h``, ``3 business days``, ``3个工作日``.

``parse_duration`` is pure and returns a frozen ``Duration``; the scheduler later turns it into
an instant with the business calendar (``mailflow.mail.calendar``), so nothing here knows about
holidays. Imports nothing of mailflow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

MINUTES, HOURS, DAYS = "minutes", "hours", "days"

_UNITS = {
    "m": MINUTES,
    "min": MINUTES,
    "mins": MINUTES,
    "minute": MINUTES,
    "minutes": MINUTES,
    "分钟": MINUTES,
    "h": HOURS,
    "hr": HOURS,
    "hrs": HOURS,
    "hour": HOURS,
    "hours": HOURS,
    "小时": HOURS,
    "个小时": HOURS,
    "d": DAYS,
    "day": DAYS,
    "days": DAYS,
    "天": DAYS,
}
# Chinese business units: 3个工作日, 16个工作小时 / 16工作小时
_BUSINESS_UNITS = {"工作日": DAYS, "个工作日": DAYS, "工作小时": HOURS, "个工作小时": HOURS}
_FORM = re.compile(r"^\s*(\d{1,5})\s*(business\s+)?([a-z\u4e00-\u9fff]+)\s*$", re.IGNORECASE)
EXAMPLES = "24h, 30m, 3d, 3 business days, 16 business hours, 24小时, 3个工作日"


@dataclass(frozen=True)
class Duration:
    """A span of time; ``business`` spans count only working hours or working days."""

    value: int
    unit: str  # MINUTES, HOURS or DAYS
    business: bool = False

    def __str__(self) -> str:
        unit = self.unit if self.value != 1 else self.unit[:-1]
        return f"{self.value} {'business ' if self.business else ''}{unit}"

    def timedelta(self) -> timedelta:
        """Return the calendar span; raise ValueError for business spans (they need a calendar)."""
        if self.business:
            raise ValueError(f"{self} depends on the business calendar")
        return timedelta(**{self.unit: self.value})


def parse_duration(text: str) -> Duration:
    """Return the duration ``text`` names; raise ValueError saying what is accepted."""
    match = _FORM.match(str(text))
    if match is None:
        raise ValueError(f"{text!r} is not a duration (write e.g. {EXAMPLES})")
    value, business, word = int(match.group(1)), bool(match.group(2)), match.group(3).lower()
    unit: str | None = _UNITS.get(word)
    if word in _BUSINESS_UNITS and not business:
        unit, business = _BUSINESS_UNITS[word], True
    if unit is None:
        raise ValueError(f"{text!r}: unknown unit {word!r} (write e.g. {EXAMPLES})")
    if business and unit == MINUTES:
        raise ValueError(f"{text!r}: business time counts hours or days, not minutes")
    if value == 0:
        raise ValueError(f"{text!r}: a duration must be longer than zero")
    return Duration(value, unit, business)
