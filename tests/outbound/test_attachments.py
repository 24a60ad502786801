"""Tests for mailflow/outbound/attachments.py and attachments in compose: specs in, MIME out."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser
from typing import Any

import pytest
from icalendar import Calendar

from mailflow.errors import TemplateError
from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext
from mailflow.outbound.attachments import (
    ICS_CONTENT_TYPE,
    XLSX_CONTENT_TYPE,
    Attachment,
    build_attachments,
    record_writer,
)
from mailflow.outbound.compose import compose, outgoing_message_id
from mailflow.outbound.render import RenderedMail

CST = timezone(timedelta(hours=8))
SUBJECT = "【截止提醒】技术部-完成接口联调"
ICS_SPEC: dict[str, Any] = {
    "type": "ics",
    "uid": "item-42.deadline@example.com",
    "summary": "【截止】完成接口联调",
    "description": "交付标准：联调报告",
    "due": "2023-10-15",
    "organizer": "coord@example.com",
    "attendees": ["zhang.san@example.com"],
    "timezone": "Asia/Shanghai",
}
RECORD_ROW = {
    "沟通日期": "2023-10-08",
    "沟通类型": "会议",
    "参与部门/人员": "市场部、技术部、设计部",
    "沟通主题": "Q4产品迭代进度同步",
    "核心内容摘要": "确认上线时间",
    "行动项": "准备宣传物料",
    "负责人": "市场部",
    "计划完成时间": "2023-10-12",
    "实际完成时间": "",
    "备注": "",
}
REPORT = Attachment("项目进度跟踪表_v1.0_20231008.pdf", "application/pdf", b"%PDF-1.4\n" * 40)


def build(attachments: list[Attachment], html: str | None = None) -> bytes:
    """Return a deadline reminder to 张三 from the shared address with the given files."""
    return compose(
        RenderedMail(SUBJECT, "张三，您好：\n请按时完成。\n", html),
        from_addr="coord@example.com",
        from_name="示例科技 协调平台",
        to=[("张三", "zhang.san@example.com")],
        message_id=outgoing_message_id("item-42/deadline_reminder/3", "example.com"),
        in_reply_to=None,
        auto_submitted="auto-generated",
        date=datetime(2023, 10, 12, 9, 0, tzinfo=CST),
        attachments=attachments,
    )


def test_ics_spec_becomes_a_calendar_attachment() -> None:
    """An ics spec gives a dated .ics file of type text/calendar; method=PUBLISH."""
    (ics,) = build_attachments([ICS_SPEC])
    assert ics.filename == "行动项截止_20231015.ics"
    assert ics.content_type == ICS_CONTENT_TYPE
    assert Calendar.from_ical(ics.data)["METHOD"] == "PUBLISH"
    assert (
        build_attachments([ICS_SPEC | {"filename": "接口联调.ics"}])[0].filename == "接口联调.ics"
    )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([{"type": "pdf"}], "unknown attachment type 'pdf'"),
        ([{"uid": "x"}], "unknown attachment type None"),
        (["deadline.ics"], "must be a mapping"),
        ({"type": "ics"}, "must be a list"),
        ([{"type": "xlsx", "rows": "沟通日期"}], "rows must be a list"),
    ],
)
def test_bad_specs_raise_template_errors(files: Any, message: str) -> None:
    """An unknown type or a malformed list raises TemplateError with a clear message."""
    with pytest.raises(TemplateError, match=message):
        build_attachments(files)


def test_missing_record_writer_is_a_clear_template_error() -> None:
    """When the XLSX writer's module is absent the error says which module is missing."""
    with pytest.raises(
        TemplateError, match=re.escape("mailflow.outbound.no_such_record is not installed")
    ):
        record_writer("mailflow.outbound.no_such_record")


