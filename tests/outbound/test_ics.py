"""Tests for mailflow/outbound/ics.py: deadlines as iCalendar events Outlook can import."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar

from mailflow.errors import TemplateError
from mailflow.outbound.ics import deadline_from_spec, deadline_ics, ics_filename

SUMMARY = "【截止】完成接口联调（技术部-Q4产品迭代进度同步）"


def spec(**overrides: Any) -> dict[str, Any]:
    """Return the spec of item 1 of 技术部's minutes, due 2023-10-15 18:00 Beijing time."""
    data: dict[str, Any] = {
        "type": "ics",
        "uid": "item-42.deadline@example.com",
        "summary": SUMMARY,
        "description": "交付标准：联调报告\n来源：【会议纪要】技术部-Q4产品迭代进度同步",
        "due": "2023-10-15T18:00:00+08:00",
        "organizer": "coord@example.com",
        "attendees": ["zhang.san@example.com", "li.si@example.com"],
        "timezone": "Asia/Shanghai",
        "stamp": "2023-10-08T10:05:00+08:00",
    }
    data.update(overrides)
    return data


def event_of(raw: bytes) -> Any:
    """Return the single VEVENT of a calendar parsed back with icalendar."""
    calendar = Calendar.from_ical(raw)
    assert calendar["METHOD"] == "PUBLISH" and calendar["VERSION"] == "2.0"
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1 and not list(calendar.walk("VTODO"))
    return events[0]


def content_lines(raw: bytes) -> list[str]:
    """Return the unfolded content lines per RFC 5545 §3.1, checked with the stdlib only."""
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    physical = raw.split(b"\r\n")[:-1]
    assert all(len(line) <= 75 for line in physical), "lines are folded at 75 octets"
    unfolded = b"\r\n".join(physical).replace(b"\r\n ", b"")
    return unfolded.decode("utf-8").split("\r\n")


def test_timed_deadline_is_a_30_minute_event_ending_at_the_deadline() -> None:
    """A deadline with a time becomes 17:30-18:00 Beijing time, written in UTC."""
    event = event_of(deadline_ics(deadline_from_spec(spec())))
    assert event.decoded("DTSTART") == datetime(2023, 10, 15, 9, 30, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2023, 10, 15, 10, 0, tzinfo=UTC)
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=30)
    assert str(event["UID"]) == "item-42.deadline@example.com"
    assert str(event["SUMMARY"]) == SUMMARY
    assert "联调报告" in str(event["DESCRIPTION"])
    assert str(event["ORGANIZER"]) == "mailto:coord@example.com"
    assert str(event["TRANSP"]) == "TRANSPARENT"
    assert event.decoded("DTSTAMP") == datetime(2023, 10, 8, 2, 5, tzinfo=UTC)


def test_bare_date_is_an_all_day_event() -> None:
    """A deadline without a time becomes an all-day event on that day (DTEND the next day)."""
    raw = deadline_ics(deadline_from_spec(spec(due="2023-09-28")))
    event = event_of(raw)
    assert event.decoded("DTSTART") == date(2023, 9, 28)
    assert event.decoded("DTEND") == date(2023, 9, 29)
    assert not isinstance(event.decoded("DTSTART"), datetime)
    assert "DTSTART;VALUE=DATE:20230928" in content_lines(raw)


@pytest.mark.parametrize(
    ("due", "trigger"),
    [("2023-10-15T18:00:00+08:00", timedelta(minutes=-30)), ("2023-10-15", timedelta(hours=-15))],
)
def test_event_carries_a_display_alarm(due: str, trigger: timedelta) -> None:
    """Each event carries one DISPLAY alarm before its start, described by the summary."""
    alarms = list(event_of(deadline_ics(deadline_from_spec(spec(due=due)))).walk("VALARM"))
    assert len(alarms) == 1
    assert str(alarms[0]["ACTION"]) == "DISPLAY"
    assert alarms[0].decoded("TRIGGER") == trigger
    assert str(alarms[0]["DESCRIPTION"]) == SUMMARY


def test_publish_lists_people_as_contacts_not_attendees() -> None:
    """PUBLISH forbids ATTENDEE (RFC 5546), so the people concerned become CONTACT lines."""
    lines = content_lines(deadline_ics(deadline_from_spec(spec())))
    assert not [line for line in lines if line.startswith("ATTENDEE")]
    assert "CONTACT:zhang.san@example.com" in lines and "CONTACT:li.si@example.com" in lines


def test_bytes_are_stable_and_folded_per_rfc_5545() -> None:
    """The same spec gives the same bytes; lines are CRLF, folded at 75 octets, UTF-8 intact."""
    long_summary = "【截止】" + "完成接口联调并提交联调报告" * 6
    first = deadline_ics(deadline_from_spec(spec(summary=long_summary)))
    assert first == deadline_ics(deadline_from_spec(spec(summary=long_summary)))
    assert f"SUMMARY:{long_summary}" in content_lines(first)
    assert content_lines(first)[0] == "BEGIN:VCALENDAR"


def test_stamp_defaults_to_the_deadline_so_resends_match() -> None:
    """Without a stamp DTSTAMP comes from the due date, never from the clock."""
    event = event_of(deadline_ics(deadline_from_spec(spec(stamp=None, due="2023-10-15"))))
    assert event.decoded("DTSTAMP") == datetime(2023, 10, 14, 16, 0, tzinfo=UTC)


def test_naive_datetime_is_read_in_the_spec_timezone() -> None:
    """A due time without an offset is Beijing time when the spec says Asia/Shanghai."""
    deadline = deadline_from_spec(spec(due="2023-10-15T18:00"))
    assert deadline.due == datetime(2023, 10, 15, 10, 0, tzinfo=UTC)
    assert ics_filename(deadline) == "行动项截止_20231015.ics"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"uid": ""}, "uid"),
        ({"summary": None}, "summary"),
        ({"due": "next Friday"}, "due"),
        ({"due": None}, "due"),
        ({"organizer": "coord"}, "organizer"),
        ({"attendees": "zhang.san@example.com"}, "attendees"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"uid": "a\r\nBEGIN:VEVENT"}, "uid"),
        ({"sequence": -1}, "sequence"),
    ],
)
def test_bad_specs_raise_template_errors_naming_the_field(
    override: dict[str, Any], field: str
) -> None:
    """A malformed spec raises TemplateError that names the offending field."""
    with pytest.raises(TemplateError, match=field):
        deadline_from_spec(spec(**override))
