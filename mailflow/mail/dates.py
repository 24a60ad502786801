"""Deadlines (完成时限) as Chinese business mail writes them, resolved to a date or a moment.

``find_deadline(text, sent_at, calendar)`` returns the first deadline written in ``text``: a
``date`` for a bare day, an aware ``datetime`` (organisation timezone) when a time of day is
given or implied (``24小时内``, ``下午3点``, ``下班前``). Forms read:

- absolute: ``2023-10-15``, ``2023/10/15``, ``2023.10.15``, ``2023年10月15日``, ``10月15日``,
  ``10月底``, ``15日``, ``10.15``, ``10/15``, each optionally with a time and 前/之前/以前/截止;
- relative to the message's Date: 今天/明天/后天, (本/这/下)周五, 周五前, 本周内, 下周内,
  N天内, N个工作日内 (PRC business days), N小时内, N周内, N个月内, 月底/下月初/年底;
- tied to a statutory holiday (``holidays``): 春节前, 元旦前, 国庆节后第一个工作日, 五一节后,
  节后上班第一天, 年前: the workday next to the break, on the PRC calendar.

Rules: a year-less date that would fall more than ``PAST_GRACE`` before the message means next
year; a bare ``15日`` before the message day means next month; ``N个工作日内`` is the N-th
workday after the message day (that day not counted). Forms that are easily something else in
prose (``10.15``, ``10/15``, ``15日``, a bare ``18:00``) count only next to a deadline marker
(前, 截止, 于, 在, ...) unless ``field=True`` says the whole text is a deadline value (a labelled
line or a table cell). Without a message Date, forms that need one give a ``Deadline`` whose
``value`` is None: the deadline was written but cannot be placed; so does ``N天内`` counted from
an event (``问题解决后3天内``). ``marked`` tells a limit (``10月15日前``, ``3天内``) from a bare
date (``计划10月16日完成``, ``10月7日起``). Numbers may be Chinese
(三个工作日内, 十月十五日). Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import calendar as stdcal
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from mailflow.mail.calendar import BusinessCalendar
from mailflow.mail.holidays import HOLIDAY_PATTERN, holiday_deadline
from mailflow.mail.triggers import Required, may_match, required

__all__ = ["PAST_GRACE", "Deadline", "find_deadline", "find_deadlines", "may_hold_deadline"]

PAST_GRACE = timedelta(days=61)  # ~2 months: an earlier year-less date is next year's

_FULLWIDTH = str.maketrans("０１２３４５６７８９：／．－", "0123456789:/.-")  # keeps lengths
_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_N = r"(?:\d{1,2}|[一二两三四五六七八九十]{1,3})"
_WEEKDAYS = (
    {c: i for i, c in enumerate("一二三四五六日")}
    | {"天": 6, "7": 6}
    | {str(i + 1): i for i in range(6)}
)


@dataclass(frozen=True)
class Deadline:
    """A deadline found in text: its value (None when unplaceable), where it was written."""

    value: date | datetime | None
    span: tuple[int, int]
    text: str
    marked: bool = False  # written as a limit: 前/截止/于/不晚于 around it, or N天内


@dataclass(frozen=True)
class _Now:
    today: date | None
    moment: datetime | None
    cal: BusinessCalendar


Value = date | datetime | None
_Resolver = Callable[[re.Match[str], _Now], Value]


@dataclass(frozen=True)
class _Form:
    pattern: re.Pattern[str]
    resolve: _Resolver
    needs_marker: bool = False  # only next to 前/截止/于/... in prose
    timed: bool = True  # may carry a time of day after it
    # characters the pattern cannot match without (``triggers``): most text lacks them
    needs: Required = ()


def _number(s: str) -> int | None:
    """Return the value of ASCII or Chinese digits ("15", "十五", "二〇二三"), None if garbled."""
    if s.isascii():
        return int(s)
    try:
        if "十" in s:
            tens, _, ones = s.partition("十")
            return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
        return int("".join(str(_CN_DIGITS[c]) for c in s))
    except (KeyError, ValueError):
        return None


def _day(y: int | None, m: int | None, d: int | None) -> date | None:
    if y is None or m is None or d is None:
        return None
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _month_end(y: int, m: int) -> date:
    return date(y, m, stdcal.monthrange(y, m)[1])


def _add_months(day: date, n: int) -> date:
    y, m = divmod(day.month - 1 + n, 12)
    y, m = day.year + y, m + 1
    return date(y, m, min(day.day, stdcal.monthrange(y, m)[1]))


def _year_less(m: int | None, d: int | None, now: _Now) -> date | None:
    """Place month ``m`` day ``d`` in the message's year, or the next if long past."""
    if now.today is None:
        return None
    found = _day(now.today.year, m, d)
    if found is not None and found < now.today - PAST_GRACE:
        found = _day(now.today.year + 1, m, d)
    return found


