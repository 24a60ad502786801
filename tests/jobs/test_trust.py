"""Issue 9 against real Dovecot and aiosmtpd: what actually reaches the SMTP server.

- An outsider's mail reaches the outsider and its colleagues, never staff it named or a third
  domain; its 已阅 chase reaches staff only.
- A staff address with dmarc=fail at our MX is an outsider.
- Thirty clerks copying their director: the director gets the per-recipient cap.
- Loops: a ticket system opens a "complaint" for every mail it gets and confirms it with a new
  mail, with no Auto-Submitted, no In-Reply-To, nothing a header check could see. Each round,
  the test plays the ticket system: it answers whatever mailflow sent it, and mailflow polls
  again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailflow.jobs.runner import run_once
from mailflow.service.runtime import Runtime, build_runtime, open_source
from mailflow.settings import load_settings
from tests.servers.dovecot import ImapUser
from tests.servers.smtp import PASSWORD, Received, SmtpServer

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 4, 16, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
HELPDESK = "support@yunfu-desk.cn"
ROUNDS = 10  # the measured loop: ten answers in 150 seconds


@pytest.fixture
def runtime(sqlite_url: str, imap_user: ImapUser, smtp_server: SmtpServer) -> Iterator[Runtime]:
    """The embedded default (SQLite, in-process broker) between Dovecot and aiosmtpd."""
    settings = load_settings(
        database_url=sqlite_url,
        source=imap_user.url(),
        source_password=imap_user.password,
        transport=smtp_server.url(),
        transport_password=PASSWORD,
        rules_dir=REPO / "rules",
        templates_dir=REPO / "templates",
    )
    rt = build_runtime(settings)
    yield rt
    rt.close()


def _ticket(n: int, quoted: Received | None) -> bytes:
    """The ticket system's confirmation #n; with ``quoted``, it quotes the mail it answers."""
    m = EmailMessage()
    m["From"] = f"云服工单 <{HELPDESK}>"
    m["To"] = "coord@example.com"
    m["Subject"] = f"【客户投诉】售后部-工单#{7100 + n} 设备报修已受理"
    m["Message-ID"] = f"<ticket-{7100 + n}@yunfu-desk.cn>"
    m["Date"] = (T0 + timedelta(seconds=15 * n)).strftime("%a, %d %b %Y %H:%M:%S +0800")
    body = f"您好，您的报修工单 #{7100 + n} 已受理，工程师将尽快联系您。\n"
    if quoted is not None:
        original = quoted.message.get_body(("plain",))
        assert original is not None
        lines = original.get_content().splitlines()
        body += "\n---- 原始邮件 ----\n" + "\n".join(f"> {line}" for line in lines)
    m.set_content(body)
    return m.as_bytes(policy=SMTP)


def _play(rt: Runtime, imap_user: ImapUser, smtp: SmtpServer, quote: bool) -> list[Received]:
    """Run ROUNDS rounds, 15 seconds apart; return what mailflow sent the ticket system."""
    answered: list[Received] = []
    last: Received | None = None
    for n in range(ROUNDS):
        imap_user.append(_ticket(n, last if quote else None))
        run_once(rt, open_source(rt.settings), now=T0 + timedelta(seconds=15 * n + 5))
        new = [m for m in smtp.sink.received if HELPDESK in m.rcpt_tos and m not in answered]
        answered += new
        last = new[-1] if new else last
    return answered


