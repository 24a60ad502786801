"""Tests for mailflow/outbound/compose.py: headers, threading, encoding, determinism."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser
from typing import Any

import pytest

from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext
from mailflow.outbound.compose import compose, outgoing_message_id
from mailflow.outbound.render import RenderedMail

CST = timezone(timedelta(hours=8))
SUBJECT = "【回执】技术部-Q4产品迭代进度同步"
ORIGINAL = "<20231008100000.1@example.com>"
ROOT = "<20231001090000.7@example.com>"


def build(**overrides: Any) -> bytes:
    """Return a composed receipt to 张三 copying 李四, answering ORIGINAL."""
    args: dict[str, Any] = {
        "from_addr": "coord@example.com",
        "from_name": "示例科技 协调平台",
        "to": [("张三", "zhang.san@example.com")],
        "cc": ["li.si@example.com"],
        "message_id": outgoing_message_id("msg-1/receipt/zhang.san@example.com", "example.com"),
        "in_reply_to": ORIGINAL,
        "references": [ROOT],
        "date": datetime(2023, 10, 8, 10, 5, tzinfo=CST),
    }
    args.update(overrides)
    rendered = args.pop("rendered", RenderedMail(SUBJECT, "张三，您好：\n已收到。\n", None))
    return compose(rendered, **args)


def test_headers_thread_and_suppress_auto_replies() -> None:
    """From/Reply-To are the shared address; threading and anti-loop headers are present."""
    msg = BytesParser(policy=policy.default).parsebytes(build())
    assert msg["From"].addresses[0].addr_spec == "coord@example.com"
    assert msg["From"].addresses[0].display_name == "示例科技 协调平台"
    assert str(msg["Reply-To"]) == "coord@example.com"
    assert msg["To"].addresses[0].display_name == "张三"
    assert str(msg["Cc"]) == "li.si@example.com"
    assert msg["In-Reply-To"] == ORIGINAL
    assert msg["References"].split() == [ROOT, ORIGINAL]
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Date"] == "Sun, 08 Oct 2023 10:05:00 +0800"
    assert msg["Subject"] == SUBJECT
    assert msg.get_content_type() == "text/plain"
    # base64 text carries canonical CRLF line ends (RFC 2045 §6.8)
    assert msg.get_content() == "张三，您好：\r\n已收到。\r\n"


def test_chinese_subject_is_encoded_and_round_trips_through_the_parser() -> None:
    """The raw header is RFC 2047 ASCII; mailflow's own parser reads it back and sees an auto-reply."""
    raw = build()
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert header_block.isascii() and b"=?utf-8?b?" in header_block
    parsed = parse_message(raw, ParseContext())
    assert parsed.subject.raw == SUBJECT
    assert parsed.subject.reason == "回执" and parsed.subject.topic == "Q4产品迭代进度同步"
    assert parsed.in_reply_to == ORIGINAL
    assert parsed.automated  # invariant 7: our own mail never gets answered


def test_html_makes_multipart_alternative_and_is_byte_stable() -> None:
    """With HTML the mail is multipart/alternative, and composing it twice gives the same bytes."""
    rendered = RenderedMail(SUBJECT, "文本\n", "<p>网页</p>\n")
    raw = build(rendered=rendered)
    assert raw == build(rendered=rendered)
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert list(msg.iter_parts())[1].get_content() == "<p>网页</p>\r\n"
    assert raw.count(b"MIME-Version") == 1
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_outgoing_message_id_is_deterministic() -> None:
    """The same idempotency key always gives the same Message-ID on the organisation's domain."""
    first = outgoing_message_id("outbox:42", "example.com")
    assert first == outgoing_message_id("outbox:42", "Example.COM".lower())
    assert first != outgoing_message_id("outbox:43", "example.com")
    assert first.startswith("<mailflow.") and first.endswith("@example.com>")


@pytest.mark.parametrize(
    "overrides",
    [
        {"to": ["x@example.com\r\nBcc: evil@example.net"]},
        {"from_name": "协调\r\nBcc: evil@example.net"},
        {"to": []},
        {"in_reply_to": "not an id"},
        {"message_id": "<a b@c>"},
        {"auto_submitted": "no"},
        {"date": datetime(2023, 10, 8, 10, 5)},
    ],
)
def test_unsafe_values_are_refused(overrides: dict[str, Any]) -> None:
    """Header injection, naive dates, bad ids and empty recipients raise ValueError."""
    with pytest.raises(ValueError):
        build(**overrides)


def test_references_are_trimmed_to_root_and_latest() -> None:
    """A long thread keeps its first and most recent ids only."""
    refs = [f"<m{i}@example.com>" for i in range(50)]
    msg = BytesParser(policy=policy.default).parsebytes(build(references=refs))
    kept = msg["References"].split()
    assert kept[0] == "<m0@example.com>" and kept[-1] == ORIGINAL and len(kept) == 20
