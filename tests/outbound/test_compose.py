"""Tests for mailflow/outbound/compose.py: headers, threading, encoding, determinism."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext
from mailflow.outbound.attachments import Attachment
from mailflow.outbound.compose import AUTO_SUBMITTED_VALUES, compose, outgoing_message_id
from mailflow.outbound.render import RenderedMail
from tests.outbound import compose_stdlib

CST = timezone(timedelta(hours=8))
SUBJECT = "【回执】技术部-Q4产品迭代进度同步"
ORIGINAL = "<20231008100000.1@example.com>"
ROOT = "<20231001090000.7@example.com>"
# mails the stdlib equality tries per run (random each run, so runs add up); more by hand with
# MAILFLOW_COMPOSE_EXAMPLES=5000
EXAMPLES = int(os.environ.get("MAILFLOW_COMPOSE_EXAMPLES", "200"))


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


# ---------------------------------------------------------------- the stdlib's bytes, exactly

CJK_NAMES = ["张三", "欧阳娜娜", "示例科技 协调平台", "Zhang San", "O'Brien, Pat", "Müller", ""]
ASCII_LOCAL = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,20}", fullmatch=True)
DOMAIN = st.from_regex(r"[a-z0-9]{1,12}(\.[a-z]{2,8}){1,2}", fullmatch=True)
ADDRESS = st.builds(lambda local, domain: f"{local}@{domain}", ASCII_LOCAL, DOMAIN)
NAME = st.one_of(st.sampled_from(CJK_NAMES), st.text(max_size=30).filter(lambda s: "\n" not in s))
RECIPIENT = st.one_of(ADDRESS, st.tuples(NAME, ADDRESS))
MESSAGE_ID = st.one_of(
    st.builds(
        lambda d: f"<{d}@example.com>", st.from_regex(r"[A-Za-z0-9.$=_-]{1,80}", fullmatch=True)
    ),
    st.builds(lambda k: outgoing_message_id(k, "example.com"), st.text(max_size=20)),
    st.sampled_from(["<a(b)@c>", "<x@[127.0.0.1]>", "<ü@example.com>", "<a..b@c>"]),
)
SUBJECTS = st.one_of(
    st.sampled_from([SUBJECT, "Re: status", "Hello  world", " padded ", "=?utf-8?q?x?=", "a" * 90]),
    st.text(min_size=1, max_size=120),
    st.text(alphabet="【】回执技术部-Q4 abcXYZ 0123，", min_size=1, max_size=90),
    st.from_regex(r"[ -~]{1,100}", fullmatch=True),
)
BODY = st.one_of(
    st.text(max_size=400),
    st.sampled_from(["", "\n", "张三，您好：\r\n已收到。\r\n", "line\rline\x0bmore\u2028end"]),
)
CONTENT_TYPE = st.sampled_from(
    [
        "text/calendar; method=PUBLISH; charset=utf-8",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/pdf",
        'text/plain; charset="gb2312"; format=flowed',
    ]
)
FILENAME = st.one_of(
    st.sampled_from(["行动项截止_20231015.ics", "内部沟通记录表.xlsx", "report.pdf", "a b.txt"]),
    st.text(alphabet="报告abc 123_.-", min_size=1, max_size=60).filter(str.strip),
)
ATTACHMENT = st.builds(Attachment, FILENAME, CONTENT_TYPE, st.binary(max_size=300))
OFFSET = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: timedelta(minutes=m))
DATE = st.builds(
    lambda d, off: d.replace(tzinfo=timezone(off)),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
    OFFSET,
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=SUBJECTS,
    text=BODY,
    html=st.one_of(st.none(), BODY),
    from_name=NAME,
    to=st.lists(RECIPIENT, min_size=1, max_size=12),
    cc=st.lists(RECIPIENT, max_size=8),
    message_id=MESSAGE_ID,
    in_reply_to=st.one_of(st.none(), MESSAGE_ID),
    references=st.lists(MESSAGE_ID, max_size=25),
    auto_submitted=st.sampled_from(sorted(AUTO_SUBMITTED_VALUES)),
    date=DATE,
    attachments=st.lists(ATTACHMENT, max_size=3),
)
def test_the_bytes_are_the_stdlib_email_packages(**mail: Any) -> None:
    """The direct composer writes exactly what the stdlib ``email`` package writes for the same
    mail (the composer mailflow had before), and refuses exactly what it refuses."""
    rendered = RenderedMail(mail.pop("subject"), mail.pop("text"), mail.pop("html"))
    args = {"from_addr": "coord@example.com", **mail}
    try:
        expected = compose_stdlib.compose(rendered, **args)
    except Exception as e:
        event(f"refused: {type(e).__name__}")
        with pytest.raises(type(e)):
            compose(rendered, **args)
        return
    event("composed" + (" with files" if args["attachments"] else ""))
    assert compose(rendered, **args) == expected


def test_the_stdlib_equality_covers_the_realistic_receipts() -> None:
    """The seven example kinds' shapes: Chinese names and subject, HTML, an .ics attachment."""
    html = RenderedMail(SUBJECT, "文本\n", "<p>网页</p>\n")
    ics = Attachment(
        "行动项截止_20231015.ics", "text/calendar; method=PUBLISH; charset=utf-8", b"x"
    )
    for rendered in (html, RenderedMail(SUBJECT, "张三，您好：\n已收到。\n", None)):
        for files in ([], [ics], [ics, ics]):
            args: dict[str, Any] = {
                "from_addr": "coord@example.com",
                "from_name": "示例科技 协调平台",
                "to": [("张三", "zhang.san@example.com"), "wu.min@example.com"],
                "cc": [("李四", "li.si@example.com")] * 5,
                "message_id": outgoing_message_id("k", "example.com"),
                "in_reply_to": ORIGINAL,
                "references": [ROOT],
                "date": datetime(2023, 10, 8, 10, 5, tzinfo=CST),
                "attachments": files,
            }
            assert compose(rendered, **args) == compose_stdlib.compose(rendered, **args)
