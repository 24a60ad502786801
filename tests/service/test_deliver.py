"""Delivery keeps each recipient's state: a 4xx for one of six is retried for that one alone,
with the same Message-ID; a 5xx fails that one alone and tells the administrators; the others
get the mail exactly once. Against the real aiosmtpd server and SQLite/PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.service.deliver import FAILED, RETRY, SENT, SKIPPED, Courier
from mailflow.service.outmail import key_of, outbox_row
from mailflow.service.runtime import Runtime, build_runtime
from mailflow.settings import load_settings
from mailflow.store import outbox, recipients
from mailflow.store.db import writing
from mailflow.store.models import OutboxMail
from tests.outbound.samples import sample_context
from tests.servers.smtp import PASSWORD, SmtpServer

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
# a site meeting of a construction firm: five site leads and the safety officer
SITE = [
    "wang.gong@jianshe.example.com",
    "li.shigong@jianshe.example.com",
    "zhao.anquan@jianshe.example.com",
    "chen.cailiao@jianshe.example.com",
    "sun.zhiliang@jianshe.example.com",
]
SAFETY = "qian.jianli@jianli.example.net"


@pytest.fixture
def runtime(database_url: str, smtp_server: SmtpServer) -> Iterator[Runtime]:
    """Shipped rules and templates, the given database, the STARTTLS+AUTH test server."""
    rt = build_runtime(
        load_settings(
            database_url=database_url,
            transport=smtp_server.url(),
            transport_password=PASSWORD,
            rules_dir=REPO / "rules",
            templates_dir=REPO / "templates",
        )
    )
    yield rt
    rt.close()


def _queue(rt: Runtime, to: list[str], cc: list[str], seed: str = "site-meeting") -> int:
    row = outbox_row(
        key=key_of(seed),
        kind="receipt",
        rule="测试",
        to=to,
        cc=cc,
        context=sample_context(),
        domain="example.com",
        now=T0,
    )
    with writing(rt.sessions) as session:
        new = outbox.add_if_new(session, row)
    assert new is not None
    return new


def _state(rt: Runtime, outbox_id: int) -> tuple[OutboxMail, dict[str, tuple[str, int | None]]]:
    with rt.sessions() as session:
        row = session.get(OutboxMail, outbox_id)
        assert row is not None
        lines = recipients.of_row(session, outbox_id)
        return row, {line.address: (line.status, line.code) for line in lines}


def _later(rt: Runtime, outbox_id: int) -> datetime:
    row, _ = _state(rt, outbox_id)
    return row.next_attempt_at + timedelta(seconds=1)


def test_one_deferred_recipient_of_six_is_retried_alone_with_the_same_message_id(
    runtime: Runtime, smtp_server: SmtpServer
) -> None:
    """451 for one of six: five get it now, the sixth alone later, one Message-ID throughout."""
    courier: Courier = runtime.courier()
    mail = _queue(runtime, SITE, [SAFETY])
    smtp_server.sink.refuse(SITE[2], "451 4.3.0 Mailbox temporarily unavailable")
    assert courier.deliver(mail, T0) == RETRY
    row, lines = _state(runtime, mail)
    assert row.status == "pending" and row.next_attempt_at > T0
    assert lines[SITE[2]] == ("pending", 451)
    assert {a for a, (status, _) in lines.items() if status == "sent"} == {*SITE, SAFETY} - {
        SITE[2]
    }
    [first] = smtp_server.sink.received
    assert set(first.rcpt_tos) == {*SITE, SAFETY} - {SITE[2]}

    assert courier.deliver(mail, T0 + timedelta(seconds=1)) == SKIPPED  # not due yet
    smtp_server.sink.refusals.pop(SITE[2])
    assert courier.deliver(mail, _later(runtime, mail)) == SENT
    _, second = smtp_server.sink.received
    assert second.rcpt_tos == (SITE[2],)
    assert second.message["Message-ID"] == first.message["Message-ID"] == row.message_id
    assert SITE[2] in second.message["To"]  # the headers still show everyone it went to
    row, lines = _state(runtime, mail)
    assert row.status == "sent" and row.last_error is None
    assert set(lines.values()) == {("sent", None)}


def test_one_refused_recipient_fails_alone_and_the_administrators_hear_once(
    runtime: Runtime, smtp_server: SmtpServer
) -> None:
    """550 for one of six: the row is sent (five got it), that recipient failed, one notice."""
    courier = runtime.courier()
    mail = _queue(runtime, SITE[:4], [SITE[4], SAFETY])
    smtp_server.sink.refuse(SAFETY, "550 5.1.1 User unknown")
    assert courier.deliver(mail, T0) == SENT
    row, lines = _state(runtime, mail)
    assert row.status == "sent" and "550" in (row.last_error or "")
    assert lines[SAFETY] == ("failed", 550)
    assert sorted(a for a, (s, _) in lines.items() if s == "sent") == sorted(SITE)

    with runtime.sessions() as session:
        notices = list(session.scalars(select(OutboxMail).where(OutboxMail.id != mail)))
    assert [(n.kind, n.to_addrs) for n in notices] == [
        ("delivery_failed_admin", ["admin@example.com"])
    ]
    assert courier.deliver(notices[0].id, T0) == SENT
    body = smtp_server.sink.received[-1].message.get_body(("plain",)).get_content()
    assert SAFETY in body and "550" in body
    assert len(smtp_server.sink.received) == 2  # the mail once, the notice once
    assert courier.deliver(mail, T0 + timedelta(days=1)) == SKIPPED


def test_mixed_answers_settle_each_recipient(runtime: Runtime, smtp_server: SmtpServer) -> None:
    """One 451 and one 550 among six: the 550 fails at once, the 451 alone is tried until it
    is accepted, and the others never get a second copy."""
    courier = runtime.courier()
    mail = _queue(runtime, SITE, [SAFETY], seed="mixed")
    smtp_server.sink.refuse(SITE[0], "452 4.2.2 Mailbox full")
    smtp_server.sink.refuse(SAFETY, "553 5.1.3 Bad recipient address syntax")
    assert courier.deliver(mail, T0) == RETRY
    assert courier.deliver(mail, _later(runtime, mail)) == RETRY  # still full
    smtp_server.sink.refusals.pop(SITE[0])
    assert courier.deliver(mail, _later(runtime, mail)) == SENT
    envelopes = [m.rcpt_tos for m in smtp_server.sink.received]
    assert envelopes[0] == tuple(SITE[1:]) and envelopes[1:] == [(SITE[0],)]
    row, lines = _state(runtime, mail)
    assert row.status == "sent" and row.attempts == 3
    assert lines[SAFETY] == ("failed", 553) and lines[SITE[0]][0] == "sent"


def test_every_recipient_refused_fails_the_mail(runtime: Runtime, smtp_server: SmtpServer) -> None:
    """When nobody got it, the mail is failed, each recipient with the server's answer."""
    courier = runtime.courier()
    mail = _queue(runtime, [SITE[1], SAFETY], [], seed="nobody")
    smtp_server.sink.refuse(SITE[1], "550 5.1.1 User unknown")
    smtp_server.sink.refuse(SAFETY, "551 5.1.6 User has moved")
    assert courier.deliver(mail, T0) == FAILED
    row, lines = _state(runtime, mail)
    assert row.status == "failed"
    assert lines == {SITE[1]: ("failed", 550), SAFETY: ("failed", 551)}


def test_a_deferred_recipient_fails_when_attempts_run_out(
    runtime: Runtime, smtp_server: SmtpServer
) -> None:
    """A recipient deferred on every attempt fails in the end; the others keep their copy."""
    from mailflow.service import deliver

    courier = runtime.courier()
    mail = _queue(runtime, SITE[:2], [], seed="full-mailbox")
    smtp_server.sink.refuse(SITE[1], "452 4.2.2 Mailbox full")
    outcomes = [courier.deliver(mail, T0)]
    while outcomes[-1] == RETRY:
        outcomes.append(courier.deliver(mail, _later(runtime, mail)))
    assert outcomes == [RETRY] * (deliver.MAX_ATTEMPTS - 1) + [FAILED]
    row, lines = _state(runtime, mail)
    assert row.status == "sent" and "gave up" in (row.last_error or "")
    assert lines == {SITE[0]: ("sent", None), SITE[1]: ("failed", 452)}
    assert [m.rcpt_tos for m in smtp_server.sink.received] == [(SITE[0],)]
