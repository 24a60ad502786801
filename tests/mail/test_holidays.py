"""Deadlines tied to a PRC statutory holiday resolve to the workday next to its break, on the
real calendar (调休 weekends worked), against the mail's Date."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from mailflow.mail.calendar import BusinessCalendar
from mailflow.mail.dates import find_deadline
from mailflow.mail.holidays import holiday_deadline
from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext

TZ = ZoneInfo("Asia/Shanghai")
CAL = BusinessCalendar()

# (sentence as offices write it, mail sent on, deadline, written as a limit)
HOLIDAY_DEADLINES = [
    # Spring Festival 2024: Feb 10-17 off, Sun Feb 4 and Sun Feb 18 worked
    ("请各门店于春节前提交年度盘点表", date(2024, 1, 15), date(2024, 2, 9), True),
    ("春节后第一个工作日召开开工会", date(2024, 1, 15), date(2024, 2, 18), False),
    ("节后上班第一天把排产计划发我", date(2024, 2, 8), date(2024, 2, 18), False),
    ("尾款年前务必结清", date(2024, 1, 3), date(2024, 2, 9), True),
    # Tomb-sweeping 2024: Apr 4-6 off, Sun Apr 7 worked
    ("清明节后第一个工作日前交付压力测试报告", date(2024, 3, 20), date(2024, 4, 7), True),
    ("清明假期后复工检查由安全科牵头", date(2024, 4, 5), date(2024, 4, 7), False),
    # Labour Day 2024: May 1-5 off, Sun Apr 28 and Sat May 11 worked
    ("五一节后第一个工作日提交招标文件", date(2024, 4, 20), date(2024, 5, 6), False),
    ("劳动节前完成消防演练", date(2024, 4, 8), date(2024, 4, 30), True),
    # Dragon Boat 2024: Jun 8-10 off
    ("端午节后反馈合同修改意见", date(2024, 6, 1), date(2024, 6, 11), False),
    # Mid-autumn 2024: Sep 15-17 off, Sat Sep 14 worked
    ("中秋前把月饼礼盒寄到各网点", date(2024, 9, 1), date(2024, 9, 14), True),
    # 2023: Mid-autumn and National Day one break, Sep 29 - Oct 6; Sat Oct 7 worked
    ("国庆节后第一个工作日提交季度报表", date(2023, 9, 20), date(2023, 10, 7), False),
    ("中秋国庆假期前完成系统割接", date(2023, 9, 10), date(2023, 9, 28), True),
    # National Day 2025: Oct 1-8 off, Sun Sep 28 and Sat Oct 11 worked
    ("十一前上线新版挂号系统", date(2025, 9, 1), date(2025, 9, 30), True),
    # New Year 2024: Jan 1 (a Monday) off
    ("元旦前完成年终结账", date(2023, 12, 10), date(2023, 12, 29), True),
    # sent during the break: "after" means this break
    ("收到，节后第一个工作日处理", date(2024, 10, 3), date(2024, 10, 8), False),
    # sent after this year's break: "before" means next year's
    ("春节放假前最后一个工作日发年货", date(2024, 3, 1), date(2025, 1, 27), False),
]


@pytest.mark.parametrize(("text", "sent", "expected", "marked"), HOLIDAY_DEADLINES)
def test_holiday_deadlines(text: str, sent: date, expected: date, marked: bool) -> None:
    """Each holiday-tied deadline resolves to the workday next to the right break."""
    found = find_deadline(text, datetime(sent.year, sent.month, sent.day, 10, tzinfo=TZ), CAL)
    assert found is not None and found.value == expected
    assert found.marked == marked


@pytest.mark.parametrize(
    "text",
    [
        "三年前的项目资料已归档",
        "半年后复盘一次",
        "2023年前的合同按旧模板",
        "明年前三季度的预算",
        "第十一前的条款不变",
        "请看章节前言",
        "季节后半段销量下滑",
        "春节期间值班表见附件",
        "青年后备干部名单",
        "去年前三个月的数据",
    ],
)
def test_words_that_only_look_like_holidays(text: str) -> None:
    """年前 after a number, 节 inside another word, or a holiday without 前/后 is no deadline."""
    assert find_deadline(text, datetime(2024, 6, 3, 10, tzinfo=TZ), CAL) is None


def test_holiday_without_a_message_date_is_written_but_unplaced() -> None:
    """Without a Date, 春节前 is a deadline that cannot be placed."""
    found = find_deadline("春节前交稿", None, CAL)
    assert found is not None and found.value is None and found.text == "春节前"


def test_years_without_data_are_not_guessed() -> None:
    """For a year the package has no holiday data for, the deadline stays unplaced."""
    assert holiday_deadline("春节", date(2031, 1, 5), CAL, before=True) is None


def test_company_days_off_move_the_deadline() -> None:
    """A company day off before the break moves 春节前 to the workday before it."""
    cal = BusinessCalendar(days_off=frozenset({date(2024, 2, 9)}))
    assert holiday_deadline("春节", date(2024, 1, 15), cal, before=True) == date(2024, 2, 8)


def test_labelled_item_with_a_holiday_deadline() -> None:
    """A labelled task line keeps its holiday-tied deadline as a date in the parsed mail."""
    raw = (
        "From: 何静 <he.jing@example.com>\r\nTo: coord@example.com\r\n"
        "Subject: =?utf-8?b?44CQ5Lu75Yqh5YiG6YWN44CR6LSi5Yqh6YOoLeW5tOe7iOe7k+i0pg==?=\r\n"
        "Date: Mon, 11 Dec 2023 09:30:00 +0800\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + "各位：\r\n\r\n1. 年终结账——责任人：何静；完成时限：元旦前；交付标准：结账底稿\r\n"
    ).encode()
    items = parse_message(raw, ParseContext()).action_items
    assert [item.deadline for item in items] == [date(2023, 12, 29)]
