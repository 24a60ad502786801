"""decide(): each action, stop, automatic mail, invariant-8 recipients and subject suggestions."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.mail.model import Subject
from mailflow.rulebook.decision import decide
from mailflow.rulebook.duration import Duration
from mailflow.rulebook.suggest import suggest_subject
from tests.rulebook.builders import address, attachment, facts, item, message, rulebook, subject


def _one_rule(do: str, when: str = "{}") -> str:
    return f"rules:\n  - name: r\n    when: {when}\n    do:\n{do}"


def test_reply_goes_to_the_sender_with_cc(tmp_path: Path) -> None:
    """reply answers the sender; cc may name roles, departments (managers) and written addresses."""
    book = rulebook(
        tmp_path,
        _one_rule("      - reply: {template: receipt, cc: [to, 市场部, boss@partner.com]}\n"),
    )
    mail = decide(book, facts()).mails[0]
    assert (mail.rule, mail.action_index, mail.template) == ("r", 0, "receipt")
    assert mail.to == ("zhang.san@example.com",)
    assert mail.cc == ("li.si@example.com", "liu.yang@example.com", "boss@partner.com")
    assert mail.extra["suggestion"] == "【任务分配】技术部-接口联调"
    assert mail.extra["department"] == "技术部"


@pytest.mark.parametrize(
    ("of", "cc", "to", "note"),
    [
        ("sender", (), ("li.si@example.com",), None),
        ("sender", ("li.si@example.com",), None, "managers of 技术部 already on the mail"),
        ("named", (), ("li.si@example.com",), None),
        ("售后部", (), ("zhou.qiang@example.com",), None),
    ],
)
def test_copy_managers(
    tmp_path: Path, of: str, cc: tuple[str, ...], to: tuple[str, ...] | None, note: str | None
) -> None:
    """copy_managers writes to the managers the sender did not copy, or notes that all were."""
    book = rulebook(
        tmp_path, _one_rule(f"      - copy_managers: {{of: {of}, template: managers_copy}}\n")
    )
    decision = decide(
        book, facts(to=(address("wang.wu@example.com"),), cc=tuple(address(a) for a in cc))
    )
    assert tuple(m.to for m in decision.mails) == ((to,) if to else ())
    if note:
        assert any(note in n for n in decision.hits[0].notes)


def test_copy_managers_copies_anyway_when_asked(tmp_path: Path) -> None:
    """unless_copied: false copies the managers even when they are already on the mail."""
    book = rulebook(
        tmp_path,
        _one_rule(
            "      - copy_managers: {of: sender, template: managers_copy, unless_copied: false}\n"
        ),
    )
    assert decide(book, facts()).mails[0].to == ("li.si@example.com",)


def test_notify_listed_addresses_and_departments(tmp_path: Path) -> None:
    """notify writes to addresses written in the rule and to departments' managers."""
    book = rulebook(
        tmp_path,
        _one_rule("      - notify: {to: [audit@partner.com, 法务部], template: receipt}\n"),
    )
    assert decide(book, facts()).mails[0].to == ("audit@partner.com", "gao.jie@example.com")


def test_request_confirmation_and_tracking(tmp_path: Path) -> None:
    """request_confirmation plans who must confirm by when; the shared address and sender are not asked."""
    book = rulebook(
        tmp_path,
        _one_rule(
            "      - request_confirmation: {from: [to, cc], within: 3 business days}\n      - track_action_items\n"
        ),
    )
    decision = decide(
        book,
        facts(
            cc=(
                address("coord@example.com"),
                address("wang.wu@example.com"),
                address("zhang.san@example.com"),
            )
        ),
    )
    (plan,) = decision.requests
    assert plan.from_roles == ("to", "cc")
    assert plan.within == Duration(3, "days", business=True)
    assert plan.addresses == ("li.si@example.com", "wang.wu@example.com")
    assert decision.track_items and not decision.mails


def test_require_fields_asks_each_owner_cc_sender(tmp_path: Path) -> None:
    """require_fields writes to the owner of each incomplete item (cc the sender), else to the sender."""
    book = rulebook(
        tmp_path,
        _one_rule("      - require_fields: {fields: [deadline], template: missing_fields}\n"),
    )
    items = (
        item("邀约名单", owner="吴敏", owner_email="wu.min@example.com", missing=("deadline",)),
        item("物料", owner=None, owner_email=None, missing=("owner", "deadline")),
        item("测试", missing=("deliverable",)),
    )
    mails = decide(book, facts(action_items=items)).mails
    assert [(m.to, m.cc) for m in mails] == [
        (("wu.min@example.com",), ("zhang.san@example.com",)),
        (("zhang.san@example.com",), ()),
    ]
    assert [i["index"] for i in mails[0].extra["items"]] == [1]
    assert mails[1].extra["items"][0]["missing"] == ["deadline"]
    assert mails[1].extra["missing"] == ["deadline"]


def test_require_fields_notes_complete_items(tmp_path: Path) -> None:
    """With every item complete, require_fields sends nothing and says so."""
    book = rulebook(tmp_path, _one_rule("      - require_fields: {template: missing_fields}\n"))
    decision = decide(book, facts(action_items=(item(),)))
    assert not decision.mails
    assert decision.hits[0].notes == ("every action item has owner, deadline, deliverable",)


@pytest.mark.parametrize(
    ("files", "sent"),
    [((), True), (("周报.xlsx",), True), (("项目进度跟踪表_v1.2_20231008.xlsx",), False)],
)
def test_require_attachment(tmp_path: Path, files: tuple[str, ...], sent: bool) -> None:
    """require_attachment asks the sender only when no attachment is named like the pattern."""
    book = rulebook(
        tmp_path,
        _one_rule(
            "      - require_attachment: {pattern: 项目进度跟踪表, template: attachment_required}\n"
        ),
    )
    mails = decide(book, facts(attachments=tuple(attachment(f) for f in files))).mails
    assert [m.extra["required_attachment"] for m in mails] == (["项目进度跟踪表"] if sent else [])


