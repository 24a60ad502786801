"""Issue 9 §1: an outsider never chooses a recipient; what the policy drops is in the decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.mail.model import ParsedMessage
from mailflow.rulebook.decision import decide
from mailflow.rulebook.facts import MessageFacts
from mailflow.rulebook.loader import Rulebook
from mailflow.rulebook.recipients import Dropped, DropReason, Gate
from tests.rulebook.builders import ORG, REPO, address, facts, item, message, rulebook, subject

SHIPPED_RULES = (REPO / "rules" / "rules.yaml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Rulebook:
    """The shipped rules and organisation."""
    return rulebook(tmp_path_factory.mktemp("rules"), SHIPPED_RULES)


def _outsider(
    sender: str, to: tuple[str, ...], cc: tuple[str, ...], **fields: object
) -> MessageFacts:
    parsed = message(
        from_=address(sender),
        to=tuple(address(a) for a in to),
        cc=tuple(address(a) for a in ("coord@example.com", *cc)),
        authentication_results=(),
        **fields,
    )
    result = MessageFacts.of(parsed, ORG)
    assert not result.sender_internal
    return result


def _reasons(dropped: tuple[Dropped, ...]) -> dict[tuple[str, str], str]:
    return {(d.mail, d.address): d.reason.value for d in dropped}


def test_outsider_minutes_go_to_the_sender_and_their_colleagues_only(shipped: Rulebook) -> None:
    """A supplier's minutes: the receipt reaches the supplier's people; staff and third parties
    on the mail are dropped with reasons, and the staff it went to are asked to confirm."""
    minutes = _outsider(
        "wu.gang@hbsteel.com.cn",
        to=("ma.li@example.com", "qian.lei@example.com"),
        cc=("dispatch@wuliu-express.cn", "sales2@hbsteel.com.cn"),
        subject=subject(
            "【会议纪要】采购部-三季度螺纹钢供货周期", reason="会议纪要", department="采购部"
        ),
    )
    decision = decide(shipped, minutes)
    [receipt] = decision.mails
    assert receipt.template == "minutes_received"
    assert receipt.to == ("wu.gang@hbsteel.com.cn",)
    assert receipt.cc == ("sales2@hbsteel.com.cn",)
    assert decision.requests[0].addresses == ("ma.li@example.com", "qian.lei@example.com")
    assert _reasons(decision.dropped) == {
        ("minutes_received", "ma.li@example.com"): "outsider_named_staff",
        ("minutes_received", "qian.lei@example.com"): "outsider_named_staff",
        ("minutes_received", "dispatch@wuliu-express.cn"): "outsider_third_domain",
    }
    notes = [n for h in decision.hits for n in h.notes]
    assert any("left out dispatch@wuliu-express.cn" in n for n in notes)


def test_outsider_change_request_with_cc_answers_the_sender_alone(shipped: Rulebook) -> None:
    """A client's 需求变更 copying a consultancy: the acknowledgement goes to the client only."""
    change = _outsider(
        "pm@cmbank-kj.com",
        to=("wang.wu@example.com",),
        cc=("advisor@zhixin-consult.com",),
        subject=subject(
            "需求变更：网银二期登录页改版", conforms=False, reason=None, department=None
        ),
        new_text="附件为需求变更申请表，请贵司确认。",
    )
    decision = decide(shipped, change)
    assert [(m.template, m.to, m.cc) for m in decision.mails] == [
        ("change_request_ack", ("pm@cmbank-kj.com",), ()),
        ("attachment_required", ("pm@cmbank-kj.com",), ()),
    ]
    assert decision.requests[0].addresses == ("wang.wu@example.com",)
    assert ("confirmation", "advisor@zhixin-consult.com") in _reasons(decision.dropped)


def test_outsider_assigning_tasks_to_staff_asks_the_sender_alone(shipped: Rulebook) -> None:
    """An outsider naming 李四, 周强 and 何军 as owners: missing_fields goes to the outsider
    alone, and each owner is listed as dropped because the outsider named them."""
    owners = ("li.si@example.com", "zhou.qiang@example.com", "he.jun@example.com")
    tasks = _outsider(
        "coordinator@huaxin-pm.cn",
        to=owners,
        cc=(),
        subject=subject("【任务分配】技术部-门店系统切换", reason="任务分配"),
        action_items=tuple(
            item(f"任务{i}", owner_email=o, deliverable=None, missing=("deliverable",))
            for i, o in enumerate(owners, 1)
        ),
    )
    decision = decide(shipped, tasks)
    asks = [m for m in decision.mails if m.template == "missing_fields"]
    assert [(m.to, m.cc) for m in asks] == [(("coordinator@huaxin-pm.cn",), ())]
    assert len(asks[0].extra["items"]) == 3
    dropped = _reasons(decision.dropped)
    assert {dropped[("missing_fields", o)] for o in owners} == {"outsider_named_staff"}
    receipt = next(m for m in decision.mails if m.template == "receipt")
    assert (receipt.to, receipt.cc) == (("coordinator@huaxin-pm.cn",), ())


