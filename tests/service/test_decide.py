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
from mailflow.rulebook.duration import parse_duration
from mailflow.rulebook.limits import Cap, Limits
from mailflow.rulebook.loader import Rulebook
from mailflow.rulebook.parse_settings import parse_context
from mailflow.service import understand
from mailflow.service.runtime import load_rules
from mailflow.settings import load_settings
from mailflow.store import outbox
from mailflow.store.db import make_engine, make_session_factory, writing
from mailflow.store.messages import add_message
from mailflow.store.models import ActionItemRecord, Message, OutboxMail

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
        return understand.understand(s, [(m, parsed)], CTX, rulebook, now)


def _rows(sessions: sessionmaker[Session]) -> list[OutboxMail]:
    with sessions() as s:
        return list(s.scalars(select(OutboxMail).order_by(OutboxMail.id)))


def test_deciding_twice_writes_each_mail_once(sessions) -> None:  # type: ignore[no-untyped-def]
    """The idempotency key keeps the rows of a second decision about the same mail out."""
    raw = TASK_MAIL.read_bytes()
    first = _store_and_decide(sessions, raw, datetime.now(UTC))
    assert first
    rows = _rows(sessions)
    assert [r.id for r in rows] == first
    with writing(sessions) as s:
        assert outbox.add_all_new(s, [outbox.row_values(r) for r in rows]) == []
    assert [r.id for r in _rows(sessions)] == first
    assert len({r.message_id for r in rows}) == len(rows)  # each its own fixed Message-ID


def test_replies_carry_the_thread(sessions) -> None:  # type: ignore[no-untyped-def]
    """Every planned reply answers the mail: In-Reply-To it, References ending with it."""
    raw = TASK_MAIL.read_bytes()
    parsed = parse_message(raw, CTX)
    _store_and_decide(sessions, raw, datetime.now(UTC))
    rows = _rows(sessions)
    assert rows, "the task mail is answered"
    for row in rows:
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


def _warehouse_mail(n: int, subject: str, in_reply_to: str = "") -> bytes:
    """Return a warehouse hand-over mail with two tasks, as its own thread or as a reply."""
    head = [
        "From: 马丽 <ma.li@example.com>",
        "To: 王五 <wang.wu@example.com>, 吴敏 <wu.min@example.com>",
        "Cc: coord@example.com",
        f"Subject: {subject}",
        "Date: Tue, 07 Apr 2026 10:20:00 +0800",
        f"Message-ID: <wh{n}@example.com>",
    ]
    if in_reply_to:
        head += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    body = (
        "王五、吴敏：\n\n月底盘点前请完成以下两项：\n"
        "1. 任务：清点备件库二号货架；责任人：王五；完成时限：2026-04-24；交付标准：盘点清单\n"
        "2. 任务：退回过期样品；责任人：吴敏；完成时限：2026-04-28；交付标准：退货签收单\n\n马丽\n"
    )
    return "\r\n".join([*head, "Content-Type: text/plain; charset=utf-8", "", body]).encode()


def test_items_are_kept_only_when_a_rule_tracks_them(sessions) -> None:  # type: ignore[no-untyped-def]
    """A new task mail matches a rule with track_action_items and its items are kept; the same
    tasks in a reply match no such rule, and nothing is kept (rules/README.md)."""
    now = datetime.now(UTC)
    _store_and_decide(sessions, _warehouse_mail(1, "【任务分配】采购部-月底盘点准备"), now)
    reply = _warehouse_mail(2, "回复：【任务分配】采购部-月底盘点准备", "<wh1@example.com>")
    _store_and_decide(sessions, reply, now)
    with sessions() as s:
        kept = s.execute(
            select(Message.message_id, ActionItemRecord.owner_email).join(
                ActionItemRecord, ActionItemRecord.message_pk == Message.id
            )
        ).all()
    assert sorted(kept) == [
        ("<wh1@example.com>", "wang.wu@example.com"),
        ("<wh1@example.com>", "wu.min@example.com"),
    ]
