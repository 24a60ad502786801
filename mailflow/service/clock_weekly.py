"""The weekly clock: each department's managers get the week's 内部沟通记录表 and digest once a
week, on the rules' day (moved to the next workday by a holiday), when there is something."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.calendar import BusinessCalendar
from mailflow.rulebook.clocks import WEEKDAYS
from mailflow.service.clock_sweep import ClockSweep, Due
from mailflow.service.comm_record import record_rows
from mailflow.service.digest import digest

# a week's record missed by more than this waits for next week's
WEEKLY_GRACE = timedelta(days=1)


def weekly_records(sessions: sessionmaker[Session], work: ClockSweep) -> Iterator[Due]:
    """Each department's managers get the week's record once a week, when there is something."""
    clock = work.rulebook.clocks.weekly_record
    if not clock.enabled:
        return
    tz = work.ctx.timezone
    today = work.now.astimezone(tz).date()
    planned_day = today - timedelta(days=(today.weekday() - WEEKDAYS.index(clock.day)) % 7)
    slot_day = _workday_from(planned_day, work.calendar)  # a holiday moves it to the next workday
    slot = datetime.combine(slot_day, time.fromisoformat(clock.at), tzinfo=tz)
    if work.now < slot or work.now - slot > WEEKLY_GRACE:
        return  # a week's record missed by more than a day waits for next week's
    week = planned_day.isocalendar()
    org = work.rulebook.organization
    for department, info in org.departments.items():
        if not info.managers:
            continue
        data = digest(
            sessions,
            department=department,
            now=work.now,
            org=org,
            tz=tz,
            complaint_reasons=work.rulebook.clocks.complaint.reasons,
        )
        if not any(data["counts"].values()):
            continue
        rows = record_rows(
            sessions,
            start=slot_day - timedelta(days=6),
            end=slot_day,
            department=department,
            org=org,
            tz=tz,
            now=work.now,
        )
        label = f"{week.year}-W{week.week:02d}"
        files = [
            {
                "type": "xlsx",
                "title": f"内部沟通记录表 {department} {label}",
                "filename": f"内部沟通记录表_{department}_{slot_day:%Y%m%d}.xlsx",
                "rows": [row.labelled() for row in rows],
            }
        ]
        managers = [m.lower() for m in info.managers]
        row = work.mail(
            ("weekly-record", department, label),
            "weekly_digest",
            managers,
            [],
            None,
            {"digest": data, "files": files, "department": department},
        )
        yield Due(slot, row)


def _workday_from(day: date, calendar: BusinessCalendar) -> date:
    """Return ``day`` when it is a workday, else the next workday."""
    return day if calendar.is_workday(day) else calendar.next_workday(day)