def test_outsider_complaint_copies_the_managers_the_rules_name(shipped: Rulebook) -> None:
    """A complaint: the managers of 售后部, named by the rules, are copied; a third party is not."""
    complaint = _outsider(
        "ops@lvyuan-hotel.com",
        to=("chen.jing@example.com",),
        cc=("lawyer@tianhe-law.cn",),
        subject=subject(
            "【客户投诉】售后部-客房门锁批量失灵", reason="客户投诉", department="售后部"
        ),
    )
    decision = decide(shipped, complaint)
    assert [(m.template, m.to, m.cc) for m in decision.mails] == [
        ("complaint_ack", ("ops@lvyuan-hotel.com",), ()),
        ("managers_copy", ("zhou.qiang@example.com",), ()),
    ]


def test_staff_mail_keeps_its_recipients(tmp_path: Path) -> None:
    """Mail from staff is not an outsider's: To and Cc stay, and nothing is dropped."""
    book = rulebook(
        tmp_path,
        "rules:\n  - name: r\n    when: {}\n    do:\n"
        "      - reply: {template: receipt, cc: [to, cc]}\n",
    )
    decision = decide(book, facts(cc=(address("partner@kehu-a.com.cn"),)))
    assert decision.mails[0].cc == ("li.si@example.com", "partner@kehu-a.com.cn")
    assert decision.dropped == ()


def test_spoofed_staff_address_is_an_outsider(shipped: Rulebook) -> None:
    """From: li.si@example.com with dmarc=fail at our MX is external: no subject_help to 李四."""
    spoof = message(
        from_=address("li.si@example.com"),
        to=(address("coord@example.com"),),
        cc=(address("zhang.san@example.com"),),
        subject=subject("请尽快处理付款", conforms=False, reason=None, department=None),
        authentication_results=("mx.example.com; spf=fail; dmarc=fail header.from=example.com",),
    )
    spoofed = MessageFacts.of(spoof, ORG)
    assert "dmarc=fail" in spoofed.trust_reason
    assert decide(shipped, spoofed).mails == ()


def _gate(parsed: ParsedMessage, written: tuple[str, ...] = ()) -> Gate:
    return Gate.of(MessageFacts.of(parsed, ORG), ORG, written)


OUTSIDER = message(
    from_=address("Li.Ming@Kehu-A.com.cn"),
    to=(address("li.si@example.com"), address("zhao.lei@kehu-a.com.cn")),
    cc=(address("x@third.example.org"),),
    authentication_results=(),
)


@pytest.mark.parametrize(
    ("address_", "by_rule", "reason"),
    [
        ("li.ming@kehu-a.com.cn", False, None),
        ("zhao.lei@kehu-a.com.cn", False, None),
        ("li.si@example.com", False, DropReason.NAMED_BY_OUTSIDER),
        ("li.si@example.com", True, None),
        ("x@third.example.org", False, DropReason.THIRD_DOMAIN),
        ("x@third.example.org", True, DropReason.THIRD_DOMAIN),
        ("gao.jie@example.com", True, None),  # a manager the rules name
        ("wang.wu@example.com", False, DropReason.NAMED_BY_OUTSIDER),
        ("other@kehu-a.com.cn", False, DropReason.NOT_ALLOWED),  # same domain, not on the mail
        ("stranger@nowhere.test", True, DropReason.NOT_ALLOWED),
    ],
)
def test_gate_for_an_outsider(address_: str, by_rule: bool, reason: DropReason | None) -> None:
    """The outsider, their colleagues on the mail and rule-named staff pass; nobody else."""
    assert _gate(OUTSIDER).reason(address_, by_rule) is reason


def test_gate_ledger_keeps_staff_only() -> None:
    """An outsider's ledger names staff only; the sender and the shared address are left out."""
    kept, dropped = _gate(OUTSIDER).ledger(
        [
            "li.ming@kehu-a.com.cn",
            "LI.SI@example.com",
            "zhao.lei@kehu-a.com.cn",
            "coord@example.com",
        ]
    )
    assert kept == ("li.si@example.com",)
    assert [(d.address, d.reason) for d in dropped] == [
        ("zhao.lei@kehu-a.com.cn", DropReason.NOT_STAFF)
    ]
