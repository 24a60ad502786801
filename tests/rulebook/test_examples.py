"""The default rules on the fifteen example mails do what examples/README.md says they should."""

from __future__ import annotations

import pytest

from mailflow.mail.message import parse_message
from mailflow.rulebook.decision import Decision, decide
from mailflow.rulebook.facts import MessageFacts
from mailflow.rulebook.loader import load_rulebook
from mailflow.rulebook.organization import load_organization
from mailflow.rulebook.parse_settings import parse_context
from mailflow.settings import load_settings
from tests.rulebook.builders import REPO, TEMPLATES

INBOX = REPO / "examples" / "inbox" / "new"
BOOK = load_rulebook(REPO / "rules", TEMPLATES)
# (template, to, cc) of every mail the default rules plan, per example number
EXPECTED: dict[int, set[tuple[str, tuple[str, ...], tuple[str, ...]]]] = {
    1: {
        (
            "minutes_received",
            ("zhang.san@example.com",),
            (
                "li.si@example.com",
                "wang.wu@example.com",
                "liu.yang@example.com",
                "zhao.liu@example.com",
                "sun.li@example.com",
            ),
        )
    },
    2: set(),
    3: set(),
    4: set(),
    5: {
        ("receipt", ("liu.yang@example.com",), ()),
        ("missing_fields", ("wu.min@example.com",), ("liu.yang@example.com",)),
    },
    6: set(),
    7: {
        ("complaint_ack", ("yang.ming@kehu-a.com.cn",), ()),
        ("managers_copy", ("zhou.qiang@example.com",), ()),
    },
    8: set(),
    9: set(),
    10: set(),
    11: {("change_request_ack", ("xu.jianguo@kehu-b.com",), ())},
    12: set(),
    13: set(),
    14: set(),
    15: {("subject_help", ("zheng.hao@example.com",), ())},
}


def _decision(number: int) -> Decision:
    ctx = parse_context(load_organization(REPO / "rules"), load_settings())
    files = sorted(INBOX.iterdir(), key=lambda p: int(p.name.split(".")[0]))
    parsed = parse_message(files[number - 1].read_bytes(), ctx)
    return decide(BOOK, MessageFacts.of(parsed, BOOK.organization))


@pytest.mark.parametrize("number", sorted(EXPECTED))
def test_example_mail(number: int) -> None:
    """Each example mail gets exactly the mails its row in examples/README.md calls for."""
    decision = _decision(number)
    assert {(m.template, m.to, m.cc) for m in decision.mails} == EXPECTED[number]
    assert len(decision.hits) + len(decision.misses) == len(BOOK.rules)


def test_minutes_ask_every_participant_within_24h() -> None:
    """Mail 1: 已阅 is expected from each To participant within 24 hours, and items are tracked."""
    decision = _decision(1)
    (plan,) = decision.requests
    assert plan.addresses == (
        "li.si@example.com",
        "wang.wu@example.com",
        "liu.yang@example.com",
        "zhao.liu@example.com",
    )
    assert str(plan.within) == "24 hours"
    assert decision.track_items
    (mail,) = decision.mails
    assert mail.extra["within_hours"] == 24
    assert [p["name"] for p in mail.extra["participants"]] == ["李四", "王五", "刘洋", "赵六"]


def test_progress_update_explains_why_nothing_is_sent() -> None:
    """Mail 6: the tracker is attached and the leaders copied, and the hit says both."""
    (hit,) = _decision(6).hits
    assert hit.rule == "进度汇报"
    assert hit.notes == (
        "项目进度跟踪表_v1.2_20231008.xlsx is attached as required",
        "managers of 技术部 already on the mail: li.si@example.com",
    )


def test_badly_formed_subject_gets_the_corrected_form() -> None:
    """Mail 15: 郑浩 alone is shown 【进度预警】技术部-…, and the progress rule says why it missed."""
    decision = _decision(15)
    (mail,) = decision.mails
    assert mail.extra["suggestion"] == "【进度预警】技术部-Q4迭代订单接口联调可能延期"
    misses = {m.rule: m.why for m in decision.misses}
    assert misses["进度汇报"] == "事由 is 进度预警, not one of 进度汇报, 进度更新, 进度同步"


@pytest.mark.parametrize("number", [8, 9, 14])
def test_automatic_mail_is_never_answered(number: int) -> None:
    """The bounce, the out-of-office reply and the newsletter hit no rule at all."""
    decision = _decision(number)
    assert not decision.hits and not decision.requests and not decision.track_items
    assert all(m.why.startswith("automatic mail is never answered (") for m in decision.misses)


def test_change_request_needs_both_sides() -> None:
    """Mail 11: 销售部 (吴敏) and the project team (郑浩) are to confirm within 3 business days."""
    (plan,) = _decision(11).requests
    assert plan.addresses == ("wu.min@example.com", "zheng.hao@example.com")
    assert str(plan.within) == "3 business days"
