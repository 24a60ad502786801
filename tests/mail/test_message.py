"""parse_message on bytes built in the test: charset traps, headers, ids, dates, body, limits."""

from __future__ import annotations

import base64
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mailflow.errors import LimitExceeded, MessageRejected
from mailflow.mail.message import parse_message, to_contract
from mailflow.mail.model import Address, ParseContext
from mailflow.settings import Limits

CTX = ParseContext()


def mail(headers: str, body: bytes = b"hello\r\n", extra: bytes = b"") -> bytes:
    """Return a message from header lines (``\\n`` separated) and a body."""
    head = "\r\n".join(line for line in headers.strip().splitlines())
    return head.encode("utf-8") + extra + b"\r\n\r\n" + body


def b64(data: bytes) -> str:
    """Return ``data`` base64-encoded as ASCII."""
    return base64.b64encode(data).decode("ascii")


# --- the silent failures of LIBRARIES.md §8, each built as bytes ---------------------------


def test_gb2312_label_with_gbk_only_characters() -> None:
    """A body labelled gb2312 holding GBK-only 喆, 镕 and € decodes fully through GB18030."""
    raw = mail(
        "From: a@example.com\nContent-Type: text/plain; charset=gb2312",
        "张喆 朱镕基 €".encode("gb18030"),
    )
    assert parse_message(raw, CTX).body_text == "张喆 朱镕基 €"


def test_gb2312_encoded_word_split_mid_character() -> None:
    """Two gb2312 encoded-words that split one character between them decode as one text."""
    data = "中文标题 张喆".encode("gb18030")
    subject = f"=?gb2312?B?{b64(data[:3])}?= =?gb2312?B?{b64(data[3:])}?="
    assert (
        parse_message(mail(f"From: a@example.com\nSubject: {subject}"), CTX).subject.raw
        == "中文标题 张喆"
    )


@pytest.mark.parametrize("kind", ["B", "Q"])
def test_utf8_encoded_word_split_mid_character(kind: str) -> None:
    """UTF-8 encoded-words split inside a character (B or Q) join back into the text."""
    data = "会议纪要".encode()
    if kind == "B":
        words = [b64(data[:4]), b64(data[4:])]
    else:
        words = ["".join(f"={b:02X}" for b in part) for part in (data[:4], data[4:])]
    subject = " ".join(f"=?utf-8?{kind}?{w}?=" for w in words)
    assert (
        parse_message(mail(f"From: a@example.com\nSubject: {subject}"), CTX).subject.raw
        == "会议纪要"
    )


@pytest.mark.parametrize("charset", ["gbk", "utf-8", "big5"])
def test_raw_8bit_subject(charset: str) -> None:
    """A Subject of raw 8-bit bytes without encoded-words decodes in GBK, UTF-8 or Big5."""
    text = "你好 raw" if charset != "big5" else "會議紀要 raw"
    raw = b"From: a@example.com\r\nSubject: " + text.encode(charset) + b"\r\n\r\nbody\r\n"
    assert parse_message(raw, CTX).subject.raw == text


def test_plain_without_charset_utf8_bytes() -> None:
    """text/plain without a charset holding UTF-8 bytes is read as UTF-8, not ASCII."""
    raw = mail("From: a@example.com\nContent-Type: text/plain", "已阅，无异议。".encode())
    assert parse_message(raw, CTX).body_text == "已阅，无异议。"


def test_unknown_charset_falls_back_and_records_defect() -> None:
    """An unknown charset label falls back (UTF-8 here) instead of raising, and says so."""
    raw = mail("From: a@example.com\nContent-Type: text/plain; charset=x-unknown", "收到".encode())
    parsed = parse_message(raw, CTX)
    assert parsed.body_text == "收到"
    assert any("x-unknown" in d for d in parsed.defects)


