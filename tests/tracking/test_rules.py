"""The single after-store decisions: numbers people write, which items a 已完成 means, which ledger
line an answer fills, which thread a subject joins, when an early answer counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from mailflow.mail.numbers import item_references, number_value
from mailflow.tracking import rules

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7", 7),
        ("15", 15),
        ("十", 10),
        ("十一", 11),
        ("十九", 19),
        ("二十", 20),
        ("二十三", 23),
        ("两", 2),
        ("一百", 100),
        ("一百零二", 102),
        ("二〇二六", 2026),
        ("", None),
        ("十十", None),
        ("三四十", None),
        ("第", None),
    ],
)
def test_number_value(text: str, value: int | None) -> None:
    """ASCII and Chinese numerals read as their value; anything else reads as no number."""
    assert number_value(text) == value


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("第1项已完成", {1}),
        ("第十一项和第 2 项都已完成", {11, 2}),
        ("第三点已提交，第四條也好了", {3, 4}),
        ("第二十个已交付", {20}),
        ("已完成，附件为第3版", set()),
        ("全部完成", set()),
    ],
)
def test_item_references(text: str, numbers: set[int]) -> None:
    """A reply names items by 第N项/点/条/个, in either digits; versions (第3版) are no item."""
    assert item_references(text) == numbers


@dataclass(frozen=True)
class Item:
    """An open item as ``items_meant`` sees it."""

    position: int
    task: str


THREE = [Item(1, "提交设备点检记录"), Item(2, "更新安全培训台账"), Item(11, "核对库存盘点差异")]


@pytest.mark.parametrize(
    ("candidates", "text", "closed"),
    [
        (THREE, "第2项已完成", [2]),
        (THREE, "第十一项已完成，差异表见附件", [11]),
        (THREE, "更新安全培训台账已完成", [2]),
        (THREE, "已完成", []),  # three open, none named: nothing is guessed
        (THREE[:1], "已完成，请查收", [1]),  # the only one
        (THREE, "第5项已完成", []),
        ([], "第1项已完成", []),
    ],
)
def test_items_meant(candidates: list[Item], text: str, closed: list[int]) -> None:
    """A 已完成 reply closes the items it numbers, else those whose task it quotes, else the
    only open one."""
    assert [i.position for i in rules.items_meant(candidates, text)] == closed


@dataclass(frozen=True)
class Line:
    """A ledger line as ``line_answered`` sees it."""

    request_message_pk: int
    requested_at: datetime


OLD, NEW = Line(10, T0), Line(20, T0 + timedelta(days=7))


@pytest.mark.parametrize(
    ("lines", "answered", "expected"),
    [
        ([OLD, NEW], 10, OLD),  # replies to last week's minutes: that ledger
        ([OLD, NEW], 20, NEW),
        ([OLD, NEW], None, NEW),  # no In-Reply-To: the newest request that asked them
        ([OLD, NEW], 99, NEW),  # replies to mail that asked nothing
        ([], 10, None),
    ],
)
def test_line_answered(lines: list[Line], answered: int | None, expected: Line | None) -> None:
    """An answer fills the line of the request it replies to, else that of the newest one."""
    assert rules.line_answered(lines, answered) == expected


@dataclass(frozen=True)
class Thread:
    """A thread as ``subject_match`` sees it."""

    id: int
    last_message_at: datetime


@pytest.mark.parametrize(
    ("people", "addresses", "since", "expected"),
    [
        ({1: {"a@x.cn"}, 2: {"a@x.cn"}}, ["a@x.cn"], T0 - timedelta(days=30), 2),  # newest
        ({1: {"a@x.cn"}, 2: {"b@x.cn"}}, ["a@x.cn"], T0 - timedelta(days=30), 1),
        ({1: {"a@x.cn"}, 2: {"b@x.cn"}}, ["c@x.cn"], T0 - timedelta(days=30), None),
        ({1: {"a@x.cn"}, 2: {"a@x.cn"}}, ["a@x.cn"], T0 + timedelta(days=2), None),  # too old
        ({1: {"a@x.cn"}}, [], T0 - timedelta(days=30), None),
    ],
)
def test_subject_match(
    people: dict[int, set[str]], addresses: list[str], since: datetime, expected: int | None
) -> None:
    """A subject joins the newest recent thread of that subject that shares a participant."""
    threads = [Thread(1, T0), Thread(2, T0 + timedelta(days=1))]
    found = rules.subject_match(threads, people, addresses, since)
    assert (found.id if found else None) == expected


@pytest.mark.parametrize(
    ("replies_here", "said_at", "counts"),
    [
        (True, T0 - timedelta(hours=1), True),  # replies to the minutes, clock skew or not
        (False, T0 + timedelta(hours=1), True),  # headerless, written after the minutes
        (False, T0, True),
        (False, T0 - timedelta(days=7), False),  # last week's 已阅
    ],
)
def test_counts_early(replies_here: bool, said_at: datetime, counts: bool) -> None:
    """An answer read before its ledger opened counts if it replies to it or came after it."""
    assert rules.counts_early(replies_here, said_at, T0) is counts
