"""Owners whose name several people share: the mail decides, or the sender is asked."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr

import pytest

from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext, Person

PEOPLE = (
    Person("王伟", "wang.wei@example.com", "技术部"),
    Person("王伟", "wang.wei2@example.com", "市场部"),
    Person("李娜", "li.na@example.com", "财务部"),
    Person("李娜", "li.na2@example.com", "人力资源部"),
    Person("李娜", "li.na3@example.com", "技术部"),
    Person("刘洋", "liu.yang@example.com", "市场部"),
    Person("张三", "zhang.san@example.com", "技术部"),
    Person("高洁", "gao.jie@example.com", "法务部"),
)
DEPARTMENTS = {d: d for d in ("技术部", "市场部", "财务部", "人力资源部", "法务部")} | {
    "研发部": "技术部",
    "人事部": "人力资源部",
}
CTX = ParseContext(people=PEOPLE, departments=DEPARTMENTS)
BOTH_WANG = ("wang.wei@example.com", "wang.wei2@example.com")


def _mail(body: str, sender: str, to: tuple[str, ...], cc: tuple[str, ...] = ()) -> bytes:
    m = EmailMessage()
    m["From"] = formataddr(("", sender))
    m["To"] = ", ".join(to)
    if cc:
        m["Cc"] = ", ".join(cc)
    m["Subject"] = "【任务分配】项目组-年终收尾工作"
    m["Date"] = "Mon, 07 Dec 2026 10:00:00 +0800"
    m["Message-ID"] = "<homonym-test@example.com>"
    m.set_content(body)
    return m.as_bytes()


@pytest.mark.parametrize(
    ("body", "sender", "to", "owner_email", "candidates"),
    [
        # one of them is on the mail: that one
        ("王伟负责在12月11日前提交接口文档。", "zhang.san@example.com",
         ("wang.wei2@example.com",), "wang.wei2@example.com", ()),
        # none on the mail: the sender's own department decides
        ("王伟负责在12月11日前提交推广方案。", "liu.yang@example.com",
         ("coord@example.com",), "wang.wei2@example.com", ()),
        # a department written beside the name wins over the sender's department
        ("技术部王伟负责在12月11日前提交压测报告。", "liu.yang@example.com",
         ("coord@example.com",), "wang.wei@example.com", ()),
        ("请王伟（研发部）于12月11日前提交压测报告。", "liu.yang@example.com",
         ("coord@example.com",), "wang.wei@example.com", ()),
        # labelled lines carry the department in the owner's brackets
        ("责任人：李娜（人事部）；完成时限：12月15日；交付标准：年终考核表", "gao.jie@example.com",
         ("coord@example.com",), "li.na2@example.com", ()),
        # both on the mail and nothing else says which: the sender's department decides
        ("王伟负责在12月11日前提交接口文档。", "zhang.san@example.com",
         BOTH_WANG, "wang.wei@example.com", ()),
        # nothing decides: no guess, the sender is asked
        ("王伟负责在12月11日前提交接口文档。", "gao.jie@example.com",
         ("coord@example.com",), None, BOTH_WANG),
        ("李娜于12月15日前提交报销汇总表。", "partner@kehu-a.com.cn",
         ("coord@example.com",), None, ("li.na@example.com", "li.na2@example.com", "li.na3@example.com")),
        # a name only one person has resolves as always
        ("张三负责在12月11日前提交接口文档。", "gao.jie@example.com",
         ("coord@example.com",), "zhang.san@example.com", ()),
    ],
)  # fmt: skip
def test_shared_names(
    body: str,
    sender: str,
    to: tuple[str, ...],
    owner_email: str | None,
    candidates: tuple[str, ...],
) -> None:
    """The mail's participants, a department named beside the owner, then the sender's
    department decide between people of one name; otherwise the owner stays unresolved."""
    (item,) = parse_message(_mail(body, sender, to), CTX).action_items
    assert item.owner in ("王伟", "李娜", "张三")
    assert item.owner_email == owner_email
    assert item.owner_candidates == candidates
    assert ("owner" in item.missing) is bool(candidates)


def test_unresolved_owner_is_in_the_json_contract() -> None:
    """parse --json shows the candidates beside the contract's item fields."""
    from mailflow.mail.model import to_contract

    parsed = parse_message(
        _mail("王伟负责在12月11日前提交接口文档。", "gao.jie@example.com", ("coord@example.com",)),
        CTX,
    )
    (item,) = to_contract(parsed)["action_items"]
    assert item["owner"] == "王伟" and item["owner_email"] is None
    assert item["owner_candidates"] == list(BOTH_WANG) and "owner" in item["missing"]
