"""Deadlines tied to a PRC statutory holiday: 春节前, 国庆节后第一个工作日, 节后, 年前…

Offices write deadlines against the holidays the State Council announces each year: before the
break (``春节前``, ``元旦前``: the last workday before it) or the first workday after it
(``清明节后第一个工作日``, ``五一节后``, ``端午节后``, ``节后上班第一天``). The break is the run of
consecutive statutory holiday days of the ``chinese-calendar`` data, so 2023's joint 中秋/国庆
break is one run, and the days around it follow the organisation's ``BusinessCalendar``
(调休 weekends worked, company days off). The holiday meant is the next one from the message's
day: for "before", the next break that has not started; for "after", the next break whose first
workday after has not passed. For a year the package has no data for, the deadline cannot be
placed and is ``None``, never a guess. Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import chinese_calendar

from mailflow.mail.calendar import BusinessCalendar

__all__ = ["HOLIDAY_PATTERN", "holiday_deadline"]

_ONE_DAY = timedelta(days=1)
# a break that ended longer ago than this has its first workday after it behind the message
_LONGEST_GAP = timedelta(days=31)
# what offices call each holiday -> the name in the chinese-calendar data
_NAMES = {
    "元旦": "New Year's Day",
    "春节": "Spring Festival",
    "过年": "Spring Festival",
    "农历新年": "Spring Festival",
    "年": "Spring Festival",  # 年前 / 年后, guarded below against 三年前, 2023年前
    "清明": "Tomb-sweeping Day",
    "五一": "Labour Day",
    "劳动节": "Labour Day",
    "端午": "Dragon Boat Festival",
    "中秋": "Mid-autumn Festival",
    "国庆": "National Day",
    "十一": "National Day",
}
# 年 (年前, 年后) is other words too (三年前, 半年后, 2023年前, 明年, 青年): it counts only
# when no number or such a word is right before it. 十一 (第十一), like a bare 节/假期 (the
# next holiday), counts only after a word or punctuation that can precede a deadline, so that
# 章节前, 环节后, 季节后 are never one.
_NOT_YEAR = (
    r"(?<![\d〇零一二三四五六七八九十百千万两几多半整数每当同该今去明前后本次来隔某那这上下近往历全"
    r"学财元晚早青成中老少长常终头周拜新大第])"
)
_LEAD = r"(?:(?<=[在于请必须需赶要到，,、。；;:：\s(（])|^)"
_NAMED = (
    r"(?P<hol>元旦|春节|过年|农历新年|清明|五一(?:劳动节)?|劳动节|端午|中秋(?:国庆)?|国庆(?:中秋)?"
    r"|" + _NOT_YEAR + r"年|" + _LEAD + r"十一)"
)
_GENERIC = _LEAD + r"(?P<gen>节|假期|长假|放假)"
_BREAK = r"节?(?:放假|假期|长假|小长假|假)?"
_AFTER = (
    r"(?P<after>(?:结束|收假|上班|开工|返岗|回来)?(?:之后|以后|过后|后))(?:的)?"
    r"(?:第[一1]个工作日|首个工作日|上班(?:的)?第一天|开工(?:的)?第一天|第一天|一上班|上班)?"
)
_BEFORE = r"(?:前(?:的)?(?P<last>最后一个工作日|最后一天)|(?=之前|以前|前))"
HOLIDAY_PATTERN = f"(?:{_NAMED}|{_GENERIC}){_BREAK}(?:{_AFTER}|{_BEFORE})"


@cache
def _breaks() -> tuple[tuple[date, date, frozenset[str]], ...]:
    """Return each statutory break the package knows: first day, last day, holiday names."""
    days = sorted(chinese_calendar.holidays)
    found: list[tuple[date, date, frozenset[str]]] = []
    for day in days:
        name = str(chinese_calendar.holidays[day])
        if found and found[-1][1] + _ONE_DAY == day:
            first, _, names = found[-1]
            found[-1] = (first, day, names | {name})
        else:
            found.append((day, day, frozenset({name})))
    return tuple(found)


def holiday_deadline(
    word: str | None, today: date, cal: BusinessCalendar, *, before: bool
) -> date | None:
    """Return the last workday before (``before``) or the first workday after a holiday break.

    ``word`` is what the mail calls the holiday (春节, 国庆, 十一, …), None for a bare 节/假期
    (the next break of any holiday). Returns None when the package has no data that far.
    """
    name = None if word is None else _NAMES.get(word) or _NAMES.get(word[:2])
    for first, last, names in _breaks():
        if last < today - _LONGEST_GAP or (name is not None and name not in names):
            continue
        if before and first > today:
            return cal.previous_workday(first)
        if not before and cal.next_workday(last) >= today:
            return cal.next_workday(last)
    return None
