"""The limits hold in the database: inside one ingest batch, and across two processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from mailflow.rulebook.parse_settings import parse_context
from mailflow.service.ingest import ingest
from mailflow.service.outmail import outbox_row
from mailflow.service.runtime import load_rules
from mailflow.settings import load_settings
from mailflow.sources.maildir import MaildirSource
from mailflow.store import outbox
from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.models import OutboxMail
from tests.scenario_mail import scenario_mail
from tests.servers.databases import migrated_database

REPO = Path(__file__).resolve().parents[2]
SETTINGS = load_settings(rules_dir=REPO / "rules", templates_dir=REPO / "templates")
RULEBOOK, _ = load_rules(SETTINGS)
CTX = parse_context(RULEBOOK.organization, SETTINGS)
VICTIM = "zongjian@ruida-jixie.com"  # 瑞达机械's director, copied by every clerk
CAP = RULEBOOK.limits.per_recipient.count


def _minutes(n: int) -> bytes:
    """Minutes from one of 瑞达机械's clerks to 采购部, copying their director."""
    return scenario_mail(
        "ruida",
        n,
        f"职员{n} <clerk{n}@ruida-jixie.com>",
        f"马丽 <ma.li@example.com>, 总监 <{VICTIM}>",
        f"【会议纪要】采购部-数控机床备件交期第{n}次沟通",
        f"马经理好：\n今天沟通了第{n}批备件的交期，纪要如下，请确认。\n",
        "2024-03-12 10:00",
    )


def _maildir(folder: Path, raws: list[bytes]) -> MaildirSource:
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for n, raw in enumerate(raws):
        (folder / "new" / f"{1_710_000_000 + n}.M{n}.test").write_bytes(raw)
    return MaildirSource(folder)


def _to_victim(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        rows = s.scalars(select(OutboxMail)).all()
        return sum(VICTIM in (*r.to_addrs, *r.cc_addrs) for r in rows)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_thirty_clerks_copying_one_director_in_one_batch(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """30 clerks each copy their director in one mailbox pass: the director is copied CAP times."""
    source = _maildir(tmp_path / "box", [_minutes(n) for n in range(30)])
    ingest(source, sessions, CTX, rulebook=RULEBOOK)
    assert _to_victim(sessions) == CAP
    with sessions() as s:
        answered = s.scalar(select(func.count()).select_from(OutboxMail))
    assert answered == RULEBOOK.limits.per_external_domain.count


def _hold_eight_rows(session: Session, now: datetime) -> None:
    """What a first process decided and has not committed yet: 8 mails copying the director."""
    outbox.lock_for_limits(session)
    rows = [
        outbox_row(
            key=f"first-process-{n}",
            kind="minutes_received",
            rule="会议纪要确认",
            to=[f"clerk{100 + n}@ruida-jixie.com"],
            cc=[VICTIM],
            context={},
            domain="example.com",
            now=now,
            auto_submitted="auto-replied",
        )
        for n in range(8)
    ]
    outbox.add_all_new(session, [outbox.row_values(r) for r in rows])


def _wait_for_waiting_lock(sessions: sessionmaker[Session]) -> None:
    """Return once a transaction waits for the limits lock (polls pg_locks; 30 s at most)."""
    query = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with sessions() as s:
            if s.scalar(query):
                return
        time.sleep(0.02)
    raise AssertionError("the second process never waited for the limits lock")


def test_two_processes_never_both_pass_the_limit(tmp_path: Path) -> None:
    """On PostgreSQL, a second poller deciding while the first has not committed waits for it,
    then counts its rows: 8 + 8 mails copying one director become CAP, not 16."""
    with migrated_database("postgresql") as url:
        first_engine, second_engine = make_engine(url), make_engine(url)
        try:
            first = make_session_factory(first_engine)
            second = make_session_factory(second_engine)
            source = _maildir(tmp_path / "box", [_minutes(n) for n in range(8)])
            with first() as held, held.begin():
                _hold_eight_rows(held, datetime.now(UTC))
                poller = threading.Thread(
                    target=ingest, args=(source, second, CTX), kwargs={"rulebook": RULEBOOK}
                )
                poller.start()
                _wait_for_waiting_lock(first)
            poller.join(timeout=60)
            assert not poller.is_alive()
            assert _to_victim(first) == CAP
        finally:
            first_engine.dispose()
            second_engine.dispose()
