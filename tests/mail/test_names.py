"""Names a mail may use: the directory's automaton, the mail's participants, generic forms."""

from __future__ import annotations

import pytest

from mailflow.mail.model import Address, ParseContext, Person
from mailflow.mail.names import ADDRESSEE, DEPARTMENT, GROUP, PERSON, MailNames

CTX = ParseContext(
    departments={"放射科": "放射科", "影像科": "放射科", "Legal": "法务部", "法务部": "法务部"},
    people=(
        Person("欧阳娜娜", "ouyang.nana@example.com"),
        Person("Mary Chen", "mary.chen@example.com"),
        Person("周彤", "zhou.tong@example.com"),
    ),
)
GUESTS = (Address("Kevin Brown", "kevin@partner.example"), Address("高洁 (法务)", "gao@x.example"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("请欧阳娜娜于周五前提交", [("欧阳娜娜", PERSON)]),
        ("mary chen to send the deck", [("mary chen", PERSON)]),
        ("影像科与法务部共同完成", [("影像科", DEPARTMENT), ("法务部", DEPARTMENT)]),
        ("Kevin Brown will deliver", [("Kevin Brown", PERSON)]),
        ("由高洁输出意见书", [("高洁", PERSON)]),
        ("请王经理和李工确认", [("王经理", PERSON), ("李工", PERSON)]),
        ("Tony王负责联调", [("Tony王", PERSON)]),
        ("请各部门负责人于月底前反馈", [("各部门负责人", GROUP)]),
        ("请您于明天下班前回复", [("您", ADDRESSEE)]),
        ("您好，周彤的报告已收到", [("周彤", PERSON)]),
        ("质量管理小组和设备科", [("质量管理小组", DEPARTMENT), ("设备科", DEPARTMENT)]),
    ],
)
def test_find(text: str, expected: list[tuple[str, str]]) -> None:
    """Each kind of name is found where it is written, known names before generic forms."""
    names = MailNames.build(CTX.name_index, GUESTS, GUESTS[:1])
    assert [(n.text, n.kind) for n in names.find(text)] == expected


def test_index_is_built_once_per_context() -> None:
    """The automaton belongs to the context: a mail's participants never rebuild it."""
    index = CTX.name_index
    MailNames.build(CTX.name_index, GUESTS)
    assert CTX.name_index is index


def test_addresses_directory_first() -> None:
    """A name resolves through the directory, then the participants; 你 means the one addressee."""
    names = MailNames.build(CTX.name_index, GUESTS, GUESTS[:1])
    assert names.email_of("周彤") == "zhou.tong@example.com"
    assert names.email_of("高洁") == "gao@x.example"
    assert names.addressee_name() == "Kevin Brown"
    assert MailNames.build(CTX.name_index, GUESTS, GUESTS).addressee_name() is None


def test_large_directory() -> None:
    """Ten thousand people cost one automaton; each is found by name."""
    people = tuple(Person(f"员工{i:05d}", f"s{i}@example.com") for i in range(10_000))
    ctx = ParseContext(people=people)
    names = MailNames.build(ctx.name_index, ())
    assert [n.text for n in names.find("请员工09999和员工00001于周五前提交")] == [
        "员工09999",
        "员工00001",
    ]
