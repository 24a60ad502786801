"""A delivery cut short (the worker killed after the server took the mail, before the record)
is looked for in the mailbox's Sent folder before the sweep sends it again.

Microsoft 365 and Gmail keep a copy of every mail submitted over SMTP in the Sent folder; here
the test puts that copy into the real Dovecot mailbox the way the server would, then runs the
sweep against the real aiosmtpd server. Found: recorded sent, not sent again. Not found, not a
cut-short row, or the folder unreadable: sent again, as before (at least once).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import update

from mailflow.jobs.metrics import HealthCollector
from mailflow.jobs.runner import sweep_once
from mailflow.service import health
from mailflow.service.outmail import key_of, outbox_row
from mailflow.service.runtime import Runtime, build_runtime
from mailflow.settings import load_settings
from mailflow.sources.sent import open_sent_folder
from mailflow.store import outbox
from mailflow.store.db import writing
from mailflow.store.models import OUTBOX_PENDING, OUTBOX_SENT, OutboxMail
from tests.outbound.samples import sample_context
from tests.servers.dovecot import ImapUser
from tests.servers.ews import EwsServer, running_ews
from tests.servers.smtp import PASSWORD, SmtpServer

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
SUBJECT = "【回执】行政部 周例会纪要已收到"


def _runtime(
    database_url: str, imap_user: ImapUser, smtp_server: SmtpServer, **over: str
) -> Runtime:
    return build_runtime(
        load_settings(
            database_url=database_url,
            source=imap_user.url(),
            source_password=over.get("source_password", imap_user.password),
            transport=smtp_server.url(),
            transport_password=PASSWORD,
            rules_dir=REPO / "rules",
            templates_dir=REPO / "templates",
        )
    )


@pytest.fixture
def runtime(database_url: str, imap_user: ImapUser, smtp_server: SmtpServer) -> Iterator[Runtime]:
    rt = _runtime(database_url, imap_user, smtp_server)
    yield rt
    rt.close()


def _queue(rt: Runtime, name: str, *, cut_short: bool) -> OutboxMail:
    """Add a due row; ``cut_short``: as a worker killed mid-delivery leaves it (claimed once,
    no outcome, the claim run out)."""
    row = outbox_row(
        key=key_of(name), kind="receipt", rule="测试", to=["wangfang@example.com"], cc=[],
        context=sample_context(), domain="example.com", now=T0 - timedelta(minutes=10),
    )  # fmt: skip
    with writing(rt.sessions) as session:
        [row_id] = outbox.add_all_new(session, [outbox.row_values(row)])
        if cut_short:
            session.execute(
                update(OutboxMail)
                .where(OutboxMail.id == row_id)
                .values(claimed_until=T0 - timedelta(minutes=1), attempts=1)
            )
    with rt.sessions() as session:
        stored = session.get(OutboxMail, row_id)
        assert stored is not None
        return stored


def _copy(message_id: str, subject: str = SUBJECT) -> bytes:
    """The copy a server keeps of a submitted mail."""
    mail = EmailMessage()
    mail["From"] = "协调台 <coord@example.com>"
    mail["To"] = "wangfang@example.com"
    mail["Subject"] = subject
    mail["Date"] = format_datetime(T0 - timedelta(minutes=6))
    mail["Message-ID"] = message_id
    mail.set_content("已收到。")
    return mail.as_bytes()


def _status(rt: Runtime, row_id: int) -> OutboxMail:
    with rt.sessions() as session:
        row = session.get(OutboxMail, row_id)
        assert row is not None
        return row


def test_a_cut_short_delivery_found_in_sent_is_recorded_not_sent_again(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    found = _queue(runtime, "found", cut_short=True)
    missing = _queue(runtime, "missing", cut_short=True)
    imap_user.append(_copy(found.message_id), "Sent")
    imap_user.append(_copy("<someone-else@example.com>"), "Sent")
    with (
        caplog.at_level(logging.WARNING, logger="mailflow.service.sweep"),
        caplog.at_level(logging.INFO, logger="mailflow.events"),
    ):
        sweep_once(runtime, T0)

    settled = _status(runtime, found.id)
    assert settled.status == OUTBOX_SENT and settled.subject == SUBJECT
    assert settled.claimed_until is None and settled.sent_at == T0
    assert f"a copy of {found.message_id} is in the Sent folder" in caplog.text
    events = [r for r in caplog.records if getattr(r, "event", None) == "sent"]
    assert found.message_id in [getattr(r, "message_id", None) for r in events]  # logged sent
    # the other cut-short row had no copy: it goes out again, once
    assert _status(runtime, missing.id).status == OUTBOX_SENT
    received = [m.message.get("Message-ID") for m in smtp_server.sink.received]
    assert received == [missing.message_id]


def test_only_cut_short_rows_are_looked_for(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    """A row no worker ever claimed cannot have gone out: it is sent, whatever Sent holds."""
    fresh = _queue(runtime, "fresh", cut_short=False)
    imap_user.append(_copy(fresh.message_id), "Sent")
    sweep_once(runtime, T0)
    assert [m.message.get("Message-ID") for m in smtp_server.sink.received] == [fresh.message_id]


def test_a_claim_not_yet_run_out_is_left_to_its_worker(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    row = _queue(runtime, "held", cut_short=True)
    imap_user.append(_copy(row.message_id), "Sent")
    sweep_once(runtime, T0 - timedelta(minutes=2))  # before the claim ran out
    held = _status(runtime, row.id)
    assert held.status == OUTBOX_PENDING and held.claimed_until is not None
    assert smtp_server.sink.received == []


def test_a_sent_folder_with_a_chinese_name_is_found(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    """Tencent's and NetEase's servers may flag no folder as \\Sent: "已发送" is looked for."""
    row = _queue(runtime, "chinese", cut_short=True)
    imap_user.append(_copy(row.message_id), "已发送")
    sweep_once(runtime, T0)
    assert _status(runtime, row.id).status == OUTBOX_SENT
    assert smtp_server.sink.received == []


def test_without_a_sent_folder_the_mail_goes_out_again(
    runtime: Runtime, smtp_server: SmtpServer
) -> None:
    row = _queue(runtime, "nofolder", cut_short=True)
    sweep_once(runtime, T0)
    assert [m.message.get("Message-ID") for m in smtp_server.sink.received] == [row.message_id]


def test_a_mailbox_that_cannot_be_read_sends_the_mail_again(
    database_url: str,
    imap_user: ImapUser,
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing is lost for not knowing: the mail goes out again, and the log says why."""
    rt = _runtime(database_url, imap_user, smtp_server, source_password="wrong")
    try:
        row = _queue(rt, "unreadable", cut_short=True)
        imap_user.append(_copy(row.message_id), "Sent")
        with caplog.at_level(logging.WARNING, logger="mailflow.sources.sent"):
            sweep_once(rt, T0)
    finally:
        rt.close()
    assert "could not look in the Sent folder" in caplog.text
    assert [m.message.get("Message-ID") for m in smtp_server.sink.received] == [row.message_id]


