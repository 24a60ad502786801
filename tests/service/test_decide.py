"""Deciding writes each planned mail once, threads it, and caps mail to one person."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.message import parse_message
from mailflow.rulebook.context import parse_context
from mailflow.rulebook.duration import parse_duration
from mailflow.rulebook.limits import Cap, Limits
from mailflow.rulebook.loader import Rulebook
from mailflow.service import decide, understand
from mailflow.service.runtime import load_rules
from mailflow.settings import load_settings
from mailflow.store.db import make_engine, make_session_factory, writing
from mailflow.store.messages import add_message
from mailflow.store.models import Message, OutboxMail

REPO = Path(__file__).resolve().parents[2]
TASK_MAIL = REPO / "examples" / "inbox" / "new" / "1696832439.M5017P4105.example"
SETTINGS = load_settings(rules_dir=REPO / "rules", templates_dir=REPO / "templates")
RULEBOOK, _ = load_rules(SETTINGS)
CTX = parse_context(RULEBOOK.organization, SETTINGS)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _store_and_decide(
    sessions: sessionmaker[Session], raw: bytes, now: datetime, rulebook: Rulebook = RULEBOOK
) -> list[int]:
    parsed = parse_message(raw, CTX)
    with writing(sessions) as s:
        m = s.scalar(select(Message).where(Message.message_id == parsed.message_id))
        if m is None:
            m = Message(
                message_id=parsed.message_id,
                status="stored",
                source="t",
                folder="INBOX",
                source_key=parsed.message_id,
                received_at=now,
                date=parsed.date,
                subject=parsed.subject.raw,
                from_address=parsed.from_.address if parsed.from_ else None,
                automated=False,
                conforms=parsed.subject.conforms,
            )
            add_message(s, message=m, raw=raw, sha256="0" * 64)
            s.flush()
            understand.record(s, m, parsed, CTX, ledger=False)
        return decide.apply(s, m, parsed, rulebook, CTX, now).outbox_ids


def _rows(sessions: sessionmaker[Session]) -> list[OutboxMail]:
    with sessions() as s:
        return list(s.scalars(select(OutboxMail).order_by(OutboxMail.id)))


def test_deciding_twice_writes_each_mail_once(sessions) -> None:  # type: ignore[no-untyped-def]
    """The idempotency key keeps a second decision about the same mail from adding rows."""
    raw = TASK_MAIL.read_bytes()
    now = datetime.now(UTC)
    first = _store_and_decide(sessions, raw, now)
    second = _store_and_decide(sessions, raw, now + timedelta(minutes=5))
    assert first and second == []
    rows = _rows(sessions)
    assert [r.id for r in rows] == first
    assert len({r.message_id for r in rows}) == len(rows)  # each its own fixed Message-ID
    assert all(
        r.in_reply_to == "<000101d9fa6e$3c2d1e00$b4875a00$@example.com>" or r.in_reply_to
        for r in rows
    )


def test_replies_carry_the_thread(sessions) -> None:  # type: ignore[no-untyped-def]
    """Every planned reply answers the mail: In-Reply-To it, References ending with it."""
    raw = TASK_MAIL.read_bytes()
    parsed = parse_message(raw, CTX)
    _store_and_decide(sessions, raw, datetime.now(UTC))
    for row in _rows(sessions):
        assert row.in_reply_to == parsed.message_id
        assert row.references[-1] == parsed.message_id
        assert row.auto_submitted == "auto-replied"


def test_rate_limit_caps_mail_to_one_person(sessions) -> None:  # type: ignore[no-untyped-def]
    """Past the hourly cap, no further automatic mail reaches the same person, To or Cc."""
    raw = TASK_MAIL.read_bytes()
    now = datetime.now(UTC)
    # the burst brake would stop one sender's copies first: this test is about the recipient
    loose = replace(RULEBOOK, limits=Limits(burst=Cap(count=100, within=parse_duration("1m"))))
    cap = loose.limits.per_recipient.count
    written = 0
    for n in range(cap + 3):
        copy = raw.replace(b"Message-ID: <", f"Message-ID: <n{n}.".encode(), 1)
        ids = _store_and_decide(sessions, copy, now, loose)
        written += len(
            [
                r
                for r in _rows(sessions)
                if r.id in ids and "liu.yang@example.com" in (*r.to_addrs, *r.cc_addrs)
            ]
        )
    assert written == cap


def test_burst_brake_stops_one_correspondent(sessions) -> None:  # type: ignore[no-untyped-def]
    """One sender's mails in quick succession get answers up to the burst count, then none."""
    raw = TASK_MAIL.read_bytes()
    now = datetime.now(UTC)
    written = []
    for n in range(6):
        copy = raw.replace(b"Message-ID: <", f"Message-ID: <b{n}.".encode(), 1)
        written.append(len(_store_and_decide(sessions, copy, now + timedelta(seconds=15 * n))))
    assert sum(written) == RULEBOOK.limits.burst.count
    assert written[-3:] == [0, 0, 0]
    # eleven minutes later the window has passed: the sender is answered again
    later = raw.replace(b"Message-ID: <", b"Message-ID: <later.", 1)
    assert _store_and_decide(sessions, later, now + timedelta(minutes=11)) != []