@pytest.mark.parametrize(
    ("label", "text", "encoding"),
    [
        ("Big5", "您好！ 你今天好吗？", "utf-8"),
        ("gb2312", "代开各地增值税发票", "utf-8"),
        ("utf-8", "请查收附件", "gbk"),
        ("X-GBK", "请查收附件", "gbk"),
        ("cp936", "请查收附件", "gbk"),
        ("euc-cn", "请查收附件", "gbk"),
        ("big5", "請查收附件", "big5"),
        ("ks_c_5601-1987", "회원님께", "cp949"),
        ("shift_jis", "テスト～", "cp932"),
        ("iso-8859-1", "Grüße – €", "cp1252"),
        ("us-ascii", "顏之推 音辭第十八 夫九州之人，言語不同", "big5"),
        ("windows-1252http-equivContent-Type", "Orange mécanique", "cp1252"),
    ],
)
def test_lying_and_alias_labels(label: str, text: str, encoding: str) -> None:
    """Bodies whose label is an alias or simply wrong still decode to the text that was written."""
    raw = mail(
        f"From: a@example.com\nContent-Type: text/plain; charset={label}", text.encode(encoding)
    )
    assert parse_message(raw, CTX).body_text == text


def test_mislabelled_charset_is_recorded() -> None:
    """A Big5 label over UTF-8 bytes is read as UTF-8 and the mismatch is a defect."""
    raw = mail("From: a@example.com\nContent-Type: text/plain; charset=big5", "您好！".encode())
    assert any("Big5" in d or "big5" in d for d in parse_message(raw, CTX).defects)


# --- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("张三 <Zhang.San@EXAMPLE.com>", [Address("张三", "Zhang.San@example.com")]),
        (
            f"=?gb2312?B?{b64('张喆'.encode('gb18030'))}?= <zz@example.com>",
            [Address("张喆", "zz@example.com")],
        ),
        (
            f'"=?utf-8?B?{b64("李四".encode())}?=" <ls@example.com>',
            [Address("李四", "ls@example.com")],
        ),
        ('"broken <a@b.c>', [Address("broken", "a@b.c")]),
        ("alice@example.org)<bob@evil.com>", []),
        ("alice@example.com <bob@example.com>", [Address("alice@example.com", "bob@example.com")]),
        ("Last, First <lf@example.com>", [Address("Last, First", "lf@example.com")]),
        (
            r'"Wang, \"Wu\"" <ww@example.com>, li@example.com',  # escaped quotes keep the comma
            [Address('Wang, "Wu"', "ww@example.com"), Address("", "li@example.com")],
        ),
        (
            "a@example.com, not an address, <b@example.com>",
            [Address("", "a@example.com"), Address("", "b@example.com")],
        ),
        ("undisclosed-recipients:;", []),
        ("<>", []),
        ("x@@y", []),
    ],
)
def test_to_addresses(header: str, expected: list[Address]) -> None:
    """Address headers decode names, validate addr-specs, lowercase domains and drop garbage."""
    parsed = parse_message(mail(f"From: a@example.com\nTo: {header}"), CTX)
    assert list(parsed.to) == expected


def test_raw_8bit_gbk_display_name() -> None:
    """A raw GBK display name in From decodes without mojibake."""
    raw = b"From: " + "王五".encode("gbk") + b" <ww@example.com>\r\nSubject: x\r\n\r\nbody"
    assert parse_message(raw, CTX).from_ == Address("王五", "ww@example.com")


def test_cc_reply_to_and_several_headers() -> None:
    """Cc and Reply-To are read like To; repeated To headers are all kept."""
    raw = mail(
        "From: a@example.com\nTo: b@example.com\nTo: c@example.com\nCc: d@example.com\nReply-To: e@example.com"
    )
    parsed = parse_message(raw, CTX)
    assert [a.address for a in parsed.to] == ["b@example.com", "c@example.com"]
    assert [a.address for a in parsed.cc] == ["d@example.com"]
    assert [a.address for a in parsed.reply_to] == ["e@example.com"]


# --- ids and dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected", "generated"),
    [
        ("Message-ID: <abc@Example.COM>", "<abc@example.com>", False),
        ("Message-ID: <abc@def> (comment) <other@x>", "<abc@def>", False),
        ("Message-ID: abc@def.org", "<abc@def.org>", False),
        ("Message-ID: ", None, True),
        ("X-Nothing: 1", None, True),
    ],
)
def test_message_id(header: str, expected: str | None, generated: bool) -> None:
    """The first <id> is kept (domain lowercased); a missing one is a hash of the raw bytes."""
    raw = mail(f"From: a@example.com\n{header}")
    parsed = parse_message(raw, CTX)
    assert parsed.message_id_generated is generated
    if expected:
        assert parsed.message_id == expected
    else:
        assert parsed.message_id.startswith("<sha256-") and parsed.message_id.endswith(
            "@mailflow.invalid>"
        )
        assert len(parsed.message_id) == len("<sha256-@mailflow.invalid>") + 32
        assert parse_message(raw, CTX).message_id == parsed.message_id


