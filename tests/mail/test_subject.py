"""The subject convention 【事由】+部门+主题 (DESIGN §5), read from decoded subject text."""

from __future__ import annotations

import base64
import itertools

import pytest

from mailflow.mail.message import parse_message
from mailflow.mail.model import (
    MISSING_DEPARTMENT,
    MISSING_REASON,
    MISSING_TOPIC,
    NONSTANDARD_BRACKETS,
    UNKNOWN_DEPARTMENT,
    ParseContext,
)
from mailflow.mail.subject import parse_subject

DEPARTMENTS = {
    "技术部": "技术部",
    "研发部": "技术部",
    "市场部": "市场部",
    "IT": "信息技术部",
    "人力资源部": "人力资源部",
    "HR": "人力资源部",
}
SEPARATED = [
    f"【会议纪要】技术部{s}Q4产品迭代进度同步"
    for s in ("-", "+", " ", "｜", "：", "", "|", ":", "—", "_", " - ")
]
SEPARATED.append("【会议纪要】+技术部+Q4产品迭代进度同步")
CHAINS = [
    ("", []),
    ("Re: ", ["Re"]),
    ("RE: ", ["RE"]),
    ("回复: ", ["回复"]),
    ("答复：", ["答复"]),
    ("转发: ", ["转发"]),
    ("Fw: ", ["Fw"]),
    ("FW：", ["FW"]),
    ("Fwd: ", ["Fwd"]),
    ("Re: Re: ", ["Re", "Re"]),
    ("回复：转发：Re: ", ["回复", "转发", "Re"]),
    ("RE: FW: 回复: ", ["RE", "FW", "回复"]),
    ("re[2]: ", ["re[2]"]),
    ("AW: WG: ", ["AW", "WG"]),
    ("回覆: ", ["回覆"]),
    ("R: I: ", ["R", "I"]),
]


@pytest.mark.parametrize(("subject", "chain"), list(itertools.product(SEPARATED, CHAINS)))
def test_design_forms_behind_any_prefix_chain(subject: str, chain: tuple[str, list[str]]) -> None:
    """Every separator form of DESIGN §5 behind any prefix chain yields reason, department and topic."""
    parsed = parse_subject(chain[0] + subject, {})
    assert parsed.prefixes == tuple(chain[1])
    assert (parsed.reason, parsed.department, parsed.topic) == (
        "会议纪要",
        "技术部",
        "Q4产品迭代进度同步",
    )
    assert parsed.conforms and parsed.problems == ()


@pytest.mark.parametrize(
    ("subject", "reason", "department", "topic", "problems"),
    [
        (
            "[会议纪要]技术部-Q4产品迭代进度同步",
            "会议纪要",
            "技术部",
            "Q4产品迭代进度同步",
            (NONSTANDARD_BRACKETS,),
        ),
        (
            "［会议纪要］技术部 Q4产品迭代进度同步",
            "会议纪要",
            "技术部",
            "Q4产品迭代进度同步",
            (NONSTANDARD_BRACKETS,),
        ),
        (
            "〖会议纪要〗技术部｜Q4产品迭代进度同步",
            "会议纪要",
            "技术部",
            "Q4产品迭代进度同步",
            (NONSTANDARD_BRACKETS,),
        ),
        ("【会议纪要】研发部-Q4产品迭代进度同步", "会议纪要", "技术部", "Q4产品迭代进度同步", ()),
        ("【需求】IT-邮箱扩容", "需求", "信息技术部", "邮箱扩容", ()),
        ("【需求】hr：招聘计划", "需求", "人力资源部", "招聘计划", ()),
        ("【需求】ITEM list review", "需求", None, "ITEM list review", (MISSING_DEPARTMENT,)),
        (
            "【通知】销售中心-年终总结安排",
            "通知",
            "销售中心",
            "年终总结安排",
            (UNKNOWN_DEPARTMENT,),
        ),
        ("【通知】财务处 报销流程", "通知", "财务处", "报销流程", (UNKNOWN_DEPARTMENT,)),
        ("【通知】质检科：抽检结果", "通知", "质检科", "抽检结果", (UNKNOWN_DEPARTMENT,)),
        (
            "【通知】总经理办公室—会议室调整",
            "通知",
            "总经理办公室",
            "会议室调整",
            (UNKNOWN_DEPARTMENT,),
        ),
        ("【周报】测试组_第3周", "周报", "测试组", "第3周", (UNKNOWN_DEPARTMENT,)),
        ("【通知】关于处理流程调整", "通知", None, "关于处理流程调整", (MISSING_DEPARTMENT,)),
        (
            "【通知】全部员工请于周五前提交",
            "通知",
            None,
            "全部员工请于周五前提交",
            (MISSING_DEPARTMENT,),
        ),
        (
            "【通知】请各部门于周五前提交",
            "通知",
            None,
            "请各部门于周五前提交",
            (MISSING_DEPARTMENT,),
        ),
        ("【通知】会议室预订规则", "通知", None, "会议室预订规则", (MISSING_DEPARTMENT,)),
        ("【通知】示例科技年会安排", "通知", None, "示例科技年会安排", (MISSING_DEPARTMENT,)),
        (
            "【会议纪要】【技术部】Q4产品迭代进度同步",
            "会议纪要",
            "技术部",
            "Q4产品迭代进度同步",
            (),
        ),
        ("技术部-Q4产品迭代进度同步", None, "技术部", "Q4产品迭代进度同步", (MISSING_REASON,)),
        ("【会议纪要】技术部", "会议纪要", "技术部", None, (MISSING_TOPIC,)),
        ("【】技术部-周会", None, "技术部", "周会", (MISSING_REASON,)),
        ("Lunch on Friday?", None, None, "Lunch on Friday?", (MISSING_REASON, MISSING_DEPARTMENT)),
        ("", None, None, None, (MISSING_REASON, MISSING_DEPARTMENT, MISSING_TOPIC)),
        ("  【 会议纪要 】 技术部 - Q4 产品 同步  ", "会议纪要", "技术部", "Q4 产品 同步", ()),
    ],
)
def test_subject_parts_and_problems(
    subject: str,
    reason: str | None,
    department: str | None,
    topic: str | None,
    problems: tuple[str, ...],
) -> None:
    """Each realistic subject yields the expected reason, canonical department, topic and problem codes."""
    parsed = parse_subject(subject, DEPARTMENTS)
    assert (parsed.reason, parsed.department, parsed.topic, parsed.problems) == (
        reason,
        department,
        topic,
        problems,
    )
    assert parsed.conforms is (
        NONSTANDARD_BRACKETS not in problems and None not in (reason, department, topic)
    )


