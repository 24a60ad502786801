"""A simulated fortnight with the default rules: IMAP in, SMTP out, PostgreSQL (and the embedded
SQLite default): exactly the receipts, reminders, escalations, revisit and digests the guide
calls for, and nothing else. Time is an argument to `run --once`, never a sleep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mailflow.jobs.runner import run_once
from mailflow.service.runtime import Runtime, build_runtime, open_source
from mailflow.settings import load_settings
from tests.scenario_mail import at, scenario_mail
from tests.servers.databases import migrated_database
from tests.servers.dovecot import ImapUser
from tests.servers.smtp import PASSWORD, SmtpServer

REPO = Path(__file__).resolve().parents[2]
ZHANG, LI, WANG = (
    "张三 <zhang.san@example.com>",
    "李四 <li.si@example.com>",
    "王五 <wang.wu@example.com>",
)
LIU, CHEN, CUSTOMER = (
    "刘洋 <liu.yang@example.com>",
    "陈静 <chen.jing@example.com>",
    "杨明 <yang.ming@kehu-a.com.cn>",
)


def mail(
    n: int, sender: str, to: str, subject: str, body: str, date: str, reply_to: int = 0
) -> bytes:
    return scenario_mail("fortnight", n, sender, to, subject, body, date, reply_to)


MINUTES_SUBJECT = "【会议纪要】技术部-X300联调例会"
# (arrives at, mail) — each step below appends what has arrived by then
MAILS = [
    (
        "2023-10-09 09:00",
        mail(
            1,
            ZHANG,
            f"{LI}, {WANG}, {LIU}",
            MINUTES_SUBJECT,
            "各位好，以下为例会纪要，请回复已阅。\n\n二、行动项\n"
            "任务：完成接口联调；责任人：张三；完成时限：2023-10-16；交付标准：联调报告\n"
            "任务：提交测试用例；责任人：王五；完成时限：2023-10-11 18:00；交付标准：测试用例文档\n",
            "2023-10-09 09:00",
        ),
    ),
    (
        "2023-10-09 10:00",
        mail(2, LI, ZHANG, f"答复: {MINUTES_SUBJECT}", "已阅。", "2023-10-09 10:00", 1),
    ),
    (
        "2023-10-09 11:00",
        mail(
            3,
            WANG,
            ZHANG,
            f"回复：{MINUTES_SUBJECT}",
            "有异议：第2项时间太紧，建议顺延两天。",
            "2023-10-09 11:00",
            1,
        ),
    ),
    (
        "2023-10-10 17:50",
        mail(
            4,
            CUSTOMER,
            CHEN,
            "【客户投诉】售后部-X200设备死机",
            "贵司设备频繁死机，请尽快处理。",
            "2023-10-10 17:50",
        ),
    ),
    (
        "2023-10-13 10:00",
        mail(
            5,
            CHEN,
            CUSTOMER,
            "回复：【客户投诉】售后部-X200设备死机",
            "杨经理您好，问题已解决，设备已恢复正常。",
            "2023-10-13 10:00",
            4,
        ),
    ),
    (
        "2023-10-16 16:00",
        mail(
            6,
            ZHANG,
            LI,
            f"回复：{MINUTES_SUBJECT}",
            "第1项接口联调已完成，报告见附件。",
            "2023-10-16 16:00",
            1,
        ),
    ),
]

# step time -> the mails (template kind, To) the SMTP server receives at that step
EXPECTED: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "2023-10-09 09:00": [("【纪要确认】", ("zhang.san@example.com",))],
    "2023-10-09 11:05": [("【纪要异议】", ("zhang.san@example.com",))],
    "2023-10-10 09:05": [("【纪要确认提醒】", ("liu.yang@example.com",))],
    "2023-10-10 17:50": [
        ("【投诉受理】", ("yang.ming@kehu-a.com.cn",)),
        ("【抄送】", ("zhou.qiang@example.com",)),
    ],
    "2023-10-11 09:30": [
        ("【纪要未确认】", ("li.si@example.com",)),
        ("【截止提醒】", ("wang.wu@example.com",)),
        ("【截止提醒】", ("zhang.san@example.com",)),
    ],
    "2023-10-11 18:30": [("【逾期提醒】", ("wang.wu@example.com",))],
    "2023-10-12 18:30": [("【逾期升级】", ("liu.yang@example.com",))],
    "2023-10-12 17:55": [("【投诉升级】", ("zhou.qiang@example.com",))],
    "2023-10-13 10:05": [],
    # 售后部's complaint was answered and resolved this morning: nothing open, no digest for it
    "2023-10-13 17:05": [
        ("【周报】", ("li.si@example.com",)),
        ("【周报】", ("liu.yang@example.com",)),
    ],
    "2023-10-16 09:30": [("【截止提醒】", ("zhang.san@example.com",))],
    "2023-10-16 10:05": [("【回访提醒】", ("chen.jing@example.com",))],
    "2023-10-16 16:05": [],
    "2023-10-17 09:00": [],
    "2023-10-20 17:05": [
        ("【周报】", ("li.si@example.com",)),
        ("【周报】", ("liu.yang@example.com",)),
    ],
    "2023-10-23 09:00": [],
}


@pytest.fixture(params=["postgresql", "sqlite"])
def runtime(
    request: pytest.FixtureRequest, imap_user: ImapUser, smtp_server: SmtpServer
) -> Iterator[Runtime]:
    with migrated_database(request.param) as url:
        rt = build_runtime(
            load_settings(
                database_url=url,
                source=imap_user.url(),
                source_password=imap_user.password,
                transport=smtp_server.url(),
                transport_password=PASSWORD,
                rules_dir=REPO / "rules",
                templates_dir=REPO / "templates",
            )
        )
        yield rt
        rt.close()


def test_a_fortnight_of_the_guide(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    """Each step sends exactly the mails the guide calls for at that moment, and a repeat sends none."""
    pending = sorted(MAILS)
    seen = 0
    for step in sorted(EXPECTED, key=at):
        while pending and at(pending[0][0]) <= at(step):
            imap_user.append(pending.pop(0)[1])
        run_once(runtime, open_source(runtime.settings), now=at(step))
        run_once(runtime, open_source(runtime.settings), now=at(step))  # twice: nothing more
        got = smtp_server.sink.received[seen:]
        seen = len(smtp_server.sink.received)
        summary = sorted(
            (
                m.message["Subject"].split("】")[0] + "】",
                m.rcpt_tos[: len(m.message["To"].addresses)],
            )
            for m in got
        )
        assert summary == sorted(EXPECTED[step]), step
    threaded = [
        m.message for m in smtp_server.sink.received if m.message["Subject"].startswith("【纪要")
    ]
    assert all(m["In-Reply-To"] == "<fortnight-1@example.com>" for m in threaded)