def _ymd(m: re.Match[str], now: _Now) -> Value:
    return _day(_number(m["y"]), _number(m["m"]), _number(m["d"]))


def _md(m: re.Match[str], now: _Now) -> Value:
    return _year_less(_number(m["m"]), _number(m["d"]), now)


def _day_only(m: re.Match[str], now: _Now) -> Value:
    if now.today is None:
        return None
    day = _day(now.today.year, now.today.month, _number(m["d"]))
    if day is None or day < now.today:
        nxt = _add_months(now.today.replace(day=1), 1)
        day = _day(nxt.year, nxt.month, _number(m["d"]))
    return day


def _weekday(m: re.Match[str], now: _Now) -> Value:
    if now.today is None:
        return None
    target, monday = _WEEKDAYS[m["wd"]], now.today - timedelta(days=now.today.weekday())
    weeks = {"上": -1, "本": 0, "这": 0, "下": 1, "下下": 2}.get(m["rel"] or "")
    if weeks is None:  # a bare 周五: the coming one, today included
        weeks = 0 if target >= now.today.weekday() else 1
    return monday + timedelta(days=7 * weeks + target)


def _week_span(m: re.Match[str], now: _Now) -> Value:
    """本周内: the week's last workday not before today, else its Sunday."""
    if now.today is None:
        return None
    monday = now.today - timedelta(days=now.today.weekday(), weeks=-1 if m["rel"] == "下" else 0)
    days = [monday + timedelta(days=i) for i in range(7)]
    workdays = [d for d in days if d >= now.today and now.cal.is_workday(d)]
    return workdays[-1] if workdays else days[-1]


_DAY_WORDS = {"今": 0, "当": 0, "明": 1, "后": 2, "大": 3}


def _day_word(m: re.Match[str], now: _Now) -> Value:
    if now.today is None:
        return None
    return now.today + timedelta(days=_DAY_WORDS[m[0][0]])


def _within(m: re.Match[str], now: _Now) -> Value:
    n, unit = _number(m["n"]), m["unit"].lstrip("个")
    if now.today is None or now.moment is None or n is None:
        return None
    if unit == "工作日":
        return now.cal.add_workdays(now.today, n)
    if unit in ("小时", "钟头"):
        return now.moment + timedelta(hours=n)
    if unit == "月":
        return _add_months(now.today, n)
    return now.today + timedelta(days=n * (7 if unit in ("周", "星期") else 1))


def _month_part(m: re.Match[str], now: _Now) -> Value:
    if m["m"]:
        start = _year_less(_number(m["m"]), 1, now)
    elif now.today is not None:
        start = _add_months(now.today.replace(day=1), 1 if m["rel"] in ("下", "次") else 0)
    else:
        start = None
    if start is None:
        return None
    part = m["part"]
    if part in ("底", "末", "下旬"):
        return _month_end(start.year, start.month)
    if part == "初":
        return start if now.cal.is_workday(start) else now.cal.next_workday(start)
    return start.replace(day={"上旬": 10, "中旬": 20}.get(part, 15))


def _year_end(m: re.Match[str], now: _Now) -> Value:
    if m["y"]:
        year = _number(m["y"])
    else:
        year = None if now.today is None else now.today.year + (m["rel"] in ("明", "下"))
    return None if year is None else date(year, 12, 31)


def _holiday(m: re.Match[str], now: _Now) -> Value:
    """春节前, 国庆节后第一个工作日, 节后: the workday next to a statutory break."""
    if now.today is None:
        return None
    before = m["after"] is None
    return holiday_deadline(m["hol"], now.today, now.cal, before=before)


