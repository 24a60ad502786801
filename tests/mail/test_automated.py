"""Automated mail (DESIGN §7.7): which mail must never get an automatic answer, and why."""

from __future__ import annotations

import pytest

from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext

CTX = ParseContext(own_addresses=frozenset({"coord@example.com"}))


def mail(
    headers: str,
    subject: str = "【会议纪要】技术部-周会",
    sender: str = "张三 <zhang.san@example.com>",
) -> bytes:
    """Return a message with extra header lines, a subject and a sender."""
    lines = [
        f"From: {sender}",
        "To: coord@example.com",
        f"Subject: {subject}",
        *headers.splitlines(),
    ]
    return "\r\n".join(lines).encode("utf-8") + b"\r\n\r\nbody\r\n"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: auto-generated", "Auto-Submitted: auto-generated"),
        ("Auto-Submitted: Auto-Notified; owner-email=x@y", "Auto-Submitted: auto-notified"),
        ("X-QQ-AUTO-REPLY: true", "X-QQ-AUTO-REPLY"),
        ("X-Autoreply: yes", "X-Autoreply"),
        ("X-Autorespond: vacation", "X-Autorespond"),
        ("Precedence: bulk", "Precedence: bulk"),
        ("Precedence: junk", "Precedence: junk"),
        ("Precedence: list", "Precedence: list"),
        ("List-Id: <dev.example.com>", "List-Id"),
        ("List-Unsubscribe: <mailto:u@example.com>", "List-Unsubscribe"),
        ("Return-Path: <>", "empty Return-Path"),
        ("X-Failed-Recipients: x@example.net", "delivery report"),
        (
            "X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent",
            "X-MS-Exchange-Generated-Message-Source",
        ),
        (
            "Content-Type: multipart/report; report-type=delivery-status; boundary=b",
            "delivery report",
        ),
        (
            "Content-Type: multipart/report; report-type=disposition-notification; boundary=b",
            "read receipt",
        ),
    ],
)
def test_header_markers(headers: str, reason: str) -> None:
    """Each automated-mail header marker makes the mail automated with a short reason."""
    parsed = parse_message(mail(headers), CTX)
    assert (parsed.automated, parsed.automated_reason) == (True, reason)


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("MAILER-DAEMON@mx.example.net", "sender is mailer-daemon"),
        ("Mail Delivery System <mailer-daemon@example.net>", "sender is mailer-daemon"),
        ("postmaster@example.net", "sender is postmaster"),
        ("no-reply@service.example.net", "no-reply sender"),
        ("noreply@service.example.net", "no-reply sender"),
        ("donotreply@bank.example", "no-reply sender"),
        ("do_not_reply@bank.example", "no-reply sender"),
        ("示例协调台 <Coord@Example.com>", "own shared address"),
    ],
)
def test_sender_markers(sender: str, reason: str) -> None:
    """Bounce daemons, no-reply senders and the shared address itself are automated."""
    assert parse_message(mail("", sender=sender), CTX).automated_reason == reason


@pytest.mark.parametrize(
    "subject",
    [
        "自动回复: 【会议纪要】技术部-周会",
        "自动回复：Re: 项目进度",
        "自动答复: 周报",
        "自動回覆: 周報",
        "【自动回复】我正在休假",
        "Automatic reply: 周会",
        "Auto reply: Nyaan",
        "Auto-Reply: meeting",
        "Out of Office: weekly sync",
        "Out of office until Monday",
        "Auto: quarterly report",
        "休假: 10月1日至7日不在",
        "不在办公室：Re: 合同",
        "Automatyczna odpowiedź: test",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    """Out-of-office subjects of Chinese and western clients mark the mail automated."""
    assert parse_message(mail("", subject=subject), CTX).automated_reason == "out-of-office"


@pytest.mark.parametrize(
    "subject",
    [
        "【请假申请】人事部-国庆休假安排",
        "【通知】行政部-办公室搬迁",
        "Re: 关于设置自动回复的问题",
        "【需求】技术部-邮箱自动答复功能",
        "Re: automatic reply settings for the team mailbox",
        "Re: 【会议纪要】技术部-Q4产品迭代进度同步",
        "Fw: 不在办公室期间的值班安排",
        "Automation roadmap",
    ],
)
def test_human_subjects_are_not_out_of_office(subject: str) -> None:
    """Human mail that merely mentions leave or auto-replies is not automated."""
    parsed = parse_message(mail("", subject=subject), CTX)
    assert (parsed.automated, parsed.automated_reason) == (False, None)


@pytest.mark.parametrize(
    "headers",
    [
        "X-Auto-Response-Suppress: All",
        "X-Auto-Response-Suppress: OOF, AutoReply",
        "Auto-Submitted: no",
        "Precedence: first-class",
        "X-Autoreply: no",
        "Return-Path: <zhang.san@example.com>",
    ],
)
def test_not_markers(headers: str) -> None:
    """X-Auto-Response-Suppress on inbound mail and negative values are not automation markers."""
    assert parse_message(mail(headers), CTX).automated is False
