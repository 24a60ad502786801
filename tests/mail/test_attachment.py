"""Attachments: which parts count, how their names decode, and the version and date in a name."""

from __future__ import annotations

import base64
from datetime import date
from urllib.parse import quote

import pytest

from mailflow.mail.attachment import date_in, version_in
from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext


def with_parts(*parts: bytes) -> bytes:
    """Return a multipart/mixed message holding a text part and ``parts``."""
    body = b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n"
    body += b"".join(b"--b\r\n" + p + b"\r\n" for p in parts) + b"--b--\r\n"
    return b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' + body


def part(headers: str | bytes, payload: bytes = b"data") -> bytes:
    """Return one MIME part from header lines and a payload."""
    head = headers.encode("ascii") if isinstance(headers, str) else headers
    return head.replace(b"\n", b"\r\n") + b"\r\n\r\n" + payload


NAME = "项目进度跟踪表_v1.2_20231008.xlsx"
UTF8_2231 = quote(NAME.encode("utf-8"), safe="")
GBK = NAME.encode("gbk")
GB_2231 = quote(GBK, safe="")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.parametrize(
    "headers",
    [
        f"Content-Type: {XLSX}\nContent-Disposition: attachment; filename*=utf-8''{UTF8_2231}",
        f"Content-Type: {XLSX}\nContent-Disposition: attachment; filename*=gb2312''{GB_2231}",
        f"Content-Type: {XLSX}\nContent-Disposition: attachment;\n filename*0*=utf-8''{UTF8_2231[:30]};\n filename*1*={UTF8_2231[30:60]};\n filename*2*={UTF8_2231[60:]}",
        f"Content-Type: {XLSX}\nContent-Disposition: attachment;\n filename*0*=gbk''{GB_2231[:24]};\n filename*1*={GB_2231[24:]}",
        f'Content-Type: {XLSX}; name="=?utf-8?B?{base64.b64encode(NAME.encode()).decode()}?="\nContent-Disposition: attachment',
        f'Content-Type: {XLSX}\nContent-Disposition: attachment; filename="=?gb2312?B?{base64.b64encode(GBK).decode()}?="',
        f"Content-Type: {XLSX}; name==?utf-8?B?{base64.b64encode(NAME.encode()).decode()}?=",
        f"Content-Type: {XLSX}\n".encode()
        + b'Content-Disposition: attachment; filename="'
        + NAME.encode()
        + b'"',
        f"Content-Type: {XLSX}\n".encode()
        + b'Content-Disposition: attachment; filename="'
        + GBK
        + b'"',
    ],
)
def test_attachment_name_forms(headers: str | bytes) -> None:
    """RFC 2231 (with continuations and charset), RFC 2047 and raw 8-bit names all decode."""
    parsed = parse_message(with_parts(part(headers, b"0123456789")), ParseContext())
    assert len(parsed.attachments) == 1
    found = parsed.attachments[0]
    assert (found.filename, found.content_type, found.size) == (NAME, XLSX, 10)
    assert (found.version, found.date) == ("v1.2", date(2023, 10, 8))


def test_size_counts_decoded_bytes() -> None:
    """The size of a base64 attachment is its decoded length."""
    payload = base64.b64encode(b"x" * 1000)
    parsed = parse_message(
        with_parts(
            part(
                "Content-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64",
                payload,
            )
        ),
        ParseContext(),
    )
    assert parsed.attachments[0].size == 1000


@pytest.mark.parametrize(
    ("headers", "is_attachment"),
    [
        ("Content-Type: image/png\nContent-ID: <logo@x>", False),
        (
            "Content-Type: image/png; name=image001.png\nContent-ID: <image001@x>\nContent-Disposition: inline; filename=image001.png",
            False,
        ),
        ("Content-Type: image/png\nContent-ID: <shot@x>\nContent-Disposition: attachment", True),
        ("Content-Type: image/png; name=photo.png", True),
        ("Content-Type: application/pdf", True),
        ("Content-Type: text/plain; name=notes.txt", True),
        ("Content-Type: text/plain\nContent-Disposition: attachment", True),
        ("Content-Type: message/rfc822\n\nFrom: x@y\r\nSubject: inner", True),
        ("Content-Type: message/delivery-status", False),
    ],
)
def test_which_parts_are_attachments(headers: str, is_attachment: bool) -> None:
    """Inline images referenced by Content-ID are not attachments unless disposition says attachment."""
    parsed = parse_message(with_parts(part(headers)), ParseContext())
    assert len(parsed.attachments) == (1 if is_attachment else 0)


def test_directory_in_name_is_dropped() -> None:
    """A name carrying a path keeps only its last component."""
    parsed = parse_message(
        with_parts(part('Content-Type: text/plain; name="../../etc/passwd"')), ParseContext()
    )
    assert parsed.attachments[0].filename == "passwd"
    assert any("directory" in d for d in parsed.defects)


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("项目进度跟踪表_v1.2_20231008.xlsx", "v1.2"),
        ("需求说明书V2.docx", "v2"),
        ("design-v3.0.1.pdf", "v3.0.1"),
        ("report_v1.2", "v1.2"),
        ("测试报告第2版.doc", "v2"),
        ("方案1.3版.doc", "v1.3"),
        ("版本2.1说明.txt", "v2.1"),
        ("dev2.txt", None),
        ("rev3 notes.txt", None),
        ("movie.v2x.mp4", None),
        ("2023版手册.pdf", None),
        ("plain.pdf", None),
    ],
)
def test_version_in_name(name: str, version: str | None) -> None:
    """Versions written as _v1.2_, V2, v3.0.1 or 第2版 are found; look-alikes are not."""
    assert version_in(name) == version


@pytest.mark.parametrize(
    ("name", "day"),
    [
        ("项目进度跟踪表_v1.2_20231008.xlsx", date(2023, 10, 8)),
        ("纪要 2023-10-08.docx", date(2023, 10, 8)),
        ("20231008周报.doc", date(2023, 10, 8)),
        ("x_2023.1.5.pdf", date(2023, 1, 5)),
        ("2023年10月8日会议.docx", date(2023, 10, 8)),
        ("x_20231308.pdf", None),
        ("x_2023-02-30_2023-02-28.pdf", date(2023, 2, 28)),
        ("invoice_123456789.pdf", None),
        ("plain.pdf", None),
    ],
)
def test_date_in_name(name: str, day: date | None) -> None:
    """Dates written as 20231008, 2023-10-08 or 2023年10月8日 are found and must be real days."""
    assert date_in(name) == day
