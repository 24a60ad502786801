"""A failing SMTP server delays mail or fails it visibly, never drops or doubles it; a broken
rule edit keeps the old rules and tells the administrators once."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mailflow.jobs.runner import live_rules, run_once, sweep_once
from mailflow.service.runtime import Runtime, build_runtime, open_source
from mailflow.settings import load_settings
from mailflow.store.models import OutboxMail
from tests.jobs.scenario import TASK
from tests.servers.dovecot import ImapUser
from tests.servers.smtp import PASSWORD, SmtpServer

REPO = Path(__file__).resolve().parents[2]
# a fixed Monday afternoon just after the task mail: the clocks never depend on today
T0 = datetime(2023, 10, 9, 14, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A copy of the shipped rules that a test may edit."""
    target = tmp_path / "rules"
    shutil.copytree(REPO / "rules", target)
    return target


@pytest.fixture
def runtime(
    sqlite_url: str, imap_user: ImapUser, smtp_server: SmtpServer, rules_dir: Path
) -> Iterator[Runtime]:
    """The embedded default (SQLite, in-process broker) between Dovecot and aiosmtpd."""
    settings = load_settings(
        database_url=sqlite_url,
        source=imap_user.url(),
        source_password=imap_user.password,
        transport=smtp_server.url(),
        transport_password=PASSWORD,
        rules_dir=rules_dir,
        templates_dir=REPO / "templates",
    )
    rt = build_runtime(settings)
    yield rt
    rt.close()


def _rows(rt: Runtime) -> list[OutboxMail]:
    with rt.sessions() as s:
        return list(s.scalars(select(OutboxMail).order_by(OutboxMail.id)))


def test_421_delays_then_delivers_once(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    """A temporary refusal leaves the mail pending with a retry time; the sweep then sends it once."""
    imap_user.append(TASK)
    smtp_server.sink.fail_next(1, "421 4.3.2 Service busy, try later")
    run_once(runtime, open_source(runtime.settings), now=T0)
    [row] = _rows(runtime)
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error is not None and "421" in row.last_error
    assert row.next_attempt_at > T0
    assert smtp_server.sink.received == []

    assert sweep_once(runtime, T0) == []  # not due yet: nothing is hammered
    sweep_once(runtime, row.next_attempt_at + timedelta(seconds=1))
    [row] = _rows(runtime)
    assert row.status == "sent"
    assert len(smtp_server.sink.received) == 1
    sweep_once(runtime, row.next_attempt_at + timedelta(hours=1))
    assert len(smtp_server.sink.received) == 1


def test_550_fails_once_and_tells_the_administrators(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer
) -> None:
    """A permanent refusal fails the mail at once, visibly, and the administrators hear once."""
    imap_user.append(TASK)
    smtp_server.sink.refuse("liu.yang@example.com", "550 5.1.1 No such user")
    run_once(runtime, open_source(runtime.settings), now=T0)
    sweep_once(runtime, T0 + timedelta(days=2))
    rows = _rows(runtime)
    failed = [r for r in rows if r.kind == "receipt"]
    notices = [r for r in rows if r.kind == "delivery_failed_admin"]
    assert [r.status for r in failed] == ["failed"]
    assert failed[0].attempts == 1 and "550" in (failed[0].last_error or "")
    assert [(r.status, r.to_addrs) for r in notices] == [("sent", ["admin@example.com"])]
    assert [m.rcpt_tos for m in smtp_server.sink.received] == [("admin@example.com",)]
    body = smtp_server.sink.received[0].message.get_body(("plain",)).get_content()
    assert "liu.yang@example.com" in body and "550" in body


def test_broken_rule_edit_keeps_old_rules_and_mails_admins_once(
    runtime: Runtime, imap_user: ImapUser, smtp_server: SmtpServer, rules_dir: Path
) -> None:
    """An invalid edit never takes effect; one mail tells the administrators what is wrong."""
    live = live_rules(runtime)
    before = live.current.rulebook
    rules_file = rules_dir / "rules.yaml"
    rules_file.write_text(
        rules_file.read_text(encoding="utf-8").replace("reply: receipt", "reply: recipt", 1),
        encoding="utf-8",
    )
    ids = live.refresh(runtime.sessions)
    assert live.current.rulebook is before
    assert len(ids) == 1
    rules_file.write_text(rules_file.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert live.refresh(runtime.sessions) == []  # the same problem: no second mail
    sweep_once(runtime)  # the notice is written on the wall clock; nothing else is stored yet
    [notice] = smtp_server.sink.received
    assert notice.rcpt_tos == ("admin@example.com",)
    text = notice.message.get_body(("plain",)).get_content()
    assert "rules.yaml" in text and "recipt" in text

    imap_user.append(TASK)  # the old rules still answer with a receipt
    run_once(runtime, open_source(runtime.settings), now=T0)
    assert [m.message["Subject"][:4] for m in smtp_server.sink.received[1:]] == ["【回执】"]


def test_good_rule_edit_takes_effect(runtime: Runtime, rules_dir: Path) -> None:
    """A valid edit is picked up without a restart."""
    live = live_rules(runtime)
    rules_file = rules_dir / "rules.yaml"
    rules_file.write_text(
        rules_file.read_text(encoding="utf-8").replace("name: 行动项回执", "name: 行动项回执单", 1),
        encoding="utf-8",
    )
    assert live.refresh(runtime.sessions) == []
    assert "行动项回执单" in [r.name for r in live.current.rulebook.rules]


def test_a_refused_login_keeps_the_mail_for_a_retry(
    sqlite_url: str, imap_user: ImapUser, smtp_server: SmtpServer, rules_dir: Path
) -> None:
    """A wrong SMTP password is a setting to mend, not a mail to fail: the mail stays pending
    with a configuration error and a retry time, and nothing reaches the server."""
    settings = load_settings(
        database_url=sqlite_url,
        source=imap_user.url(),
        source_password=imap_user.password,
        transport=smtp_server.url(),
        transport_password="wrong-pw",
        rules_dir=rules_dir,
        templates_dir=REPO / "templates",
    )
    rt = build_runtime(settings)
    try:
        imap_user.append(TASK)
        run_once(rt, open_source(rt.settings), now=T0)
        [row] = _rows(rt)
        assert (row.status, row.attempts) == ("pending", 1)
        assert (row.last_error or "").startswith("configuration:")
        assert row.next_attempt_at > T0
        assert smtp_server.sink.received == []
    finally:
        rt.close()