def test_in_reply_to_and_references() -> None:
    """In-Reply-To keeps its first id; References keeps all ids in order without repeats."""
    raw = mail(
        "From: a@example.com\nIn-Reply-To: <1@x> <2@x>\nReferences: <0@x>\n <1@x> junk <1@x>"
    )
    parsed = parse_message(raw, CTX)
    assert parsed.in_reply_to == "<1@x>"
    assert parsed.references == ("<0@x>", "<1@x>")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "Sun, 08 Oct 2023 02:00:00 +0000",
            datetime(2023, 10, 8, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
        ),
        (
            "8 Oct 2023 10:00:00 +0800",
            datetime(2023, 10, 8, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
        ),
        (
            "Sun, 08 Oct 2023 02:00:00 -0000",
            datetime(2023, 10, 8, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
        ),
        ("Tue, 7 Apr 2026 10:00:t <x@y>", None),
        ("yesterday", None),
    ],
)
def test_date_in_organisation_timezone(value: str, expected: datetime | None) -> None:
    """Date becomes an aware datetime in the organisation's timezone; garbage becomes None."""
    parsed = parse_message(mail(f"From: a@example.com\nDate: {value}"), CTX)
    assert parsed.date == expected
    if expected is not None:
        assert parsed.date is not None and parsed.date.utcoffset() == expected.utcoffset()


# --- body ------------------------------------------------------------------------------------


def test_plain_preferred_over_html() -> None:
    """In multipart/alternative the text/plain part is the body."""
    body = (
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + "纯文本".encode() + b"\r\n"
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML</p>\r\n--b--\r\n"
    )
    raw = mail('From: a@example.com\nContent-Type: multipart/alternative; boundary="b"', body)
    assert parse_message(raw, CTX).body_text.strip() == "纯文本"


def test_html_only_table_reads_row_by_row() -> None:
    """An HTML-only body becomes text whose table rows stay on one line with cells apart."""
    html = (
        "<p>各位好：</p><table><tr><th>行动项</th><th>负责人</th><th>计划完成时间</th></tr>"
        "<tr><td>准备宣传物料</td><td>市场部</td><td>2023-10-12</td></tr></table>"
    )
    raw = mail("From: a@example.com\nContent-Type: text/html; charset=gbk", html.encode("gbk"))
    lines = parse_message(raw, CTX).body_text.splitlines()
    row = next(line for line in lines if "准备宣传物料" in line)
    assert [c.strip() for c in row.split("|")] == ["准备宣传物料", "市场部", "2023-10-12"]
    assert "各位好：" in lines[0]


def test_html_charset_from_meta() -> None:
    """An HTML part without a MIME charset is decoded by its <meta charset>."""
    html = '<html><head><meta charset="gb2312"></head><body>请查收</body></html>'.encode("gbk")
    raw = mail("From: a@example.com\nContent-Type: text/html", html)
    assert parse_message(raw, CTX).body_text == "请查收"


def test_broken_boundary_is_recovered() -> None:
    """A multipart whose declared boundary never appears is re-read with the one in its body."""
    body = b"--real\r\nContent-Type: text/plain\r\n\r\nfound me\r\n--real\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\n%PDF\r\n--real--\r\n"
    raw = mail('From: a@example.com\nContent-Type: multipart/mixed; boundary="declared"', body)
    parsed = parse_message(raw, CTX)
    assert parsed.body_text.strip() == "found me"
    assert [a.filename for a in parsed.attachments] == ["a.pdf"]
    assert any("boundary" in d for d in parsed.defects)


def test_multipart_without_boundary_reads_as_text() -> None:
    """A multipart with no boundary anywhere is read as plain text, not dropped."""
    raw = mail("From: a@example.com\nContent-Type: multipart/mixed", b"just text\r\n")
    assert parse_message(raw, CTX).body_text.strip() == "just text"


