"""How many SMTP sessions one process holds at once: ``sessions=`` on MAILFLOW_TRANSPORT.

Exchange Online accepts at most three concurrent SMTP AUTH sessions per mailbox and answers a
fourth "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded": every mail a delivery
thread sends on such a session is put off, and after twelve refusals given up. The test server
refuses the same way (``Sink(max_sessions=3)``); the in-process broker delivers as `mailflow run`
does, one thread and one session per ``sessions``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.errors import ConfigurationError
from mailflow.jobs.runner import sweep_once
from mailflow.outbound.transports import parse_transport_url
from mailflow.service.runtime import Runtime, build_runtime
from mailflow.settings import load_settings
from mailflow.store import outbox
from mailflow.store.db import writing
from mailflow.store.models import OUTBOX_SENT, OutboxMail
from tests.outbound.samples import receipt_rows
from tests.servers.smtp import PASSWORD, SESSION_LIMIT, Sink, SmtpServer, running_smtp

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
MAILS = 60


@pytest.fixture
def exchange_like() -> Iterator[SmtpServer]:
    """A server that, like Exchange Online, takes three sessions at once and refuses more."""
    with running_smtp(sink=Sink(max_sessions=3)) as server:
        yield server


def _runtime(sqlite_url: str, server: SmtpServer, query: str) -> Runtime:
    return build_runtime(
        load_settings(
            database_url=sqlite_url,
            transport=server.url() + query,
            transport_password=PASSWORD,
            rules_dir=REPO / "rules",
            templates_dir=REPO / "templates",
        )
    )


def _queue(rt: Runtime, count: int) -> None:
    with writing(rt.sessions) as session:
        outbox.add_all_new(session, receipt_rows("sessions", count, T0))


def _deliver(rt: Runtime) -> list[OutboxMail]:
    _queue(rt, MAILS)
    sweep_once(rt, T0)
    with rt.sessions() as session:
        return list(session.scalars(select(OutboxMail)))


def test_within_the_servers_session_limit_every_mail_goes_out_at_once(
    sqlite_url: str, exchange_like: SmtpServer
) -> None:
    """``sessions=3``: three delivery threads share the work, and none is refused."""
    rt = _runtime(sqlite_url, exchange_like, "&sessions=3")
    try:
        assert rt.delivery_threads == 3
        rows = _deliver(rt)
    finally:
        rt.close()
    sink = exchange_like.sink
    assert sink.busy_refusals == 0
    assert [r.status for r in rows] == [OUTBOX_SENT] * MAILS
    assert len(sink.received) == MAILS
    assert 2 <= sink.most_sessions <= 3  # the threads did deliver side by side


def test_more_sessions_than_the_server_takes_put_mail_off(
    sqlite_url: str, exchange_like: SmtpServer
) -> None:
    """What the limit prevents: with five threads, the sessions beyond the third are refused
    and their mails wait for a later attempt (none is lost, none is sent twice)."""
    rt = _runtime(sqlite_url, exchange_like, "&sessions=5")
    try:
        rows = _deliver(rt)
    finally:
        rt.close()
    sink = exchange_like.sink
    assert sink.busy_refusals > 0
    put_off = [r for r in rows if r.status != OUTBOX_SENT]
    assert put_off and all(SESSION_LIMIT.split(";")[0] in (r.last_error or "") for r in put_off)
    assert len(sink.received) == MAILS - len(put_off)
    assert len({m.message.get("Message-ID") for m in sink.received}) == len(sink.received)


@pytest.mark.parametrize(
    ("url", "sessions"),
    [
        ("smtp://relay.example.cn:587", 4),
        ("smtp://coord%40example.com@smtp.office365.com:587?auth=xoauth2", 3),
        ("smtp://coord%40example.com@SMTP.Office365.com:587", 3),
        ("smtp://coord%40example.cn@smtp.partner.outlook.cn:587", 3),
        ("smtp://coord%40example.com@smtp.office365.com:587?sessions=1", 1),
        ("smtps://relay.example.cn?sessions=12", 12),
    ],
)
def test_sessions_default_to_four_and_to_three_on_microsoft_365(url: str, sessions: int) -> None:
    parsed = parse_transport_url(url)
    assert getattr(parsed, "sessions", None) == sessions


@pytest.mark.parametrize("value", ["0", "33", "-1", "two", ""])
def test_a_sessions_value_out_of_range_is_refused_with_the_range(value: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_transport_url(f"smtp://relay.example.cn:587?sessions={value}")
    assert f"sessions={value!r}; use 1 to 32" in str(refused.value)
    assert str(refused.value).startswith("MAILFLOW_TRANSPORT")
