"""Action items written as English sentences: ``Kevin to send the runbook by May 24``.

A unit is an item when it opens with a name (``names`` finds it: directory, participants,
English names, titled Chinese names) followed by ``to``, ``will``, ``shall``, ``should``,
``needs to`` or ``is to`` and a verb. ``by``/``before``/``no later than`` introduces the
deadline: weekdays (``by Friday``, ``Tuesday next week``, ``next Tuesday``), month and day
(``May 24``, ``24 May``), ``today``, ``tomorrow``, ``end of week/month``, or any form the
Chinese date reader knows (``2026-11-20``). The object of send, deliver, submit, provide,
share or circulate is the deliverable. Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from mailflow.mail.calendar import BusinessCalendar
from mailflow.mail.dates import find_deadline

_MODAL = r"(?:to|will|shall|should|must|needs? to|has to|have to|is to|are to|please)"
_WHEN = re.compile(
    r"(?i)\s+(?:by|before|no later than|on or before|due)\s+(?P<when>[^,;]+?)\s*[.;!]?$"
)
_DELIVER = re.compile(
    r"(?i)^(?:send|deliver|submit|provide|share|circulate|return|hand in|file)\s+"
    r"(?:over\s+|out\s+)?(?:(?:the|a|an|our|their|his|her|your)\s+)?(?P<what>.+?)"
    r"(?:\s+(?:to|with|for)\s+.+)?$"
)
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = (
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
)  # fmt: skip
_MONTH_DAY = re.compile(r"(?i)^(?P<m>[a-z]{3})[a-z]*\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?\b")
_DAY_MONTH = re.compile(r"(?i)^(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?P<m>[a-z]{3})[a-z]*\b")


def modal() -> str:
    """Return the pattern of what joins an English owner to the task (``to``, ``will``...)."""
    return _MODAL


def split_when(text: str) -> tuple[str, str | None]:
    """Return the text without its ``by …`` phrase, and that phrase's date words."""
    m = _WHEN.search(text)
    return (text[: m.start()], m["when"]) if m else (text.rstrip(" .;!"), None)


def _weekday(words: str, today: date) -> date | None:
    for i, day in enumerate(_DAYS):
        if day in words or re.search(rf"\b{day[:3]}\b", words):
            ahead = (i - today.weekday()) % 7
            if "next week" in words or "next" in words.split()[:1]:
                return today + timedelta(days=7 - today.weekday() + i)
            return today + timedelta(days=ahead)
    return None


def english_deadline(
    words: str, sent_at: datetime | None, calendar: BusinessCalendar
) -> date | datetime | None:
    """Return the day ``words`` (what follows ``by``) names, or None when it names none."""
    low = words.lower().strip()
    found = find_deadline(words, sent_at, calendar, field=True)
    if found is not None and found.value is not None:
        return found.value
    if sent_at is None:
        return None
    today = sent_at.astimezone(calendar.timezone).date()
    if low.startswith(("today", "eod", "end of day", "cob", "close of business")):
        return today
    if low.startswith("tomorrow"):
        return today + timedelta(days=1)
    if "end of" in low and "month" in low:
        return (today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if "end of" in low and "week" in low:
        return today + timedelta(days=4 - today.weekday())
    if (m := _MONTH_DAY.match(low) or _DAY_MONTH.match(low)) and m["m"] in _MONTHS:
        try:
            day = date(today.year, _MONTHS.index(m["m"]) + 1, int(m["d"]))
        except ValueError:
            return None
        return day if day >= today - timedelta(days=61) else day.replace(year=day.year + 1)
    return _weekday(low, today)


def deliverable_of(task: str) -> str | None:
    """Return the object of a delivery verb opening ``task``, or None."""
    m = _DELIVER.match(task.strip())
    return m["what"].strip() if m else None
