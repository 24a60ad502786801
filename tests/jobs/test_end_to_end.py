"""IMAP in, rules, outbox, Dramatiq, SMTP out: the exact mails a real aiosmtpd server receives.

Runs on each broker: in-process with SQLite (the embedded default), Redis and RabbitMQ with
PostgreSQL, a worker serving the shared broker as `mailflow worker` does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dramatiq import Broker

from mailflow.jobs.broker import build_broker
from mailflow.jobs.dispatch import Dispatcher
from mailflow.jobs.runner import run_once
from mailflow.service.poll import poll_once
from mailflow.service.runtime import Runtime, build_runtime, open_source
from mailflow.settings import load_settings
from mailflow.store.models import OUTBOX_PENDING, OutboxMail
from tests.jobs.scenario import ALL, TASK_ID, TASK_SUBJECT, TRICKY_TOPIC
from tests.servers.databases import migrated_database
from tests.servers.dovecot import ImapUser
from tests.servers.smtp import PASSWORD, SmtpServer

REPO = Path(__file__).resolve().parents[2]
# a fixed instant just after the scenario's mails (a Monday): the clocks never depend on today
NOW = datetime(2023, 10, 9, 14, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
# The machine's brokers; a second test run at the same time points these at its own Redis
# database and RabbitMQ vhost, since each run flushes the queues it uses.
BROKERS = {
    "in-process": (None, "sqlite"),
    "redis": (os.environ.get("MAILFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"), "postgresql"),
    "rabbitmq": (
        os.environ.get("MAILFLOW_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
        "postgresql",
    ),
}
# each test flushes those queues: the tests that use them run in one process (pytest-xdist)
pytestmark = pytest.mark.xdist_group("machine-brokers")


@pytest.fixture(params=sorted(BROKERS))
def runtime(
    request: pytest.FixtureRequest, imap_user: ImapUser, smtp_server: SmtpServer
) -> Iterator[Runtime]:
    """A migrated database, the IMAP mailbox as source, the SMTP server as transport."""
    broker_url, backend = BROKERS[request.param]
    with migrated_database(backend) as url:
        settings = load_settings(
            database_url=url,
            broker_url=broker_url,
            source=imap_user.url(),
            source_password=imap_user.password,
            transport=smtp_server.url(),
            transport_password=PASSWORD,
            rules_dir=REPO / "rules",
            templates_dir=REPO / "templates",
        )
        rt = build_runtime(settings)
        if broker_url:
            build_broker(broker_url).flush_all()  # nothing left over from another run
        yield rt
        rt.close()


def _deliver(rt: Runtime) -> None:
    """Poll once and let the broker's worker send, as the deployed processes do."""
    source = open_source(rt.settings)
    if rt.settings.broker_url is None:
        run_once(rt, source, now=NOW)
        return
    report = poll_once(source, rt.sessions, rt.context, None, rt.rulebook)
    broker: Broker = build_broker(rt.settings.broker_url)
    with Dispatcher(broker, rt.courier, serve=True) as dispatcher:
        dispatcher.enqueue(report.outbox_ids)
        _wait_until(lambda: _pending(rt) == 0, "every outbox row to be sent")


def _pending(rt: Runtime) -> int:
    from sqlalchemy import func, select

    with rt.sessions() as s:
        query = (
            select(func.count()).select_from(OutboxMail).where(OutboxMail.status == OUTBOX_PENDING)
        )
        return int(s.scalar(query) or 0)


def _wait_until(condition, what: str, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_answers_in_the_thread_and_never_to_automatic_mail(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    """The task mail gets one receipt in its thread; the out-of-office, list and bounce get none."""
    for raw in ALL:
        imap_user.append(raw)
    _deliver(runtime)

    received = smtp_server.sink.received
    assert len(received) == 1, [r.message["Subject"] for r in received]
    mail = received[0]
    msg = mail.message
    assert mail.rcpt_tos == ("liu.yang@example.com",)
    assert mail.mail_from == "coord@example.com"
    assert msg["From"].addresses[0].addr_spec == "coord@example.com"
    assert msg["Reply-To"].addresses[0].addr_spec == "coord@example.com"
    assert msg["In-Reply-To"] == TASK_ID
    assert TASK_ID in msg["References"]
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Message-ID"].endswith("@example.com>")
    assert msg["Subject"] == f"【回执】市场部-{TRICKY_TOPIC}"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert TASK_SUBJECT in text  # template syntax in mail content stays literal text
    assert "49" not in text
    assert "准备宣传物料" in text and "王五" in text and "2023-10-20" in text
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_second_pass_sends_nothing_again(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    """Deciding and sweeping again after everything was sent adds no mail (invariant 3)."""
    imap_user.append(ALL[0])
    _deliver(runtime)
    _deliver(runtime)
    assert len(smtp_server.sink.received) == 1
