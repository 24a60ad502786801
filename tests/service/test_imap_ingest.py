"""IMAP into the database: crash safety, IDLE latency and UIDVALIDITY changes on a real Dovecot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.model import ParseContext
from mailflow.service.ingest import ingest
from mailflow.service.parsing import POOL_MIN
from mailflow.service.poll import poll_forever
from mailflow.settings import load_settings
from mailflow.sources.imap import ImapSource
from mailflow.sources.url import PROCESSED_KEYWORD
from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.models import Message
from tests.servers.dovecot import ImapUser

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("crashing_poller.py")


def mail(n: int) -> bytes:
    """Return a small conforming message numbered ``n``."""
    return (
        f"Message-ID: <crash-{n}@example.com>\r\n"
        "From: =?UTF-8?B?5byg5LiJ?= <zhang.san@example.com>\r\n"
        "To: coord@example.com\r\n"
        "Date: Sun, 08 Oct 2023 10:00:00 +0800\r\n"
        f"Subject: =?UTF-8?B?44CQ5Lya6K6u57qq6KaB44CR5oqA5pyv6YOoLVE05Lqn5ZOB6L+t5Luj?= {n}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"第{n}封\r\n"
    ).encode()


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _stored(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        return sorted(s.scalars(select(Message.message_id)))


def _flagged(user: ImapUser) -> int:
    with user.server.client(user.name) as c:
        c.select_folder("INBOX", readonly=True)
        return len(c.search(["KEYWORD", PROCESSED_KEYWORD]))


def _env(user: ImapUser, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env.update(
        MAILFLOW_SOURCE=user.url(batch="2"),
        MAILFLOW_SOURCE_PASSWORD=user.password,
        MAILFLOW_DATABASE_URL=database_url,
        MAILFLOW_RULES_DIR=str(REPO / "rules"),
        PYTHONPATH=str(REPO),
    )
    return env


def _poll(env: dict[str, str], *driver_args: str) -> subprocess.CompletedProcess[str]:
    cmd = (
        [sys.executable, str(DRIVER), *driver_args]
        if driver_args
        else [sys.executable, "-m", "mailflow", "poll", "--once"]
    )
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("phase", ["after_commit", "before_commit"])
def test_poller_killed_loses_nothing_and_doubles_nothing(
    imap_user: ImapUser, database_url: str, sessions: sessionmaker[Session], phase: str
) -> None:
    """SIGKILL around the first batch's commit, then a restart: each mail stored exactly once."""
    for n in range(5):
        imap_user.append(mail(n))
    env = _env(imap_user, database_url)
    crashed = _poll(env, phase)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    committed = 2 if phase == "after_commit" else 0
    assert len(_stored(sessions)) == committed
    assert _flagged(imap_user) == 0

    restarted = _poll(env)
    assert restarted.returncode == 0, restarted.stderr
    assert _stored(sessions) == sorted(f"<crash-{n}@example.com>" for n in range(5))
    assert _flagged(imap_user) == 5


def test_append_arrives_through_idle(imap_user: ImapUser, sessions: sessionmaker[Session]) -> None:
    """A mail APPENDed while the poller IDLEs is stored long before the poll interval ends."""
    settings = load_settings(
        source=imap_user.url(), source_password=imap_user.password, rules_dir=REPO / "rules"
    )
    source = ImapSource.from_settings(settings)
    stop = threading.Event()
    worker = threading.Thread(
        target=poll_forever,
        args=(source, sessions, ParseContext(), stop, 600.0),
        daemon=True,
    )
    worker.start()
    try:
        _wait_until(lambda: _idling(imap_user), what="the poller to enter IDLE")
        appended_at = time.monotonic()
        imap_user.append(mail(1))
        _wait_until(lambda: len(_stored(sessions)) == 1, what="the mail to be stored")
        assert time.monotonic() - appended_at < 10.0  # the poll interval is 600 s
    finally:
        stop.set()
        imap_user.server.kick(imap_user.name)  # ends the IDLE so the thread sees `stop`
        worker.join(timeout=30)
    assert not worker.is_alive()


def test_uidvalidity_change_does_not_duplicate(
    imap_user: ImapUser, sessions: sessionmaker[Session]
) -> None:
    """After the server renumbers the folder, known mail is not stored again and new mail is."""
    for n in range(3):
        imap_user.append(mail(n))
    settings = load_settings(source=imap_user.url(), source_password=imap_user.password)
    first = ingest(ImapSource.from_settings(settings), sessions, ParseContext())
    assert first.stored == 3
    imap_user.server.change_uidvalidity(imap_user.name)
    imap_user.append(mail(3))
    second = ingest(ImapSource.from_settings(settings), sessions, ParseContext())
    assert (second.stored, second.duplicates) == (1, 0)
    assert len(_stored(sessions)) == 4


def _idling(user: ImapUser) -> bool:
    out = subprocess.run(
        ["doveadm", "-c", str(user.server.base_dir / "dovecot.conf"), "who", "-1"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return user.name in out


def _wait_until(condition, what: str, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_batches_the_parse_workers_take_are_stored_and_marked_once(
    imap_user: ImapUser, sessions: sessionmaker[Session]
) -> None:
    """Batches big enough for the parse workers (the next one is fetched before the one before
    it is marked, on the same connection): every mail is stored and marked on the server, once."""
    count, batch = 3 * POOL_MIN + 5, POOL_MIN
    for n in range(count):
        imap_user.append(mail(n))
    settings = load_settings(
        source=imap_user.url(batch=str(batch)),
        source_password=imap_user.password,
        rules_dir=REPO / "rules",
    )
    source = ImapSource.from_settings(settings)
    try:
        report = ingest(source, sessions, ParseContext(), parse_workers=2)
    finally:
        source.close()
    assert (report.stored, report.duplicates, report.batches) == (count, 0, 4)
    assert _stored(sessions) == sorted(f"<crash-{n}@example.com>" for n in range(count))
    assert _flagged(imap_user) == count
