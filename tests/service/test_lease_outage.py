"""A poller cut off from its database for longer than its lease no longer counts itself
active, and takes the lease again before it writes anything; a second poller stands by and
says so. Run against a private PostgreSQL that is stopped and started under the pollers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailflow.mail.model import ParseContext
from mailflow.service.poll import poll_forever
from mailflow.sources.maildir import MaildirSource
from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.migrate import upgrade
from mailflow.store.models import MailboxLease, Message
from tests.servers.private import PrivatePostgres

TTL = timedelta(seconds=3)
WAIT_S = 90.0


def _drop(box: Path, name: str, message_id: str, subject: str) -> None:
    m = EmailMessage()
    m["From"] = "林涛 <lin.tao@example.com>"
    m["To"] = "coord@example.com"
    m["Subject"] = subject
    m["Message-ID"] = message_id
    m["Date"] = "Wed, 18 Oct 2023 16:05:00 +0800"
    m.set_content("仓库盘点表已更新，请查收。\n\n林涛\n物流部\n", charset="utf-8")
    (box / "new" / name).write_bytes(m.as_bytes())


def _until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_poller_cut_off_past_its_lease_stands_by_until_it_holds_it_again(
    private_postgres: PrivatePostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Lapsed while the database is down, active again once it has re-taken the lease; the
    other poller says standby throughout, and each mail is stored once."""
    upgrade(private_postgres.url)
    box = tmp_path / "inbox"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    _drop(box, "1697616300.M1P1.wh", "<stocktake-1018@example.com>", "【通知】物流部-十月仓库盘点")
    engine = make_engine(private_postgres.url)
    sessions = make_session_factory(engine)
    stop = threading.Event()

    def poller() -> None:
        poll_forever(MaildirSource(box), sessions, ParseContext(), stop, 0.2, lease_ttl=TTL)

    def said(word: str) -> list[str]:
        return [r.getMessage() for r in caplog.records if f" is {word} for " in r.getMessage()]

    def stored() -> int:
        try:
            with sessions() as s:
                return int(s.scalar(select(func.count()).select_from(Message)) or 0)
        except Exception:
            return -1

    threads = [threading.Thread(target=poller, daemon=True) for _ in range(2)]
    with caplog.at_level(logging.INFO, logger="mailflow.service.poll"):
        try:
            for t in threads:
                t.start()
            _until(
                "one active and one standby",
                lambda: len(said("active")) == 1 == len(said("standby")),
            )
            _until("the first mail stored", lambda: stored() == 1)
            private_postgres.kill()
            _until("the active poller lapsed", lambda: len(said("lapsed")) == 1)
            private_postgres.start()
            _until("a poller active again", lambda: len(said("active")) == 2)
            _drop(
                box,
                "1697616400.M2P1.wh",
                "<stocktake-1018-b@example.com>",
                "【通知】物流部-盘点差异说明",
            )
            _until("the second mail stored", lambda: stored() == 2)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
    with sessions() as s:
        ids = list(s.scalars(select(Message.message_id).order_by(Message.message_id)))
        lease = s.scalar(select(MailboxLease))
    engine.dispose()
    assert ids == ["<stocktake-1018-b@example.com>", "<stocktake-1018@example.com>"]
    assert lease is not None and lease.epoch >= 1
    messages = [r.getMessage() for r in caplog.records]
    lapsed_at = next(i for i, m in enumerate(messages) if " is lapsed for " in m)
    assert any(" is active for " in m for m in messages[lapsed_at:])
    assert any("cannot reach the database" in m for m in messages)
