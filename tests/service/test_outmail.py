"""The ``message`` template variable has one home: a reply built from the parsed mail and a clock
mail built from the stored row say the same about the mail."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext, to_contract
from mailflow.service.outmail import stored_message_data
from mailflow.service.template_data import message_data
from mailflow.store.models import Message

TZ = ZoneInfo("Asia/Shanghai")
CTX = ParseContext()

MAILS = {
    "conforming": (
        "From: 郑浩 <zheng.hao@example.com>\r\nTo: 李四 <li.si@example.com>\r\n"
        "Cc: 张三 <zhang.san@example.com>, coord@example.com\r\n"
        "Subject: =?utf-8?b?44CQ6L+b5bqm5rGH5oql44CR5oqA5pyv6YOoLeWbuuS7tuWNh+e6pw==?=\r\n"
        "Date: Thu, 12 Mar 2026 16:05:00 +0800\r\nMessage-ID: <fw-0312@example.com>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n固件升级已完成七成。\r\n"
    ),
    "undated, no subject tag": (
        "From: ops@vendor.example\r\nTo: coord@example.com\r\nSubject: ticket 4411 updated\r\n"
        "Message-ID: <t4411@vendor.example>\r\nContent-Type: text/plain\r\n\r\nSee portal.\r\n"
    ),
}


@pytest.mark.parametrize("name", sorted(MAILS))
def test_reply_and_clock_mail_see_the_same_message(name: str) -> None:
    """``message`` built from the parsed mail equals ``message`` built from its stored row."""
    parsed = parse_message(MAILS[name].encode(), CTX)
    row = Message(message_id=parsed.message_id, parsed=to_contract(parsed))
    from_parsed = message_data(parsed, TZ)
    assert from_parsed == stored_message_data(row, TZ)
    assert from_parsed["subject"] == parsed.subject.raw
