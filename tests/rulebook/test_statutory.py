"""Statutory holidays and 调休 workdays typed into organization.yaml for years the
chinese-calendar package does not know: validated with file:line errors, winning over the
package, and `mailflow rules check` warning when this year or the next is known to nobody."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from typer.testing import CliRunner

from mailflow.cli import app
from mailflow.errors import RuleFileError
from mailflow.mail.calendar import BusinessCalendar
from mailflow.mail.message import parse_message
from mailflow.rulebook.organization import ORGANIZATION_FILE, load_organization
from mailflow.rulebook.parse_settings import parse_context
from mailflow.rulebook.statutory import calendar_gaps, calendar_warnings
from mailflow.settings import load_settings

REPO = Path(__file__).resolve().parents[2]

HEAD = """\
organization:
  name: 示例科技
  shared_address: coord@example.com
  internal_domains: [example.com]
"""

# the State Council's arrangement for 2026, as an administrator would type it from the notice
NOTICE_2026 = """\
  statutory_calendar:
    2026:
      days_off: [2026-01-01..2026-01-03, 2026-02-15..2026-02-23, 2026-04-04..2026-04-06,
                 2026-05-01..2026-05-05, 2026-06-19..2026-06-21, 2026-09-25..2026-09-27,
                 2026-10-01..2026-10-07]
      workdays: [2026-01-04, 2026-02-14, 2026-02-28, 2026-05-09, 2026-09-20, 2026-10-10]
"""


def _calendar(tmp_path: Path, text: str) -> BusinessCalendar:
    (tmp_path / ORGANIZATION_FILE).write_text(HEAD + text, encoding="utf-8")
    org = load_organization(tmp_path)
    return BusinessCalendar.from_context(parse_context(org, load_settings()))


def _days(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


def test_a_year_the_package_does_not_know_follows_the_file(tmp_path: Path) -> None:
    """2099: the listed days off are off, the listed Saturday is a workday, the rest of the
    year is weekends only; the calendar knows 2099 though the package does not."""
    cal = _calendar(
        tmp_path,
        "  statutory_calendar:\n"
        "    2099:\n"
        "      days_off: [2099-01-01..2099-01-02, '2099-01-26']\n"
        "      workdays: [2099-01-03]\n",
    )
    assert not BusinessCalendar.covers(2099) and cal.knows(2099) and not cal.knows(2098)
    assert not cal.is_workday(date(2099, 1, 1))  # Thursday, 元旦
    assert not cal.is_workday(date(2099, 1, 2))  # Friday, added to it
    assert cal.is_workday(date(2099, 1, 3))  # Saturday, 调休上班
    assert not cal.is_workday(date(2099, 1, 4))  # an ordinary Sunday
    assert not cal.is_workday(date(2099, 1, 26))
    assert cal.add_workdays(date(2098, 12, 31), 1) == date(2099, 1, 3)


def test_a_mail_reads_its_deadline_on_the_typed_in_calendar(tmp_path: Path) -> None:
    """`3个工作日内` written on Wednesday 2098-12-31 skips the typed-in 元旦 and counts the
    调休 Saturday: 2099-01-03, 05, 06 are the three workdays, so the deadline is 2099-01-06."""
    (tmp_path / ORGANIZATION_FILE).write_text(
        HEAD + "  statutory_calendar:\n    2099:\n"
        "      days_off: [2099-01-01..2099-01-02]\n      workdays: [2099-01-03]\n",
        encoding="utf-8",
    )
    ctx = parse_context(load_organization(tmp_path), load_settings())
    raw = (
        "Message-ID: <cal-2099@example.com>\r\nFrom: zhang.san@example.com\r\n"
        "To: coord@example.com\r\nDate: Wed, 31 Dec 2098 10:00:00 +0800\r\n"
        "Subject: =?UTF-8?B?44CQ6YCa55+l44CR6L+Q6JCl6YOoLeebmOeCueWuieaOkg==?=\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "责任人：张三；完成时限：3个工作日内；交付标准：盘点报告\r\n"
    ).encode()
    [item] = parse_message(raw, ctx).action_items
    assert item.deadline == date(2099, 1, 6)


def test_the_2026_notice_typed_in_gives_the_packages_calendar(tmp_path: Path) -> None:
    """The 2026 notice typed as ranges agrees with chinese-calendar on every day of 2026,
    so the format carries a whole year's arrangement."""
    cal = _calendar(tmp_path, NOTICE_2026)
    assert cal.statutory.years == frozenset({2026})
    for day in _days(2026):
        typed = day in cal.statutory.workdays or (
            day not in cal.statutory.days_off and day.weekday() < 5
        )
        assert typed is chinese_calendar.is_workday(day), day


