"""How many SMTP sessions mailflow holds at once: ``sessions=`` on MAILFLOW_TRANSPORT.

Exchange Online accepts at most three concurrent SMTP AUTH sessions per mailbox and answers a
fourth "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded": every mail a delivery
thread sends on such a session is put off, and after twelve refusals given up. The test server
refuses the same way (``Sink(max_sessions=3)``); the in-process broker delivers as `mailflow run`
does, one thread and one session per ``sessions``. Two runtimes on one database stand for two
worker processes: the limit is the mailbox's, shared through the database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from rich.console import Console
from sqlalchemy import select

from mailflow.cli.status_view import print_status
from mailflow.errors import ConfigurationError
from mailflow.jobs.metrics import HealthCollector
from mailflow.jobs.runner import sweep_once
from mailflow.outbound.transports import parse_transport_url
from mailflow.service import health
from mailflow.service.runtime import Runtime, build_runtime
from mailflow.service.session_slots import LEASE, SessionSlots
from mailflow.settings import load_settings
from mailflow.store import outbox, session_slots
from mailflow.store.db import writing
from mailflow.store.models import OUTBOX_SENT, OutboxMail
from tests.outbound.samples import receipt_rows
from tests.servers.smtp import PASSWORD, SESSION_LIMIT, Sink, SmtpServer, running_smtp

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
MAILS = 60
# a worker of another machine: alive as far as this one can tell
ELSEWHERE = "worker-2.example.com:4242:0badf00d"


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
    return _rows(rt)


def _held(rt: Runtime) -> list[tuple[int, str]]:
    account = parse_transport_url(rt.settings.transport).name
    with rt.sessions() as session:
        return session_slots.held(session, account, datetime.now(UTC))


def _rows(rt: Runtime) -> list[OutboxMail]:
    with rt.sessions() as session:
        return list(session.scalars(select(OutboxMail).order_by(OutboxMail.id)))


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
    # a limit given, or Microsoft's, is the mailbox's: shared by every worker; the default
    # four elsewhere is only how many threads each process runs
    assert getattr(parsed, "shared_sessions", None) is (url != "smtp://relay.example.cn:587")


@pytest.mark.parametrize("value", ["0", "33", "-1", "two", ""])
def test_a_sessions_value_out_of_range_is_refused_with_the_range(value: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_transport_url(f"smtp://relay.example.cn:587?sessions={value}")
    assert f"sessions={value!r}; use 1 to 32" in str(refused.value)
    assert str(refused.value).startswith("MAILFLOW_TRANSPORT")


def test_two_workers_share_the_mailboxs_three_sessions(
    database_url: str, exchange_like: SmtpServer
) -> None:
    """Two workers, each with three delivery threads, send the same outbox at once: six
    threads, three sessions between them, and no session refused."""
    workers = [_runtime(database_url, exchange_like, "&sessions=3") for _ in range(2)]
    try:
        _queue(workers[0], MAILS)
        errors: list[BaseException] = []

        def work(rt: Runtime) -> None:
            try:
                sweep_once(rt, T0)
            except BaseException as e:  # reported by the test, not lost in the thread
                errors.append(e)

        both = [threading.Thread(target=work, args=(rt,)) for rt in workers]
        for thread in both:
            thread.start()
        for thread in both:
            thread.join()
        assert errors == []
        rows = _rows(workers[0])
        held = _held(workers[0])
    finally:
        for rt in workers:
            rt.close()
    sink = exchange_like.sink
    assert sink.busy_refusals == 0
    assert sink.most_sessions <= 3
    assert held == []  # each worker's threads, once stopped, said QUIT and gave theirs back
    assert [r.status for r in rows] == [OUTBOX_SENT] * MAILS
    assert [r.attempts for r in rows] == [1] * MAILS
    assert sorted(m.message.get("Message-ID") for m in sink.received) == sorted(
        r.message_id for r in rows
    )


def test_mail_that_waits_too_long_for_a_session_goes_back_unsent_and_uncounted(
    database_url: str, exchange_like: SmtpServer
) -> None:
    """Every session held by another machine's worker: the batch goes back to the outbox
    (no attempt counted, no error recorded) and goes out once a session is free."""
    rt = _runtime(database_url, exchange_like, "&sessions=1")
    try:
        courier = rt.courier(T0)
        gate = getattr(courier.transport, "gate", None)
        assert isinstance(gate, SessionSlots)
        gate.patience_s = 0.2
        _queue(rt, 3)
        ids = [r.id for r in _rows(rt)]
        with writing(rt.sessions) as session:
            session_slots.ensure(session, gate.account, 1)
            taken = session_slots.take(
                session, gate.account, 1, ELSEWHERE, T0, datetime.now(UTC) + LEASE, bool
            )
            assert taken == 0
        assert set(courier.deliver_many(ids, T0).values()) == {"skipped"}
        waiting = _rows(rt)
        assert [(r.status, r.attempts, r.claimed_until, r.last_error) for r in waiting] == [
            ("pending", 0, None, None)
        ] * 3
        assert exchange_like.sink.received == []
        with writing(rt.sessions) as session:
            session_slots.give_back(session, gate.account, 0, ELSEWHERE)
        assert set(courier.deliver_many(ids, T0).values()) == {"sent"}
        courier.transport.close()
        with rt.sessions() as session:
            assert session_slots.held(session, gate.account, datetime.now(UTC)) == []
    finally:
        rt.close()
    assert len(exchange_like.sink.received) == 3


def test_the_sessions_of_a_worker_killed_with_kill_9_are_free_at_once(
    sqlite_url: str, exchange_like: SmtpServer, tmp_path: Path
) -> None:
    """`mailflow run` answers the example inbox over three sessions and is killed with kill -9
    while it holds them; another worker on this machine sends at once, without waiting the
    three minutes their holds would last."""
    shutil.copytree(REPO / "examples" / "inbox", tmp_path / "inbox")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env |= {
        "MAILFLOW_DATABASE_URL": sqlite_url,
        "MAILFLOW_SOURCE": f"maildir://{tmp_path / 'inbox'}",
        "MAILFLOW_TRANSPORT": exchange_like.url() + "&sessions=3",
        "MAILFLOW_TRANSPORT_PASSWORD": PASSWORD,
        "MAILFLOW_RULES_DIR": str(REPO / "rules"),
        "MAILFLOW_TEMPLATES_DIR": str(REPO / "templates"),
        "MAILFLOW_PARSE_WORKERS": "0",
        "PYTHONPATH": str(REPO),
    }
    rt = _runtime(sqlite_url, exchange_like, "&sessions=3")
    log = (tmp_path / "run.log").open("wb")
    run = subprocess.Popen(
        [sys.executable, "-m", "mailflow", "run"], env=env, cwd=tmp_path, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 120
        while len(_held(rt)) < 3:  # seven replies, three threads: all three, 2 s after the last
            assert run.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, "mailflow run never held the three sessions"
            time.sleep(0.05)
        run.kill()
        run.wait()
        held = _held(rt)
        assert len(held) == 3 and all(f":{run.pid}:" in holder for _slot, holder in held)
        before = {r.id for r in _rows(rt)}
        _queue(rt, 6)
        started = time.monotonic()
        sweep_once(rt, datetime.now(UTC))
        took = time.monotonic() - started
        rows = [r for r in _rows(rt) if r.id not in before]
    finally:
        run.kill()
        log.close()
        rt.close()
    assert [r.status for r in rows] == [OUTBOX_SENT] * 6, took
    assert exchange_like.sink.busy_refusals == 0


def test_status_and_the_metrics_show_the_sessions_held(
    database_url: str, exchange_like: SmtpServer
) -> None:
    """`mailflow status` and the metrics say how many of the shared sessions are held."""
    rt = _runtime(database_url, exchange_like, "&sessions=3")
    try:
        account = parse_transport_url(rt.settings.transport).name
        gate = SessionSlots(rt.sessions, account, 3)

        def shown() -> tuple[list[dict[str, object]], float | None, str]:
            found = health.check(rt.engine, rt.sessions, lambda: None, "test")
            registry = CollectorRegistry()
            registry.register(HealthCollector(rt, "worker"))
            held = registry.get_sample_value("mailflow_smtp_sessions_held", {"account": account})
            console = Console(record=True, width=200)
            print_status(console, found, UTC)
            return found.outbox["smtp_sessions"], held, console.export_text()

        gate.enter()
        sessions, held, text = shown()
        assert sessions == [{"account": account, "held": 1, "limit": 3}]
        assert held == 1.0
        assert f"SMTP sessions of {account}: 1 of 3 held" in text
        gate.leave()
        assert shown()[:2] == ([{"account": account, "held": 0, "limit": 3}], 0.0)
    finally:
        rt.close()