def test_burst_brake_stops_a_silent_ticket_system(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    """A responder quoting nothing is braked by the burst limit, long before the hourly one."""
    answered = _play(runtime, imap_user, smtp_server, quote=False)
    assert 0 < len(answered) <= runtime.rulebook.limits.burst.count
    assert len(answered) < runtime.rulebook.limits.per_external_sender.count


def test_ticket_system_quoting_our_mail_gets_one_answer(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    """A responder quoting our mail (our footer in its text) is never answered again."""
    answered = _play(runtime, imap_user, smtp_server, quote=True)
    assert len(answered) == 1
    assert answered[0].message["Auto-Submitted"] == "auto-replied"


def _mail(headers: dict[str, str], body: str) -> bytes:
    m = EmailMessage()
    for name, value in headers.items():
        m[name] = value
    m.set_content(body)
    return m.as_bytes(policy=SMTP)


def _recipients(smtp: SmtpServer) -> set[str]:
    return {r for m in smtp.sink.received for r in m.rcpt_tos}


SUPPLIER_MINUTES = _mail(
    {
        "From": "吴刚 <wu.gang@hbsteel.com.cn>",
        "To": "马丽 <ma.li@example.com>, 钱磊 <qian.lei@example.com>",
        "Cc": "协调台 <coord@example.com>, 物流调度 <dispatch@wuliu-express.cn>,"
        " 销售二部 <sales2@hbsteel.com.cn>",
        "Subject": "【会议纪要】采购部-二季度螺纹钢供货与验收标准",
        "Message-ID": "<minutes-0416@hbsteel.com.cn>",
        "Date": "Tue, 16 Apr 2024 09:30:00 +0800",
        "Authentication-Results": "mx.example.com; spf=pass smtp.mailfrom=hbsteel.com.cn",
    },
    "马经理、钱经理：\n\n今天供货对接会纪要如下，请各位确认：\n"
    "1. 五月起每周二、周五各发货一次。\n2. 每批随货附质检报告。\n\n吴刚\n华北钢材 销售经理\n",
)


def test_outsider_mail_reaches_only_its_own_side(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    """A supplier's minutes: the receipt goes to the supplier and its colleague; the staff it
    named are chased to confirm; the carrier it copied never hears from mailflow."""
    imap_user.append(SUPPLIER_MINUTES)
    run_once(runtime, open_source(runtime.settings), now=T0)
    assert _recipients(smtp_server) == {"wu.gang@hbsteel.com.cn", "sales2@hbsteel.com.cn"}
    run_once(runtime, open_source(runtime.settings), now=T0 + timedelta(days=1, hours=1))
    later = _recipients(smtp_server) - {"wu.gang@hbsteel.com.cn", "sales2@hbsteel.com.cn"}
    assert later == {"ma.li@example.com", "qian.lei@example.com"}  # the 已阅 reminders
    assert "dispatch@wuliu-express.cn" not in _recipients(smtp_server)


SPOOFED = _mail(
    {
        "From": "李四 <li.si@example.com>",
        "To": "协调台 <coord@example.com>",
        "Cc": "张三 <zhang.san@example.com>",
        "Subject": "急：供应商账户变更，请今天付款",
        "Message-ID": "<5f1c2a@relay.bulk-sender.test>",
        "Date": "Tue, 16 Apr 2024 09:31:00 +0800",
        "Authentication-Results": "mx.example.com; spf=fail smtp.mailfrom=li.si@example.com;"
        " dkim=none; dmarc=fail (p=quarantine) header.from=example.com",
    },
    "张三：供应商银行账户已变更，请今天内把货款付到新账户，付完回复我。\n李四",
)


def test_spoofed_staff_address_gets_no_staff_treatment(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    """li.si@example.com with dmarc=fail at our MX: no subject_help reaches the real 李四."""
    imap_user.append(SPOOFED)
    run_once(runtime, open_source(runtime.settings), now=T0)
    assert "li.si@example.com" not in _recipients(smtp_server)
    assert "zhang.san@example.com" not in _recipients(smtp_server)


def test_thirty_clerks_copying_their_director(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    """30 clerks each copy their director: the director receives the per-recipient cap."""
    director = "zongjian@ruida-jixie.com"
    for n in range(30):
        imap_user.append(
            _mail(
                {
                    "From": f"职员{n} <clerk{n}@ruida-jixie.com>",
                    "To": "马丽 <ma.li@example.com>, 协调台 <coord@example.com>",
                    "Cc": f"总监 <{director}>",
                    "Subject": f"【会议纪要】采购部-备件交期第{n}次沟通",
                    "Message-ID": f"<clerk-{n}@ruida-jixie.com>",
                    "Date": "Tue, 16 Apr 2024 09:40:00 +0800",
                },
                f"马经理好：第{n}批备件交期纪要如下，请确认。\n",
            )
        )
    run_once(runtime, open_source(runtime.settings), now=T0)
    to_director = [m for m in smtp_server.sink.received if director in m.rcpt_tos]
    assert len(to_director) == runtime.rulebook.limits.per_recipient.count