def test_the_files_entries_win_over_the_package(tmp_path: Path) -> None:
    """A package workday written as a day off is off; a package holiday written as a workday
    is a workday; company days off still win over both."""
    cal = _calendar(
        tmp_path,
        "  days_off: [2026-10-09]\n"
        "  statutory_calendar:\n"
        "    2026:\n"
        "      days_off: [2026-10-08]\n"
        "      workdays: [2026-10-07, 2026-10-09]\n",
    )
    assert chinese_calendar.is_workday(date(2026, 10, 8)) and not cal.is_workday(date(2026, 10, 8))
    assert not chinese_calendar.is_workday(date(2026, 10, 7)) and cal.is_workday(date(2026, 10, 7))
    assert not cal.is_workday(date(2026, 10, 9))


@pytest.mark.parametrize(
    ("entries", "line", "words"),
    [
        ("      days_off: [2027-02-30]\n", 7, "'2027-02-30' is not a date"),
        ("      days_off: [2027-02-13..2027-02-06]\n", 7, "ends before it starts"),
        ("      days_off: [春节]\n", 7, "'春节' is neither a date nor a range"),
        ("      days_off: [2027-01-01..2027-03-01]\n", 7, "spans more than a month"),
        ("      workdays: [2028-01-02]\n", 7, "2028-01-02 is not in 2027"),
        ("      holidays: [2027-01-01]\n", 7, "unknown key"),
        (
            "      days_off: [2027-01-01..2027-01-03]\n      workdays: [2027-01-02]\n",
            8,
            "2027-01-02 is both a day off and a workday",
        ),
    ],
)
def test_bad_entries_name_file_line_and_problem(
    tmp_path: Path, entries: str, line: int, words: str
) -> None:
    """Each mistake an administrator may type is refused with organization.yaml:line."""
    text = "  statutory_calendar:\n    2027:\n" + entries
    with pytest.raises(RuleFileError) as caught:
        _calendar(tmp_path, text)
    [problem] = caught.value.problems
    assert problem.startswith(f"{tmp_path / ORGANIZATION_FILE}:{line}: "), problem
    assert words in problem


@pytest.mark.parametrize(
    ("text", "today", "gaps"),
    [
        ("", date(2026, 12, 7), [2027]),
        ("  statutory_calendar:\n    2027: {days_off: [2027-01-01]}\n", date(2026, 12, 7), []),
        ("", date(2026, 3, 1), [2027]),
        ("", date(2025, 6, 1), []),
        ("  statutory_calendar:\n    2100: {}\n", date(2099, 6, 1), [2099]),
    ],
)
def test_gaps_are_this_year_and_the_next_known_to_nobody(
    tmp_path: Path, text: str, today: date, gaps: list[int]
) -> None:
    """Only this year and the next count, and a year the file names is known."""
    assert calendar_gaps(_calendar(tmp_path, text), today) == gaps


def test_the_warning_names_year_consequence_and_where(tmp_path: Path) -> None:
    """The warning names the year, says weekends only, and shows the lines to add and where."""
    cal = _calendar(tmp_path, "  timezone: Asia/Shanghai\n")
    [warning] = calendar_warnings(tmp_path / ORGANIZATION_FILE, cal, date(2026, 12, 7))
    assert warning.startswith(f"{tmp_path / ORGANIZATION_FILE}:2: warning: ")
    assert "holidays of 2027 are unknown" in warning and "weekends only" in warning
    assert "statutory_calendar:\n    2027:\n      days_off: [" in warning
    assert "workdays: [" in warning


def test_rules_check_warns_but_passes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`rules check` exits 0 and warns for each of this year and the next (in the
    organisation's timezone) that nobody knows; once the file names them, the warning goes."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    monkeypatch.setenv("MAILFLOW_RULES_DIR", str(rules))
    monkeypatch.setenv("MAILFLOW_TEMPLATES_DIR", str(REPO / "templates"))
    monkeypatch.delenv("MAILFLOW_TIMEZONE", raising=False)
    this_year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    unknown = [y for y in (this_year, this_year + 1) if not BusinessCalendar.covers(y)]
    runner = CliRunner()
    result = runner.invoke(app, ["rules", "check"])
    assert result.exit_code == 0, result.output
    for year in (this_year, this_year + 1):
        assert (f"holidays of {year} are unknown" in result.stderr) is (year in unknown)

    path = rules / ORGANIZATION_FILE
    years = "".join(f"    {y}: {{days_off: ['{y}-01-01']}}\n" for y in unknown)
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("  days_off: []", "  days_off: []\n  statutory_calendar:\n" + years, 1)
        if years
        else text,
        encoding="utf-8",
    )
    result = runner.invoke(app, ["rules", "check"])
    assert result.exit_code == 0, result.output
    assert "are unknown" not in result.stderr