def test_status_counts_the_cut_short_rows_until_the_sweep_settles_them(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    """`status` says how many pending mails a dead worker left; none once the sweep ran."""
    row = _queue(runtime, "status", cut_short=True)
    _queue(runtime, "waiting", cut_short=False)
    imap_user.append(_copy(row.message_id), "Sent")

    def cut_short() -> int:
        found = health.check(runtime.engine, runtime.sessions, lambda: None, "test", now=T0)
        return int(found.outbox["cut_short"])

    def metric() -> float | None:
        registry = CollectorRegistry()
        registry.register(HealthCollector(runtime, "scheduler"))
        return registry.get_sample_value("mailflow_outbox_cut_short")

    assert cut_short() == 1
    assert metric() == 1.0
    sweep_once(runtime, T0)
    assert cut_short() == 0


# ---- an Exchange mailbox read over EWS (the protocol-level test server, tests/servers/ews.py)

EWS_USER, EWS_PASSWORD = "coord@corp.example.cn", "Exchange-密码-2026"


@pytest.fixture(scope="module")
def exchange() -> Iterator[EwsServer]:
    with running_ews(EWS_USER, EWS_PASSWORD) as server:
        yield server


def _ews_source(server: EwsServer) -> str:
    port = server.url.split(":")[2].split("/")[0]
    user = EWS_USER.replace("@", "%40")
    return f"ews://{user}@127.0.0.1:{port}/EWS/Exchange.asmx?auth=basic&cafile={server.cafile}"


def test_a_cut_short_delivery_is_found_in_exchanges_sent_items(
    sqlite_url: str, exchange: EwsServer, smtp_server: SmtpServer
) -> None:
    """With an ews:// source, the copy is looked for in Sent Items by its InternetMessageId."""
    exchange.reset()
    rt = build_runtime(
        load_settings(
            database_url=sqlite_url,
            source=_ews_source(exchange),
            source_password=EWS_PASSWORD,
            transport=smtp_server.url(),
            transport_password=PASSWORD,
            rules_dir=REPO / "rules",
            templates_dir=REPO / "templates",
        )
    )
    try:
        found = _queue(rt, "ews-found", cut_short=True)
        missing = _queue(rt, "ews-missing", cut_short=True)
        exchange.deliver(_copy("<another@corp.example.cn>"), folder="sent-id")
        exchange.deliver(_copy(found.message_id), folder="sent-id")
        exchange.deliver(_copy(missing.message_id), folder="inbox-id")  # not a Sent copy
        sweep_once(rt, T0)
        assert _status(rt, found.id).status == OUTBOX_SENT
        received = [m.message.get("Message-ID") for m in smtp_server.sink.received]
        assert received == [missing.message_id]
        assert "FindItem" in exchange.operations()
    finally:
        rt.close()


def test_exchange_refusing_the_login_finds_nothing(
    exchange: EwsServer, caplog: pytest.LogCaptureFixture
) -> None:
    exchange.reset()
    exchange.deliver(_copy("<kept@corp.example.cn>"), folder="sent-id")
    settings = load_settings(source=_ews_source(exchange), source_password="wrong")
    folder = open_sent_folder(settings)
    assert folder is not None
    with caplog.at_level(logging.WARNING, logger="mailflow.sources.ews_sent"):
        assert folder.find({"<kept@corp.example.cn>": T0}) == {}
    assert "could not look in the Sent Items" in caplog.text
    right = open_sent_folder(
        load_settings(source=_ews_source(exchange), source_password=EWS_PASSWORD)
    )
    assert right is not None and list(right.find({"<kept@corp.example.cn>": T0})) == [
        "<kept@corp.example.cn>"
    ]
