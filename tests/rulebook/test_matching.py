"""Each condition of `when:` on real message values, with the words that explain it."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from mailflow.mail.model import Confirmation
from mailflow.rulebook.condition import When
from mailflow.rulebook.matching import check
from tests.rulebook.builders import address, attachment, facts, item, subject

BAD_SUBJECT = subject(
    "[进度预警] Q4迭代",
    conforms=False,
    reason="进度预警",
    department=None,
    topic="Q4迭代",
    problems=("nonstandard_brackets", "missing_department"),
)
MINUTES = subject("【会议纪要】技术部-同步", reason="会议纪要")


@pytest.mark.parametrize(
    ("when", "message", "ok", "words"),
    [
        ({"reason": "任务分配"}, {}, True, "事由 is 任务分配"),
        (
            {"reason": ["会议纪要", "进度汇报"]},
            {},
            False,
            "事由 is 任务分配, not one of 会议纪要, 进度汇报",
        ),
        ({"department": "技术部"}, {}, True, "department is 技术部"),
        ({"department": "市场部"}, {}, False, "department is 技术部, not 市场部"),
        ({"sender": "internal"}, {}, True, "the sender is internal"),
        ({"sender": "external"}, {}, False, "the sender is internal"),
        (
            {"sender": "external"},
            {"from_": address("yang.ming@kehu-a.com.cn")},
            True,
            "not an internal domain",
        ),
        (
            {"sender": ["kehu-a.com.cn"]},
            {"from_": address("yang.ming@kehu-a.com.cn")},
            True,
            "is kehu-a.com.cn",
        ),
        ({"sender": ["@com.cn"]}, {"from_": address("yang.ming@kehu-a.com.cn")}, True, "is com.cn"),
        (
            {"sender": ["li.si@example.com"]},
            {},
            False,
            "zhang.san@example.com is not li.si@example.com",
        ),
        (
            {"conforms": False},
            {"subject": BAD_SUBJECT},
            True,
            "does not follow 【事由】部门-主题 (nonstandard_brackets, missing_department)",
        ),
        ({"conforms": False}, {}, False, "the subject follows"),
        (
            {"subject_problems": "missing_department"},
            {"subject": BAD_SUBJECT},
            True,
            "has missing_department",
        ),
        (
            {"subject_problems": ["missing_topic"]},
            {"subject": BAD_SUBJECT},
            False,
            "has no missing_topic",
        ),
        (
            {"missing_fields": "deadline"},
            {"action_items": (item(missing=("deadline",)),)},
            True,
            "lacks deadline",
        ),
        (
            {"missing_fields": ["owner"]},
            {"action_items": (item(missing=("deadline",)),)},
            False,
            "no action item lacks owner",
        ),
        ({"has_action_items": True}, {"action_items": (item(),)}, True, "1 action item(s)"),
        ({"has_action_items": True}, {}, False, "no action items"),
        (
            {"keywords": "需求变更"},
            {"new_text": "客户提出需求变更，见附件。"},
            True,
            "says 需求变更",
        ),
        (
            {"keywords": ["需求变更"]},
            {"subject": subject("需求变更申请：报表")},
            True,
            "says 需求变更",
        ),
        ({"keywords": ["需求变更"]}, {}, False, "neither subject nor text says 需求变更"),
        ({"keywords": ["URGENT"]}, {"new_text": "urgent please"}, True, "says URGENT"),
        ({"reply": True}, {"in_reply_to": "<x@example.com>"}, True, "a reply in a thread"),
        ({"reply": True}, {}, False, "starts a new thread"),
        (
            {"attachments": "present"},
            {"attachments": (attachment("a.xlsx"),)},
            True,
            "1 attachment(s)",
        ),
        (
            {"attachments": "absent"},
            {"attachments": (attachment("a.xlsx"),)},
            False,
            "1 attachment(s)",
        ),
        (
            {"attachment_name": "项目进度跟踪表"},
            {"attachments": (attachment("项目进度跟踪表_v1.2_20231008.xlsx"),)},
            True,
            "matches",
        ),
        (
            {"attachment_name": "*.docx"},
            {"attachments": (attachment("方案.DOCX"),)},
            True,
            "matches",
        ),
        (
            {"attachment_name": "项目进度跟踪表"},
            {"attachments": (attachment("周报.xlsx"),)},
            False,
            "no attachment is named like 项目进度跟踪表",
        ),
        (
            {"attachment_without_version": True},
            {"attachments": (attachment("周报.xlsx"),)},
            True,
            "周报.xlsx lacks a version or date",
        ),
        (
            {"attachment_without_version": True},
            {"attachments": (attachment("表_v1.2_20231008.xlsx", "v1.2", date(2023, 10, 8)),)},
            False,
            "every attachment names a version and date",
        ),
        (
            {"confirmation": "objection"},
            {"confirmation": Confirmation("objection", "有异议")},
            True,
            "confirmation is objection",
        ),
        ({"confirmation": "none"}, {}, True, "confirmation is none"),
        (
            {"confirmation": ["ack", "done"]},
            {"confirmation": Confirmation("objection", "有异议")},
            False,
            "objection, not one of ack, done",
        ),
    ],
)
def test_condition(when: dict[str, Any], message: dict[str, Any], ok: bool, words: str) -> None:
    """A condition holds or fails on the message, and says why in words."""
    outcome, why = check(When.model_validate(when), facts(**message))
    assert outcome is ok
    assert words in why


def test_first_failing_condition_is_the_reason() -> None:
    """With several conditions, a miss names the first that failed and a hit names them all."""
    when = When.model_validate({"reason": "会议纪要", "reply": True})
    assert check(when, facts(subject=MINUTES)) == (False, "the mail starts a new thread")
    ok, why = check(when, facts(subject=MINUTES, in_reply_to="<x@example.com>"))
    assert ok and why == "事由 is 会议纪要; the mail is a reply in a thread"


def test_empty_when_matches() -> None:
    """A rule without conditions applies to every (non-automatic) mail."""
    assert check(When(), facts()) == (True, "the rule has no conditions")