def _today(m: re.Match[str], now: _Now) -> Value:
    return now.today


def _form(
    pattern: str, resolve: _Resolver, needs_marker: bool = False, timed: bool = True
) -> _Form:
    compiled = re.compile(pattern)
    return _Form(compiled, resolve, needs_marker, timed, required(compiled))


_NOT_COUNT = r"(?<![0-9一二两三四五六七八九十每])"
_DAY_END = r"(?:\s*[日号]|(?![\d日号]))"  # 日 if written; never half of "15日18:00"
_CLOCK = r"(?:[0-2]?\d[:：][0-5]\d|[0-2]?\d\s*[点时])"
_FORMS = (
    _form(
        r"(?<!\d)(?P<y>\d{4}|[〇零一二三四五六七八九]{4})\s*(?:年|[-/.])\s*(?P<m>\d{1,2}|[一二十]{1,2})"
        r"\s*(?:月|[-/.])\s*(?P<d>" + _N + r")" + _DAY_END,
        _ymd,
    ),
    _form(r"(?<![\d年])(?P<m>" + _N + r")\s*月\s*(?P<d>" + _N + r")" + _DAY_END, _md),
    _form(
        r"(?<![0-9A-Za-z.\-/])(?P<m>1[0-2]|0?[1-9])[./](?P<d>3[01]|[12]\d|0?[1-9])"
        r"(?![0-9A-Za-z%.\-/])",
        _md,
        needs_marker=True,
    ),
    _form(r"(?<![\d月\-/.第周])(?P<d>" + _N + r")\s*[日号](?!\d)", _day_only, needs_marker=True),
    _form(
        r"(?<!每)(?P<rel>本|这|下下|下|上)?个?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])(?!次)",
        _weekday,
    ),
    _form(
        _NOT_COUNT + r"(?P<rel>本|这|下)个?(?:周|星期|礼拜)(?:之?内)?(?![一二三四五六日天1-7末])",
        _week_span,
    ),
    _form(r"大后天|后天|明天|明日|明早|明晚|今天|今日|今晚|当天|当日", _day_word),
    _form(
        r"(?P<n>\d{1,3}|[一二两三四五六七八九十]{1,3})\s*(?P<unit>个?工作日|个?小时|个?钟头|天|日|周"
        r"|个?星期|个月)\s*(?:之?内|以内|之?后|以后)",
        _within,
        timed=False,
    ),
    _form(
        r"(?:(?P<m>"
        + _N
        + r")\s*月|(?P<rel>本|这|下|次|当)?个?月)(?P<part>底|末|初|上旬|中旬|下旬|中)",
        _month_part,
    ),
    _form(r"(?:(?P<y>\d{4})|(?P<rel>今|本|明|下))?年(?:底|末)", _year_end),
    _form(HOLIDAY_PATTERN, _holiday),
    _form(
        # \s{0,3}, not \s*: this empty match is tried at every position, and an unbounded run
        # of spaces would be rescanned from each one (quadratic time)
        r"(?<![0-9:：])(?=(?:上午|早上|中午|下午|晚上|傍晚|凌晨)?\s{0,3}" + _CLOCK + r")|(?=下班)",
        _today,
        needs_marker=True,
    ),
)
# a text with none of these holds no deadline: each form needs one of them (``triggers``)
_ANY_FORM = (
    frozenset().union(*(min(form.needs, key=len) for form in _FORMS))
    if all(form.needs for form in _FORMS)
    else None
)
_TIME = re.compile(
    r"\s*(?:[（(](?:周|星期|礼拜)[一二三四五六日天][)）]\s*)?"
    r"(?:(?P<ap>上午|早上|中午|下午|晚上|傍晚|凌晨)?\s*(?P<h>[0-2]?\d|[一二两三四五六七八九十]{1,3})\s*"
    r"(?:[:：](?P<mi>[0-5]\d)|[点时](?:(?P<half>半)|(?P<mi2>[0-5]?\d|[一二三四五六七八九十]{1,3})分?)?)"
    r"|(?P<part>下班|上午|中午|下午))"
)
_AFTER = re.compile(r"\s*(?:之前|以前|前|截止|为止)")
_BEFORE = re.compile(r"(?:截止到?|截至|最迟|最晚|不晚于|于|在)\s*$")


