"""An action item's deadline as an iCalendar file that Outlook imports into the calendar.

Why a VEVENT with ``METHOD:PUBLISH`` and not a VTODO: Outlook does not import VTODO from an .ics
file into its task list (other clients differ), while a published VEVENT lands in every
calendar we know of without asking the owner to accept an invitation. ``PUBLISH`` (RFC 5546
§3.2.1) requires an ORGANIZER and forbids ATTENDEE, so the people concerned are listed as
CONTACT lines instead: a REQUEST with attendees would turn a reminder into a meeting that wants
a reply. A bare date becomes an all-day event on that day; a date-time becomes a 30-minute event
that ends at the deadline, written in UTC so that no client has to map a time-zone name. Both
are TRANSPARENT (they do not make the owner look busy) and carry a display alarm.

The bytes depend only on the spec: DTSTAMP comes from the spec's ``stamp`` (or, without one,
from the deadline itself) and the UID is the spec's ``uid``, so a resend is byte-identical and a
re-import updates the same entry (raise ``sequence`` when the deadline moves).
Imports nothing of mailflow but ``errors``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

from mailflow.errors import TemplateError

PRODID = "-//mailflow//deadline reminder//ZH"
DEFAULT_TIMEZONE = "Asia/Shanghai"
TIMED_EVENT_LENGTH = timedelta(minutes=30)
# an all-day deadline rings at 09:00 the day before (15 h before its midnight start);
# a timed one 30 minutes before its slot, i.e. an hour before the deadline itself
ALL_DAY_ALARM = timedelta(hours=-15)
TIMED_ALARM = timedelta(minutes=-30)
MAX_UID_CHARS = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")
_ADDRESS = re.compile(r"^[^@\s<>,;\"()]+@[^@\s<>,;\"()]+$")


@dataclass(frozen=True)
class Deadline:
    """A validated ``{"type": "ics", …}`` spec: one item's deadline to put in a calendar."""

    uid: str
    summary: str
    description: str
    due: date | datetime  # a datetime is aware
    organizer: str
    attendees: tuple[str, ...]
    stamp: datetime  # aware, UTC
    sequence: int = 0
    organizer_name: str = ""

    @property
    def all_day(self) -> bool:
        """Return True when the deadline is a bare date (an all-day event)."""
        return not isinstance(self.due, datetime)


def deadline_from_spec(spec: Mapping[str, Any]) -> Deadline:
    """Return the Deadline a spec describes; raise TemplateError naming the first bad field."""
    zone = _zone(spec.get("timezone") or DEFAULT_TIMEZONE)
    due = _when(spec.get("due"), "due", zone, date_ok=True)
    stamp_value = spec.get("stamp")
    stamp = _when(stamp_value, "stamp", zone, date_ok=False) if stamp_value else None
    if stamp is None:
        stamp = due if isinstance(due, datetime) else datetime.combine(due, time(), zone)
    assert isinstance(stamp, datetime)  # date_ok=False and combine() both give a datetime
    sequence = spec.get("sequence", 0)
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
        raise TemplateError(f"ics attachment: sequence must be a whole number, not {sequence!r}")
    return Deadline(
        uid=_text(spec, "uid", MAX_UID_CHARS),
        summary=_text(spec, "summary", 500),
        description=_multiline(spec.get("description") or ""),
        due=due,
        organizer=_address(spec.get("organizer"), "organizer"),
        attendees=tuple(_address(a, "attendees") for a in _list(spec.get("attendees"))),
        stamp=stamp.astimezone(UTC),
        sequence=sequence,
        organizer_name=_text(spec, "organizer_name", 200) if spec.get("organizer_name") else "",
    )


def deadline_ics(deadline: Deadline) -> bytes:
    """Return the VCALENDAR bytes (UTF-8, CRLF, folded lines) holding the deadline's event."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add_component(_event(deadline))
    return bytes(calendar.to_ical())


def ics_filename(deadline: Deadline) -> str:
    """Return a file name that carries the deadline's date, as the guide asks of attachments."""
    return f"行动项截止_{deadline.due:%Y%m%d}.ics"


def _event(deadline: Deadline) -> Event:
    event = Event()
    event.add("uid", deadline.uid)
    event.add("dtstamp", deadline.stamp)
    start, end = _span(deadline)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", deadline.summary)
    if deadline.description:
        event.add("description", deadline.description)
    organizer = vCalAddress(f"mailto:{deadline.organizer}")
    if deadline.organizer_name:
        organizer.params["CN"] = deadline.organizer_name
    event.add("organizer", organizer)
    for attendee in deadline.attendees:
        event.add("contact", vText(attendee))
    event.add("sequence", deadline.sequence)
    event.add("status", "CONFIRMED")
    event.add("transp", "TRANSPARENT")
    event.add_component(_alarm(deadline))
    return event


def _span(deadline: Deadline) -> tuple[date | datetime, date | datetime]:
    """Return (DTSTART, DTEND): the day itself, or the 30 minutes ending at the deadline."""
    if isinstance(deadline.due, datetime):
        end = deadline.due.astimezone(UTC)
        return end - TIMED_EVENT_LENGTH, end
    return deadline.due, deadline.due + timedelta(days=1)


def _alarm(deadline: Deadline) -> Alarm:
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", deadline.summary)
    alarm.add("trigger", ALL_DAY_ALARM if deadline.all_day else TIMED_ALARM)
    return alarm


def _zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str):
        raise TemplateError(f"ics attachment: timezone must be a name, not {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise TemplateError(f"ics attachment: unknown timezone {name!r}") from e


def _when(value: Any, field: str, zone: ZoneInfo, *, date_ok: bool) -> date | datetime:
    """Parse an ISO date or date-time; a date-time without an offset is read in ``zone``."""
    if not isinstance(value, str) or not value.strip():
        raise TemplateError(f"ics attachment: {field} must be an ISO date or date-time")
    text = value.strip()
    try:
        if date_ok and len(text) == len("2023-10-15"):
            return date.fromisoformat(text)
        parsed = datetime.fromisoformat(text)
    except ValueError as e:
        raise TemplateError(f"ics attachment: {field} {value!r} is not an ISO date") from e
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _text(spec: Mapping[str, Any], field: str, limit: int) -> str:
    value = spec.get(field)
    if not isinstance(value, str) or not value.strip():
        raise TemplateError(f"ics attachment: {field} is required")
    value = value.strip()
    if _CONTROL.search(value) or len(value) > limit:
        raise TemplateError(f"ics attachment: {field} must be one line of at most {limit} chars")
    return value


def _multiline(value: Any) -> str:
    if not isinstance(value, str):
        raise TemplateError("ics attachment: description must be text")
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def _address(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _ADDRESS.match(value.strip()):
        raise TemplateError(f"ics attachment: {field} must be mail addresses, not {value!r}")
    return value.strip()


def _list(value: Any) -> Sequence[Any]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TemplateError("ics attachment: attendees must be a list of addresses")
    return value