def test_stop_ends_the_run(tmp_path: Path) -> None:
    """After a rule says stop, later rules are misses that say which rule stopped them."""
    text = "rules:\n  - name: a\n    do: [{reply: receipt}, stop, {reply: subject_help}]\n  - name: b\n    do: [{reply: receipt}]\n"
    decision = decide(rulebook(tmp_path, text), facts())
    assert [m.template for m in decision.mails] == ["receipt"]
    assert [(m.rule, m.why) for m in decision.misses] == [("b", "not run: rule 'a' said stop")]


def test_automatic_mail_gets_no_rule(tmp_path: Path) -> None:
    """Automatic mail hits nothing, and every rule says why (invariant 7)."""
    book = rulebook(tmp_path, _one_rule("      - reply: receipt\n"))
    decision = decide(book, facts(automated=True, automated_reason="Precedence: bulk"))
    assert not decision.hits and not decision.mails and not decision.requests
    assert [m.why for m in decision.misses] == [
        "automatic mail is never answered (Precedence: bulk)"
    ]


def test_recipients_limited_by_invariant_8(tmp_path: Path) -> None:
    """An owner address read from the body is left out; the shared address is never written to."""
    book = rulebook(
        tmp_path,
        _one_rule(
            "      - require_fields: {template: missing_fields}\n      - reply: {template: receipt, cc: [cc]}\n"
        ),
    )
    stranger = item("x", owner="某人", owner_email="someone@elsewhere.com", missing=("deadline",))
    decision = decide(book, facts(action_items=(stranger,)))
    assert [(m.to, m.cc) for m in decision.mails] == [
        (("zhang.san@example.com",), ()),
        (("zhang.san@example.com",), ()),
    ]


def test_no_recipient_left_sends_nothing(tmp_path: Path) -> None:
    """When only the shared address is left, nothing is sent and the hit says so."""
    book = rulebook(tmp_path, _one_rule("      - notify: {to: [to], template: receipt}\n"))
    decision = decide(book, facts(to=(address("coord@example.com"),)))
    assert not decision.mails
    assert decision.hits[0].notes == ("receipt: no allowed recipient, nothing sent",)


def test_same_mail_planned_once(tmp_path: Path) -> None:
    """Two rules asking for the same template to the same people plan one mail."""
    text = (
        "rules:\n  - name: a\n    do: [{reply: receipt}]\n  - name: b\n    do: [{reply: receipt}]\n"
    )
    decision = decide(rulebook(tmp_path, text), facts())
    assert len(decision.mails) == 1
    assert "already planned" in decision.hits[1].notes[0]


def _subject(raw: str, reason: str | None, department: str | None, topic: str | None) -> Subject:
    return subject(raw, reason=reason, department=department, topic=topic, conforms=False)


@pytest.mark.parametrize(
    ("parsed_subject", "department", "expected"),
    [
        (
            _subject(
                "[进度预警] Q4迭代订单接口联调可能延期",
                "进度预警",
                None,
                "Q4迭代订单接口联调可能延期",
            ),
            "技术部",
            "【进度预警】技术部-Q4迭代订单接口联调可能延期",
        ),
        (
            _subject("需求变更申请：报表调整", None, None, "需求变更申请：报表调整"),
            "销售部",
            "【事由】销售部-需求变更申请：报表调整",
        ),
        (_subject("【通知】市场部", "通知", "市场部", None), None, "【通知】市场部-主题"),
        (
            _subject("【会议纪要】Q4同步", "会议纪要", None, "Q4同步"),
            None,
            "【会议纪要】部门-Q4同步",
        ),
    ],
)
def test_suggest_subject(parsed_subject: Subject, department: str | None, expected: str) -> None:
    """The suggestion keeps what was written and fills the gaps from the sender's department."""
    assert suggest_subject(message(subject=parsed_subject), department) == expected


def test_answer_to_mailflows_own_mail_gets_nothing(tmp_path: Path) -> None:
    """A ticket system echoing our receipt (our Message-ID in References) hits no rule, saying why."""
    book = rulebook(tmp_path, _one_rule("      - reply: receipt\n"))
    ours = "<mailflow.0123456789abcdef0123456789abcdef@example.com>"
    decision = decide(book, facts(references=(ours,), in_reply_to=None))
    assert decision.mails == ()
    assert "answering mailflow's own automatic mail" in decision.misses[0].why
    assert ours in decision.misses[0].why


@pytest.mark.parametrize(
    ("results", "forged"),
    [
        ("mx.example.com; spf=fail smtp.mailfrom=example.com; dkim=none; dmarc=fail", True),
        (
            "mx.example.com; spf=fail smtp.mailfrom=example.com; dkim=pass header.d=example.com",
            False,
        ),
        ("relay.attacker.test; spf=pass; dmarc=pass header.from=example.com", False),
        ("relay.attacker.test; dmarc=fail header.from=example.com", False),  # not our server
    ],
)
def test_a_forged_staff_address_gets_no_answer_at_all(
    tmp_path: Path, results: str, forged: bool
) -> None:
    """A From of ours that our own MX failed is answered nowhere: the answer would reach the
    real owner of the address; a verdict from anyone else's server changes nothing."""
    book = rulebook(tmp_path, _one_rule("      - reply: receipt\n"))
    decision = decide(book, facts(authentication_results=(results,)))
    assert (decision.mails == ()) is forged
    if forged:
        assert "real owner of that address" in decision.misses[0].why