def test_xlsx_spec_becomes_the_record_workbook() -> None:
    """An xlsx spec gives the 内部沟通记录表 workbook that openpyxl reads back."""
    import io

    import openpyxl

    (xlsx,) = build_attachments([{"type": "xlsx", "rows": [RECORD_ROW], "title": "技术部周报"}])
    assert xlsx.filename == "内部沟通记录表.xlsx" and xlsx.content_type == XLSX_CONTENT_TYPE
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    assert sheet is not None
    values = [cell for row in sheet.iter_rows(values_only=True) for cell in row]
    assert "准备宣传物料" in values and "沟通日期" in values


@pytest.mark.parametrize("name", ["", "../etc/passwd", "a\r\nb.ics", "x" * 121])
def test_attachment_refuses_unsafe_file_names(name: str) -> None:
    """File names that are empty, paths, several lines or too long are refused."""
    with pytest.raises(TemplateError):
        Attachment(name, "text/plain", b"")


def test_compose_round_trips_through_mailflows_parser() -> None:
    """mailflow's own parser sees both files with their Chinese names, sizes and types."""
    files = [*build_attachments([ICS_SPEC]), REPORT]
    parsed = parse_message(build(files), ParseContext())
    found = {(a.filename, a.content_type, a.size) for a in parsed.attachments}
    assert found == {
        ("行动项截止_20231015.ics", "text/calendar", len(files[0].data)),
        (REPORT.filename, "application/pdf", len(REPORT.data)),
    }
    assert parsed.subject.raw == SUBJECT
    assert "请按时完成" in parsed.body_text


@pytest.mark.parametrize("html", [None, "<p>张三，您好：</p>"])
def test_compose_round_trips_through_the_stdlib_parser(html: str | None) -> None:
    """multipart/mixed wraps the body; each file keeps its name, type, parameters and bytes."""
    (ics,) = build_attachments([ICS_SPEC])
    msg = BytesParser(policy=policy.default).parsebytes(build([ics, REPORT], html))
    assert msg.get_content_type() == "multipart/mixed"
    body, *files = msg.iter_parts()
    assert body.get_content_type() == ("text/plain" if html is None else "multipart/alternative")
    assert [f.get_filename() for f in files] == ["行动项截止_20231015.ics", REPORT.filename]
    assert [f.get_content_disposition() for f in files] == ["attachment", "attachment"]
    assert files[0].get_content_type() == "text/calendar"
    assert files[0].get_param("method") == "PUBLISH"
    assert files[0].get_content() == ics.data.decode("utf-8")
    assert files[1].get_content() == REPORT.data
    assert [p for p in msg.walk() if p is not msg and p["MIME-Version"]] == []


def test_chinese_file_names_use_rfc_2231() -> None:
    """The raw mail stays ASCII and names the files with RFC 2231 filename*= parameters."""
    raw = build([*build_attachments([ICS_SPEC]), REPORT])
    assert raw.isascii()
    assert b"filename*=utf-8''%E8%A1%8C%E5%8A%A8%E9%A1%B9" in raw
    assert b"name*=utf-8''" in raw


def test_attachments_keep_the_mail_byte_stable() -> None:
    """Composing the same mail with the same files twice gives the same bytes."""
    first = build(build_attachments([ICS_SPEC]), "<p>网页</p>")
    assert first == build(build_attachments([ICS_SPEC]), "<p>网页</p>")
    assert first != build([], "<p>网页</p>")


def test_without_attachments_the_mail_is_unchanged() -> None:
    """No files means no multipart/mixed wrapper: the mail is what compose always made."""
    msg = BytesParser(policy=policy.default).parsebytes(build([]))
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == "张三，您好：\r\n请按时完成。\r\n"


@pytest.mark.parametrize("content_type", ["multipart/mixed", "text/calendar; method"])
def test_compose_refuses_unusable_content_types(content_type: str) -> None:
    """A multipart type or a parameter without a value is refused before any bytes are made."""
    with pytest.raises(ValueError, match="content type"):
        build([Attachment("a.bin", content_type, b"x")])
