"""The business calendar (PRC holidays, 调休, company days off, work hours) and deadline reading."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailflow.mail.calendar import BusinessCalendar
from mailflow.mail.dates import Deadline, find_deadline, find_deadlines
from mailflow.mail.model import ParseContext

TZ = ZoneInfo("Asia/Shanghai")
CAL = BusinessCalendar()


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """Return an aware moment in China Standard Time."""
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


# --- the calendar -------------------------------------------------------------------------

WORKDAYS = [
    # National Day 2023: Sep 29 (中秋) to Oct 6 off, Sat Oct 7 and Sun Oct 8 worked
    ("2023-09-28", True),
    ("2023-09-29", False),
    ("2023-10-02", False),
    ("2023-10-06", False),
    ("2023-10-07", True),
    ("2023-10-08", True),
    ("2023-10-09", True),
    ("2023-10-14", False),
    # Spring Festival 2024: Feb 10-17 off, Sun Feb 4 and Sun Feb 18 worked
    ("2024-02-04", True),
    ("2024-02-12", False),
    ("2024-02-17", False),
    ("2024-02-18", True),
    # 2025: New Year, Spring Festival Jan 28 - Feb 4 (Sun Jan 26, Sat Feb 8 worked), National Day
    ("2025-01-01", False),
    ("2025-01-26", True),
    ("2025-01-28", False),
    ("2025-02-04", False),
    ("2025-02-08", True),
    ("2025-09-28", True),
    ("2025-10-08", False),
    ("2025-10-11", True),
]


@pytest.mark.parametrize(("day", "expected"), WORKDAYS)
def test_is_workday_follows_the_prc_calendar(day: str, expected: bool) -> None:
    """Statutory holidays are off and adjusted weekends (调休) are worked."""
    assert CAL.is_workday(date.fromisoformat(day)) is expected


def test_company_days_off_are_never_workdays() -> None:
    """A company day off removes a statutory workday, even an adjusted weekend."""
    cal = BusinessCalendar(days_off=frozenset({date(2023, 10, 7), date(2023, 12, 29)}))
    assert not cal.is_workday(date(2023, 10, 7))
    assert not cal.is_workday(date(2023, 12, 29))
    assert cal.next_workday(date(2023, 10, 6)) == date(2023, 10, 8)


def test_years_without_data_fall_back_to_weekends() -> None:
    """A year the package does not know counts Monday to Friday as workdays, without raising."""
    assert not BusinessCalendar.covers(2099)
    assert BusinessCalendar.covers(2024)
    assert CAL.is_workday(date(2099, 1, 1))  # a Thursday; no holiday data for 2099
    assert not CAL.is_workday(date(2099, 1, 3))
    assert CAL.add_workdays(date(2099, 1, 2), 1) == date(2099, 1, 5)


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        ("2023-09-28", 1, "2023-10-07"),  # over the whole National Day week
        ("2023-09-28", 3, "2023-10-09"),
        ("2023-10-09", -3, "2023-09-28"),  # a reminder 3 business days before
        ("2024-02-08", 2, "2024-02-18"),  # over the Spring Festival, onto the 调休 Sunday
        ("2025-01-24", 2, "2025-01-27"),  # Sun Jan 26 2025 is worked
        ("2023-10-02", 0, "2023-10-02"),
    ],
)
def test_add_workdays(start: str, count: int, expected: str) -> None:
    """Adding workdays skips holidays, counts 调休 days and never counts the start day."""
    assert CAL.add_workdays(date.fromisoformat(start), count) == date.fromisoformat(expected)


def test_next_and_previous_workday() -> None:
    """The neighbouring workdays of a holiday are the days around the holiday block."""
    assert CAL.next_workday(date(2023, 10, 1)) == date(2023, 10, 7)
    assert CAL.previous_workday(date(2023, 10, 7)) == date(2023, 9, 28)
    assert CAL.workdays_between(date(2023, 9, 28), date(2023, 10, 9)) == 3


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        (at(2023, 10, 9, 10), 4, at(2023, 10, 9, 14)),
        (at(2023, 10, 9, 16), 4, at(2023, 10, 10, 11)),  # the night does not count
        (at(2023, 10, 9, 20), 1, at(2023, 10, 10, 10)),  # starts at the next work span
        (at(2023, 9, 28, 17), 2, at(2023, 10, 7, 10)),  # over the National Day week
        (at(2023, 10, 9, 9), 9, at(2023, 10, 9, 18)),  # lands on the end of the span
        (at(2023, 10, 1, 12), 0, at(2023, 10, 7, 9)),
    ],
)
def test_add_business_hours(start: datetime, hours: int, expected: datetime) -> None:
    """Business hours count only inside work hours on workdays."""
    assert CAL.add_business_hours(start, timedelta(hours=hours)) == expected


def test_business_time_and_work_hours_from_context() -> None:
    """Work hours come from the parse context and bound the business time between moments."""
    cal = BusinessCalendar.from_context(ParseContext(work_start=time(8, 30), work_end=time(17, 30)))
    assert cal.business_time_between(at(2023, 9, 28, 17), at(2023, 10, 7, 9)) == timedelta(hours=1)
    assert cal.is_working_time(at(2023, 10, 8, 8, 30))
    assert not cal.is_working_time(at(2023, 10, 8, 17, 30))
    assert cal.due_moment(date(2023, 10, 13)) == at(2023, 10, 13, 17, 30)
    with pytest.raises(ValueError):
        cal.add_business_hours(at(2023, 10, 9, 9), timedelta(hours=-1))
    with pytest.raises(ValueError):
        BusinessCalendar(work_start=time(18), work_end=time(9))


# --- deadlines ----------------------------------------------------------------------------

THU_BEFORE_NATIONAL_DAY = at(2023, 9, 28, 10)
SUN_OCT_8 = at(2023, 10, 8, 17, 30)  # mail 1 was sent on this 调休 Sunday

DEADLINES = [
    # absolute forms
    ("2023-10-15", SUN_OCT_8, date(2023, 10, 15)),
    ("2023/10/15", SUN_OCT_8, date(2023, 10, 15)),
    ("2023.10.15前", SUN_OCT_8, date(2023, 10, 15)),
    ("2023年10月15日", SUN_OCT_8, date(2023, 10, 15)),
    ("二〇二三年十月十五日", SUN_OCT_8, date(2023, 10, 15)),
    ("10月15日", SUN_OCT_8, date(2023, 10, 15)),
    ("十月十五日之前", SUN_OCT_8, date(2023, 10, 15)),
    ("于10.15提交", SUN_OCT_8, date(2023, 10, 15)),
    ("10/15前", SUN_OCT_8, date(2023, 10, 15)),
    ("15日前", SUN_OCT_8, date(2023, 10, 15)),
    ("5日前", SUN_OCT_8, date(2023, 11, 5)),  # the 5th has passed: next month's
    ("截止10月20日", SUN_OCT_8, date(2023, 10, 20)),
    ("10月20日截止", SUN_OCT_8, date(2023, 10, 20)),
    ("10月15日18:00前", SUN_OCT_8, at(2023, 10, 15, 18)),
    ("10月13日 18:00", SUN_OCT_8, at(2023, 10, 13, 18)),
    ("10月15日下午3点", SUN_OCT_8, at(2023, 10, 15, 15)),
    ("10月15日上午10点半以前", SUN_OCT_8, at(2023, 10, 15, 10, 30)),
    ("10月16日（周一）14:00", SUN_OCT_8, at(2023, 10, 16, 14)),
    ("2023-10-16 09:30", SUN_OCT_8, at(2023, 10, 16, 9, 30)),
    ("10月底前", SUN_OCT_8, date(2023, 10, 31)),
    # year inference: more than ~2 months back means next year
    ("1月5日", at(2023, 12, 20, 10), date(2024, 1, 5)),
    ("9月1日", THU_BEFORE_NATIONAL_DAY, date(2023, 9, 1)),
    ("7月1日", THU_BEFORE_NATIONAL_DAY, date(2024, 7, 1)),
    # relative forms
    ("今天", SUN_OCT_8, date(2023, 10, 8)),
    ("明天", SUN_OCT_8, date(2023, 10, 9)),
    ("后天", SUN_OCT_8, date(2023, 10, 10)),
    ("明天下班前", SUN_OCT_8, at(2023, 10, 9, 18)),
    ("今晚8点前", SUN_OCT_8, at(2023, 10, 8, 20)),
    ("周五前", SUN_OCT_8, date(2023, 10, 13)),  # Oct 8 is a Sunday: the week of Oct 2-8 ends
    ("周五前", THU_BEFORE_NATIONAL_DAY, date(2023, 9, 29)),
    ("本周五", at(2023, 10, 9, 9), date(2023, 10, 13)),
    ("下周三前", at(2023, 10, 9, 9), date(2023, 10, 18)),
    ("下个星期一", at(2023, 10, 9, 9), date(2023, 10, 16)),
    ("这周内", at(2023, 10, 9, 9), date(2023, 10, 13)),
    ("本周内", at(2023, 10, 2, 9), date(2023, 10, 8)),  # the holiday week ends on worked Sunday
    ("下周内", at(2023, 9, 28, 9), date(2023, 10, 8)),
    ("3天内", SUN_OCT_8, date(2023, 10, 11)),
    ("3个工作日内", THU_BEFORE_NATIONAL_DAY, date(2023, 10, 9)),
    ("三个工作日内", at(2024, 2, 8, 9), date(2024, 2, 19)),
    ("2个工作日内", at(2025, 1, 24, 9), date(2025, 1, 27)),
    ("24小时内", SUN_OCT_8, at(2023, 10, 9, 17, 30)),
    ("两周内", SUN_OCT_8, date(2023, 10, 22)),
    ("1个月内", at(2024, 1, 31, 9), date(2024, 2, 29)),
    ("月底前", SUN_OCT_8, date(2023, 10, 31)),
    ("下月初", THU_BEFORE_NATIONAL_DAY, date(2023, 10, 7)),  # Oct 7 is the first workday
    ("下月初", at(2025, 1, 10, 9), date(2025, 2, 5)),  # after the 2025 Spring Festival
    ("年底前", SUN_OCT_8, date(2023, 12, 31)),
    ("明年底", SUN_OCT_8, date(2024, 12, 31)),
    ("18:00前", SUN_OCT_8, at(2023, 10, 8, 18)),
    ("18:00前", at(2023, 10, 8, 19), at(2023, 10, 9, 18)),  # already past: tomorrow's
]


@pytest.mark.parametrize(("text", "sent", "expected"), DEADLINES)
def test_find_deadline(text: str, sent: datetime, expected: date | datetime) -> None:
    """Each written form resolves against the message Date on the PRC calendar."""
    found = find_deadline(text, sent, CAL)
    assert found is not None
    assert found.value == expected
    assert type(found.value) is type(expected)


@pytest.mark.parametrize(
    "text",
    [
        "v1.2版本",
        "完成率 10/15",
        "共15日的假期",
        "每周五例会",
        "两周一次",
        "电话：0571-8888 6601",
        "尽快",
    ],
)
def test_no_deadline_in_ordinary_numbers(text: str) -> None:
    """Versions, ratios, counts and recurring days are not deadlines in prose."""
    assert find_deadline(text, SUN_OCT_8, CAL) is None


def test_loose_forms_count_in_a_field() -> None:
    """A deadline field or table cell accepts bare ``10/15`` and ``15日`` without a marker."""
    for text in ("10/15", "15日", "10.15"):
        found = find_deadline(text, SUN_OCT_8, CAL, field=True)
        assert found is not None and found.value == date(2023, 10, 15)


def test_span_covers_the_markers() -> None:
    """The span includes 在/于 before and 前 after, so a caller can cut the phrase out."""
    text = "张三负责在10月16日前完成接口联调"
    found = find_deadline(text, SUN_OCT_8, CAL)
    assert found == Deadline(date(2023, 10, 16), (4, 12), "在10月16日前", marked=True)
    assert text[: found.span[0]] + text[found.span[1] :] == "张三负责完成接口联调"


@pytest.mark.parametrize(
    "text", ["明天", "下周三前", "3个工作日内", "10月15日", "24小时内", "15日前"]
)
def test_without_message_date_relative_forms_stay_unplaced(text: str) -> None:
    """Without a Date, a deadline that needs one is found but has no value."""
    found = find_deadline(text, None, CAL)
    assert found is not None and found.value is None


def test_without_message_date_full_dates_still_resolve() -> None:
    """A date with its year needs no message Date."""
    found = find_deadline("2024-02-18 10:00前", None, CAL)
    assert found is not None and found.value == at(2024, 2, 18, 10)


def test_several_deadlines_left_to_right() -> None:
    """``find_deadlines`` returns every deadline in order without overlaps."""
    found = find_deadlines("10月13日功能冻结，10月20日提测，10月27日上线", SUN_OCT_8, CAL)
    assert [d.value for d in found] == [date(2023, 10, 13), date(2023, 10, 20), date(2023, 10, 27)]


def test_timezone_of_the_message_date() -> None:
    """A Date in another zone is read in the organisation's zone (UTC evening is next day)."""
    sent = datetime(2023, 10, 8, 20, 0, tzinfo=ZoneInfo("UTC"))  # 04:00 on Oct 9 in Shanghai
    found = find_deadline("明天", sent, CAL)
    assert found is not None and found.value == date(2023, 10, 10)


@pytest.mark.parametrize(
    ("text", "marked"),
    [
        ("10月15日前", True),
        ("截至10月15日", True),
        ("3天内", True),
        ("计划10月16日完成", False),
        ("10月7日起", False),
    ],
)
def test_marked_tells_a_limit_from_a_date_in_passing(text: str, marked: bool) -> None:
    """``marked`` is true only for a deadline written as a limit."""
    found = find_deadline(text, SUN_OCT_8, CAL)
    assert found is not None and found.marked is marked


def test_within_counted_from_an_event_is_unplaced() -> None:
    """``问题解决后3天内`` counts from an event, not from the message, so it has no value."""
    found = find_deadline("问题解决后3天内回访", SUN_OCT_8, CAL)
    assert found is not None and found.value is None