def test_unknown_department_still_conforms() -> None:
    """A department named by suffix but missing from the directory keeps the subject conforming."""
    parsed = parse_subject("【通知】后勤保障部-食堂调整", DEPARTMENTS)
    assert parsed.department == "后勤保障部"
    assert parsed.problems == (UNKNOWN_DEPARTMENT,)
    assert parsed.conforms


def test_empty_directory_reports_no_unknown_department() -> None:
    """With no directory configured, a suffix department is accepted without unknown_department."""
    assert parse_subject("【通知】后勤保障部-食堂调整", {}).problems == ()


def test_raw_subject_is_kept_as_written() -> None:
    """The raw field keeps the prefixes and brackets exactly as written."""
    assert parse_subject("Re: 【会议纪要】技术部-Q4", {}).raw == "Re: 【会议纪要】技术部-Q4"


def encoded_word(text: str, charset: str, split_at: int | None = None) -> str:
    """Return ``text`` as RFC 2047 B encoded-words, optionally split at a byte offset."""
    data = text.encode(charset)
    chunks = [data] if split_at is None else [data[:split_at], data[split_at:]]
    return "\r\n ".join(f"=?{charset}?B?{base64.b64encode(c).decode()}?=" for c in chunks)


SIMPLIFIED = "Re: 【会议纪要】技术部-Q4产品迭代进度同步"
TRADITIONAL = "Re: 【會議紀要】技術部-Q4產品迭代進度同步"


@pytest.mark.parametrize(
    ("text", "charset", "split_at", "expected"),
    [
        (SIMPLIFIED, "utf-8", None, ("会议纪要", "技术部", "Q4产品迭代进度同步")),
        (SIMPLIFIED, "utf-8", 11, ("会议纪要", "技术部", "Q4产品迭代进度同步")),
        (SIMPLIFIED, "gb2312", None, ("会议纪要", "技术部", "Q4产品迭代进度同步")),
        (SIMPLIFIED, "gb2312", 7, ("会议纪要", "技术部", "Q4产品迭代进度同步")),
        (SIMPLIFIED, "gbk", 9, ("会议纪要", "技术部", "Q4产品迭代进度同步")),
        (TRADITIONAL, "big5", None, ("會議紀要", "技術部", "Q4產品迭代進度同步")),
        (TRADITIONAL, "big5", 9, ("會議紀要", "技術部", "Q4產品迭代進度同步")),
    ],
)
def test_rfc2047_subjects_decode_before_parsing(
    text: str, charset: str, split_at: int | None, expected: tuple[str, str, str]
) -> None:
    """Encoded-word subjects in utf-8, gb2312, gbk and big5 (even split mid-character) parse like plain ones."""
    raw = f"From: a@example.com\r\nSubject: {encoded_word(text, charset, split_at)}\r\n\r\nbody\r\n".encode(
        "ascii"
    )
    subject = parse_message(raw, ParseContext()).subject
    assert subject.raw == text
    assert subject.prefixes == ("Re",)
    assert (subject.reason, subject.department, subject.topic) == expected
