"""Mails for the outbound end-to-end tests: one that gets an answer, three that never may."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

TASK_ID = "<task-e2e@example.com>"
TRICKY_TOPIC = "{{ 7*7 }}<script>alert(1)</script>推广"
TASK_SUBJECT = f"【任务分配】市场部-{TRICKY_TOPIC}"


def _mail(headers: dict[str, str], body: str) -> bytes:
    m = EmailMessage()
    for name, value in headers.items():
        m[name] = value
    m.set_content(body, charset="utf-8")
    return m.as_bytes(policy=SMTP)


TASK = _mail(
    {
        "From": "刘洋 <liu.yang@example.com>",
        "To": "王五 <wang.wu@example.com>",
        "Cc": "协调台 <coord@example.com>",
        "Subject": TASK_SUBJECT,
        "Message-ID": TASK_ID,
        "Date": "Mon, 09 Oct 2023 14:20:00 +0800",
    },
    "王五：\n\n任务：准备宣传物料；责任人：王五；完成时限：2023-10-20；交付标准：宣传物料初稿\n\n刘洋\n",
)
OUT_OF_OFFICE = _mail(
    {
        "From": "吴敏 <wu.min@example.com>",
        "To": "coord@example.com",
        "Subject": f"自动回复: {TASK_SUBJECT}",
        "Message-ID": "<ooo-e2e@example.com>",
        "Date": "Mon, 09 Oct 2023 14:21:00 +0800",
        "Auto-Submitted": "auto-replied",
        "In-Reply-To": TASK_ID,
    },
    "我于10月13日前休假，期间邮件不能及时回复。",
)
LIST_MAIL = _mail(
    {
        "From": "云栈科技 <newsletter@yunzhan-cloud.example>",
        "To": "coord@example.com",
        "Subject": "【技术周刊】市场部-第42期",
        "Message-ID": "<list-e2e@yunzhan-cloud.example>",
        "Date": "Mon, 09 Oct 2023 14:22:00 +0800",
        "List-Id": "<weekly.yunzhan-cloud.example>",
        "Precedence": "bulk",
    },
    "本期内容：……\n任务：订阅续费；责任人：王五；完成时限：明天；交付标准：回执",
)
BOUNCE = (
    b"From: Mail Delivery System <MAILER-DAEMON@example.com>\r\n"
    b"To: coord@example.com\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b"Message-ID: <bounce-e2e@example.com>\r\n"
    b"Date: Mon, 09 Oct 2023 14:23:00 +0800\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
    b"\r\n--b1\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
    b"--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
    b"Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; wang.qiang@example.com\r\n"
    b"Action: failed\r\nStatus: 5.1.1\r\n\r\n--b1--\r\n"
)
ALL = (TASK, OUT_OF_OFFICE, LIST_MAIL, BOUNCE)
