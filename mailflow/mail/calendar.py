"""The organisation's business calendar: PRC workdays, company days off and work hours.

Statutory holidays and the adjusted working weekends (调休) come from the ``chinese-calendar``
package. That package only knows the years the State Council has announced (and a release
shipped); for any other year this calendar falls back to *weekends only* (Monday to Friday are
workdays) instead of failing, and ``covers(year)`` tells a caller whether the real data was
used. Administrators fill that gap in ``organization.yaml`` (``statutory_calendar``): the
statutory days off and adjusted working days (调休上班) they write win over the package, and
``knows(year)`` is true for a year either describes. Company days off
(``ParseContext.days_off``) are never workdays, whatever the statutory calendar says.

Work hours are wall-clock times in the organisation's timezone, one unbroken span per workday
(``work_start`` to ``work_end``); business-hour arithmetic counts only time inside that span on
workdays. Everything here is pure and deterministic: the deadline reader, the scheduler's
reminders and SLA clocks all use the same rules. Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

from mailflow.mail.model import ParseContext, StatutoryDays

__all__ = ["BusinessCalendar"]

_ONE_DAY = timedelta(days=1)


# chinese_calendar.is_workday recomputes the min and max of its whole table on every call
# (~50 µs); deadlines, reminders and SLA clocks ask about the same few hundred days again and again
@lru_cache(maxsize=8192)
def _statutory_workday(day: date) -> bool:
    """Return whether ``day`` is a PRC workday, or a weekday where the package has no data."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year outside the package's data: weekends-only fallback
        return day.weekday() < 5


@dataclass(frozen=True)
class BusinessCalendar:
    """Workdays and work hours of one organisation; immutable and safe to share."""

    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    days_off: frozenset[date] = frozenset()
    work_start: time = time(9, 0)
    work_end: time = time(18, 0)
    statutory: StatutoryDays = field(default_factory=StatutoryDays)

    def __post_init__(self) -> None:
        if self.work_start >= self.work_end:
            raise ValueError(
                f"work hours must start before they end: {self.work_start}-{self.work_end}"
            )

    @classmethod
    def from_context(cls, ctx: ParseContext) -> BusinessCalendar:
        """Return the calendar the parse context describes (timezone, days off, work hours,
        the statutory days the rules add)."""
        return cls(ctx.timezone, ctx.days_off, ctx.work_start, ctx.work_end, ctx.statutory)

    # --- days -------------------------------------------------------------------------------

    @staticmethod
    def covers(year: int) -> bool:
        """Return whether the package's statutory holiday data knows ``year``."""
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
        except NotImplementedError:
            return False
        return True

    def knows(self, year: int) -> bool:
        """Return whether ``year``'s statutory holidays are known, from the package or the
        rules (else that year counts weekends only)."""
        return year in self.statutory.years or self.covers(year)

    def is_workday(self, day: date) -> bool:
        """Return whether ``day`` is a workday: PRC calendar with 调休 (the rules' statutory days
        first, then the package), minus company days off."""
        if day in self.days_off:
            return False
        if day in self.statutory.workdays:
            return True
        return day not in self.statutory.days_off and _statutory_workday(day)

    def next_workday(self, day: date) -> date:
        """Return the first workday strictly after ``day``."""
        day += _ONE_DAY
        while not self.is_workday(day):
            day += _ONE_DAY
        return day

    def previous_workday(self, day: date) -> date:
        """Return the last workday strictly before ``day``."""
        day -= _ONE_DAY
        while not self.is_workday(day):
            day -= _ONE_DAY
        return day

    def add_workdays(self, day: date, count: int) -> date:
        """Return the ``count``-th workday after ``day`` (before it when negative).

        ``day`` itself is never counted, so ``add_workdays(d, 3)`` is the third workday after
        ``d`` ("3个工作日内" written on ``d``) and ``add_workdays(d, -3)`` the third before it (a
        reminder 3 business days ahead). ``count == 0`` returns ``day`` unchanged.
        """
        step = self.next_workday if count > 0 else self.previous_workday
        for _ in range(abs(count)):
            day = step(day)
        return day

    def workdays_between(self, start: date, end: date) -> int:
        """Return how many workdays lie in ``(start, end]`` (negative when ``end`` is earlier)."""
        if end < start:
            return -self.workdays_between(end, start)
        return sum(
            1 for n in range(1, (end - start).days + 1) if self.is_workday(start + n * _ONE_DAY)
        )

    # --- moments ----------------------------------------------------------------------------

    def at(self, day: date, clock: time) -> datetime:
        """Return the aware moment ``clock`` on ``day`` in the organisation's timezone."""
        return datetime.combine(day, clock, self.timezone)

    def due_moment(self, deadline: date | datetime) -> datetime:
        """Return when a deadline falls due: a bare day means the end of work hours that day."""
        if isinstance(deadline, datetime):
            return deadline.astimezone(self.timezone)
        return self.at(deadline, self.work_end)

    def is_working_time(self, moment: datetime) -> bool:
        """Return whether the aware ``moment`` lies inside work hours on a workday."""
        local = moment.astimezone(self.timezone)
        clock = local.time().replace(tzinfo=None)
        return self.is_workday(local.date()) and self.work_start <= clock < self.work_end

    def next_working_moment(self, moment: datetime) -> datetime:
        """Return ``moment`` if it is working time, else the start of the next work span."""
        local = moment.astimezone(self.timezone)
        day, clock = local.date(), local.time().replace(tzinfo=None)
        if self.is_workday(day) and clock < self.work_end:
            return local if clock >= self.work_start else self.at(day, self.work_start)
        return self.at(self.next_workday(day), self.work_start)

    def add_business_hours(self, moment: datetime, duration: timedelta) -> datetime:
        """Return the moment ``duration`` of working time after the aware ``moment``.

        Time outside work hours and on non-workdays does not count; a result that lands exactly
        on the end of a work span stays there. Raises ``ValueError`` for a negative duration.
        """
        if duration < timedelta(0):
            raise ValueError(f"business hours cannot be negative: {duration}")
        current, remaining = self.next_working_moment(moment), duration
        while True:
            available = self.at(current.date(), self.work_end) - current
            if remaining <= available:
                return current + remaining
            remaining -= available
            current = self.at(self.next_workday(current.date()), self.work_start)

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Return the working time inside ``[start, end)``; zero when ``end`` is not later."""
        start, end = start.astimezone(self.timezone), end.astimezone(self.timezone)
        total, day = timedelta(0), start.date()
        while day <= end.date():
            if self.is_workday(day):
                lo = max(start, self.at(day, self.work_start))
                hi = min(end, self.at(day, self.work_end))
                total += max(hi - lo, timedelta(0))
            day += _ONE_DAY
        return total