def _clock(tm: re.Match[str], cal: BusinessCalendar, evening: bool) -> time | None:
    """Return the time of day ``tm`` names (下午3点 → 15:00, 下班 → end of work hours)."""
    if tm["part"]:
        return cal.work_end if tm["part"] in ("下班", "下午") else time(12, 0)
    hour = _number(tm["h"])
    minute = 30 if tm["half"] else _number(tm["mi"] or tm["mi2"] or "0")
    if hour is None or minute is None:
        return None
    ap = tm["ap"] or ("晚上" if evening else "")
    if (ap in ("下午", "晚上", "傍晚") and hour < 12) or (ap == "中午" and hour < 3):
        hour += 12
    if hour == 24 and minute == 0:
        return time(23, 59)
    return time(hour, minute) if hour < 24 and minute < 60 else None


def _candidate(text: str, form: _Form, m: re.Match[str], now: _Now, field: bool) -> Deadline | None:
    """Return the deadline at ``m`` with its time, markers and value, or None if it is none."""
    start, end, value = m.start(), m.end(), form.resolve(m, now)
    tm = _TIME.match(text, end) if form.timed else None
    if tm and tm.end() > end:
        clock = _clock(tm, now.cal, evening=m[0].endswith("晚"))
        end = tm.end()
        if clock is not None and isinstance(value, date) and not isinstance(value, datetime):
            value = now.cal.at(value, clock)
            if form.resolve is _today and now.moment and value < now.moment:
                value += timedelta(days=1)  # a bare 18:00 already past means tomorrow's
    elif m.end() == m.start():
        return None
    after, before = _AFTER.match(text, end), _BEFORE.search(text, max(0, start - 6), start)
    if form.needs_marker and not field and not after and not before:
        return None
    if form.resolve is _within and text[:start].rstrip().endswith("后"):
        value = None  # 问题解决后3天内: counted from an event, not from the message
    start, end = (before.start() if before else start), (after.end() if after else end)
    marked = bool(after or before) or form.resolve is _within
    return Deadline(value, (start, end), text[start:end], marked)


def find_deadlines(
    text: str, sent_at: datetime | None, calendar: BusinessCalendar, *, field: bool = False
) -> tuple[Deadline, ...]:
    """Return every deadline written in ``text``, left to right, never overlapping.

    ``sent_at`` is the message's Date (aware; None when the message has none) and
    ``field`` says the whole text is a deadline value, so looser forms count without a marker.
    """
    text = text.translate(_FULLWIDTH)
    local = sent_at.astimezone(calendar.timezone) if sent_at else None
    chars = set(text)
    if _ANY_FORM is not None and _ANY_FORM.isdisjoint(chars):
        return ()
    now = _Now(local.date() if local else None, local, calendar)
    found = [
        d
        for form in _FORMS
        if may_match(form.needs, chars)
        for m in form.pattern.finditer(text)
        if (d := _candidate(text, form, m, now, field)) is not None
    ]
    found.sort(key=lambda d: (d.span[0], d.span[0] - d.span[1]))
    chosen: list[Deadline] = []
    for d in found:
        if not chosen or d.span[0] >= chosen[-1].span[1]:
            chosen.append(d)
    return tuple(chosen)


def may_hold_deadline(text: str) -> bool:
    """Return False only when ``text`` cannot hold a deadline: it has no character that any
    form of ``find_deadlines`` needs. Cheaper than looking, and never wrong when False."""
    chars = set(text.translate(_FULLWIDTH))
    if _ANY_FORM is not None and _ANY_FORM.isdisjoint(chars):
        return False
    return any(may_match(form.needs, chars) for form in _FORMS)


def find_deadline(
    text: str, sent_at: datetime | None, calendar: BusinessCalendar, *, field: bool = False
) -> Deadline | None:
    """Return the first deadline written in ``text`` (see ``find_deadlines``), or None."""
    found = find_deadlines(text, sent_at, calendar, field=field)
    return found[0] if found else None
