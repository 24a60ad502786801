"""Loops with responders that do not mark themselves, against real Dovecot and aiosmtpd.

A ticket system opens a "complaint" for every mail it gets and confirms it with a new mail:
no Auto-Submitted, no In-Reply-To, nothing a header check could see. Each round, the test
plays the ticket system: it answers whatever mailflow sent it, and mailflow polls again.
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
