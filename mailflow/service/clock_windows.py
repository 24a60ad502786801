"""Which stored instants a sweep's clocks can be due for.

A sweep at ``now`` writes a stage whose moment lies in [now - stale_after, now]. Each moment is
a function of a stored instant (an item's deadline, a ledger's due time, a complaint's date)
that never decreases within a local day: the deadline itself, a few business days before or
after it, the reminder time on its day. So the instants whose stage can be due are found by
scanning the days around ``now`` and bisecting the first and the last of them, and the sweep's
queries read only the rows in that range (a second wider on each side, never narrower) whose
mail is not in the outbox yet. Which of them is due is still decided row by row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from mailflow.mail.calendar import BusinessCalendar
from mailflow.rulebook.clocks import Clocks
from mailflow.rulebook.duration import Duration
from mailflow.service.decide import due_after

Moment = Callable[[datetime], datetime]
Range = tuple[datetime, datetime]

PRECISION = timedelta(seconds=1)
# the days scanned beyond what a clock's own duration spans (holidays, weekends)
MARGIN = timedelta(days=30)


def reach(duration: Duration | None) -> timedelta:
    """Return how far from its moment an instant can lie for a clock of ``duration``: a
    business span of n days or hours (a workday has at least an hour) is two calendar days
    for each, and a margin."""
    if duration is None:
        return MARGIN
    if duration.business:
        return timedelta(days=2 * duration.value) + MARGIN
    return duration.timedelta() + MARGIN


def instants_due(
    moment: Moment, low: datetime, high: datetime, span: timedelta, tz: tzinfo
) -> tuple[Range, ...]:
    """Return the ranges of instants ``x`` within ``span`` of [low, high] that hold every ``x``
    with ``low <= moment(x) <= high``, each widened by a second; none when there is none.

    ``moment`` must not decrease within a day in ``tz``; it may jump back across midnight, as
    "the same time, n workdays later" does from a Friday evening (the next Monday evening) to
    Saturday morning (Monday morning), so each day gives its own range, joined to the day
    before when they touch."""
    found: list[Range] = []
    day = (low - span).astimezone(tz).date()
    end = (high + span).astimezone(tz).date()
    while day <= end:
        start = datetime.combine(day, time(0), tz)
        day += timedelta(days=1)
        stop = datetime.combine(day, time(0), tz) - PRECISION
        at_start, at_stop = moment(start), moment(stop)
        if at_stop < low or at_start > high:
            continue
        a = start if at_start >= low else _edge(moment, start, stop, lambda v: v >= low)[1]
        b = stop if at_stop <= high else _edge(moment, start, stop, lambda v: v > high)[0]
        a, b = a - PRECISION, b + PRECISION
        if found and found[-1][1] >= a:
            found[-1] = (found[-1][0], b)
        else:
            found.append((a, b))
    return tuple(found)


def clip(ranges: tuple[Range, ...], low: datetime | None, high: datetime | None) -> (
    tuple[Range, ...]
):  # fmt: skip
    """Return ``ranges`` cut to [low, high] (None: open on that side), empty ones left out."""
    cut = [
        (max(a, low) if low else a, min(b, high) if high else b) for a, b in ranges
    ]  # fmt: skip
    return tuple((a, b) for a, b in cut if a <= b)


def _edge(
    moment: Moment, start: datetime, stop: datetime, past: Callable[[datetime], bool]
) -> tuple[datetime, datetime]:
    """Return instants a second apart between which ``past(moment(x))`` turns true, given
    that it is false at ``start`` and true at ``stop``."""
    while stop - start > PRECISION:
        middle = start + (stop - start) / 2
        if past(moment(middle)):
            stop = middle
        else:
            start = middle
    return start, stop


def before(calendar: BusinessCalendar, moment: datetime, duration: Duration, at: time) -> datetime:
    """Return ``duration`` before ``moment``: business days land on ``at`` of that workday."""
    if duration.business and duration.unit == "days":
        local = moment.astimezone(calendar.timezone).date()
        return calendar.at(calendar.add_workdays(local, -duration.value), at)
    return moment - duration.timedelta()


@dataclass(frozen=True)
class Windows:
    """The ranges of stored instants each clock can be due for in one sweep (None: none)."""

    deadlines: tuple[tuple[str, tuple[Range, ...]], ...]  # (stage, deadlines)
    remind: tuple[Range, ...]  # ledgers' due times, for the reminders
    escalate: tuple[Range, ...]  # ledgers' due times, for the escalations
    objections: Range  # when the objections were made
    complaints_dated: datetime | None  # complaints dated from then on can be escalated
    complaints_active: datetime | None  # complaints whose thread has mail since can be revisited


def windows(clocks: Clocks, calendar: BusinessCalendar, now: datetime) -> Windows:
    """Return what the clocks can be due for in a sweep at ``now``."""
    stale = clocks.stale_after.timedelta()
    low, tz = now - stale, calendar.timezone
    deadline, at = clocks.deadline, time.fromisoformat(clocks.deadline.remind_on_day_at)

    def find(moment: Moment, duration: Duration | None) -> tuple[Range, ...]:
        return instants_due(moment, low, now, reach(duration), tz)

    def on_the_day(due: datetime) -> datetime:
        return datetime.combine(due.astimezone(tz).date(), at, tzinfo=tz)

    # the reminders are for deadlines still ahead (the first one for those after today), the
    # notices for those passed
    tomorrow = datetime.combine(now.astimezone(tz).date() + timedelta(days=1), time(0), tz)
    stages = {
        "deadline-before": clip(
            find(
                lambda due: before(calendar, due, deadline.remind_before, at),
                deadline.remind_before,
            ),
            tomorrow,
            None,
        ),
        "deadline-today": clip(find(on_the_day, None), now, None),
        "deadline-overdue": ((low, now),),
        "deadline-escalation": clip(
            find(
                lambda due: due_after(due, deadline.escalate_after, calendar),
                deadline.escalate_after,
            ),
            None,
            now,
        ),
    }
    confirmation, complaint = clocks.confirmation, clocks.complaint
    escalate = find(
        lambda due: due_after(due, confirmation.escalate_after, calendar),
        confirmation.escalate_after,
    )
    dated = find(
        lambda day: due_after(day, complaint.answer_within, calendar), complaint.answer_within
    )
    active = find(
        lambda day: due_after(day, complaint.revisit_after, calendar), complaint.revisit_after
    )
    return Windows(
        deadlines=tuple((stage, found) for stage, found in stages.items() if found),
        remind=((low, now),) if confirmation.remind else (),
        escalate=escalate,
        objections=(low, now),
        complaints_dated=dated[0][0] if dated else None,
        complaints_active=active[0][0] if active else None,
    )