# --- the start of the bytes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix",
    [
        b"\xef\xbb\xbf",
        b"\r\n\r\n",
        b"\n",
        b"tail of a cut Received line\r\n by host; Tue, 10 Oct 2023\r\n",
    ],
)
def test_bom_blank_lines_and_garbage_before_headers(prefix: bytes) -> None:
    """A BOM, blank lines or text before the headers are skipped and recorded."""
    parsed = parse_message(prefix + mail("From: a@example.com\nSubject: 已阅"), CTX)
    assert parsed.subject.raw == "已阅"
    assert parsed.defects


def test_indented_first_header() -> None:
    """A first header indented like a continuation is still read."""
    parsed = parse_message(b" From: a@example.com\r\nSubject: hi\r\n\r\nbody", CTX)
    assert parsed.from_ == Address("", "a@example.com")
    assert parsed.subject.raw == "hi"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n\r\n",
        b"hello world, this is not mail\r\n",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b'{"json": true}\n',
        b"Foo: bar\r\n\r\nbody",
    ],
)
def test_not_mail_is_rejected_with_reason(raw: bytes) -> None:
    """Bytes that are not mail raise MessageRejected with a readable reason."""
    with pytest.raises(MessageRejected) as caught:
        parse_message(raw, CTX)
    assert caught.value.reason.strip()
    assert not isinstance(caught.value, LimitExceeded)


# --- limits (invariant 13) ---------------------------------------------------------------------


def nested(depth: int) -> bytes:
    """Return a message with ``depth`` nested multiparts around one text part."""
    body = b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    for level in range(depth):
        body = (
            f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
            + body
            + f"--b{level}--\r\n".encode()
        )
    return b"From: a@example.com\r\n" + body


def attachments(count: int) -> bytes:
    """Return a message carrying ``count`` small attachments."""
    parts = b"".join(
        f"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=f{i}.pdf\r\n\r\nx\r\n".encode()
        for i in range(count)
    )
    return mail(
        'From: a@example.com\nContent-Type: multipart/mixed; boundary="b"', parts + b"--b--\r\n"
    )


@pytest.mark.parametrize(
    ("raw", "limits", "words"),
    [
        (mail("From: a@example.com", b"x" * 2000), Limits(max_message_bytes=1000), "bytes"),
        (
            mail("From: a@example.com\n" + "\n".join(f"X-H{i}: v" for i in range(30))),
            Limits(max_headers=20),
            "header",
        ),
        (attachments(6), Limits(max_attachments=5), "attachments"),
        (nested(6), Limits(max_nesting=5), "nesting"),
        (nested(3000), Limits(), "nesting"),
    ],
)
def test_limits_raise_limit_exceeded(raw: bytes, limits: Limits, words: str) -> None:
    """A message over a configured limit raises LimitExceeded naming the limit."""
    with pytest.raises(LimitExceeded) as caught:
        parse_message(raw, ParseContext(limits=limits))
    assert words in caught.value.reason


def test_within_limits_parses() -> None:
    """Messages exactly at the limits parse."""
    ctx = ParseContext(limits=Limits(max_attachments=5, max_nesting=5))
    assert len(parse_message(attachments(5), ctx).attachments) == 5
    assert parse_message(nested(5), ctx).body_text.strip() == "deep"


# --- the contract --------------------------------------------------------------------------------


def test_to_contract_document() -> None:
    """to_contract(parse_message(...)) gives the DESIGN §4 keys with JSON-ready values."""
    raw = mail(
        "From: =?utf-8?B?5byg5LiJ?= <zhang.san@example.com>\nTo: li.si@example.com\n"
        "Date: Sun, 08 Oct 2023 10:00:00 +0800\nMessage-ID: <m1@example.com>\n"
        f"Subject: =?utf-8?B?{b64('Re: 【会议纪要】技术部-Q4产品迭代进度同步'.encode())}?="
    )
    doc = to_contract(parse_message(raw, CTX))
    assert doc["from"] == {"name": "张三", "address": "zhang.san@example.com"}
    assert doc["date"] == "2023-10-08T10:00:00+08:00"
    assert doc["subject"]["prefixes"] == ["Re"] and doc["subject"]["conforms"] is True
    assert doc["automated"] is False and doc["automated_reason"] is None
