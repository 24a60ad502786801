"""A sweep reads only the rows whose clocks can be due (``clock_windows``): the same mails as
reading every open row, on the PRC calendar around the 2023 National Day holiday."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import literal, select
from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.calendar import BusinessCalendar
from mailflow.rulebook.duration import parse_duration
from mailflow.rulebook.parse_settings import parse_context
from mailflow.service.clock_mail import due_mail, sweep_clocks
from mailflow.service.clock_sweep import ClockSweep, Due
from mailflow.service.clock_windows import before, instants_due, reach
from mailflow.service.decide import due_after
from mailflow.service.outmail import key_of
from mailflow.service.runtime import load_rules
from mailflow.settings import load_settings
from mailflow.store import outbox
from mailflow.store.clock_queries import clock_key
from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.models import (
    ActionItemRecord,
    ConfirmationAnswer,
    ConfirmationRequest,
    Message,
    Thread,
)
from tests.scenario_mail import at

REPO = Path(__file__).resolve().parents[2]
SETTINGS = load_settings(rules_dir=REPO / "rules", templates_dir=REPO / "templates")
RULEBOOK, _ = load_rules(SETTINGS)
CTX = parse_context(RULEBOOK.organization, SETTINGS)
CALENDAR = BusinessCalendar.from_context(CTX)
TZ = CTX.timezone
PEOPLE = ["wang.wu", "zhang.san", "li.si", "chen.jing", "outsider"]


@pytest.mark.parametrize("text", ["1 business days", "3 business days", "16 business hours", "2d"])
@pytest.mark.parametrize("now", ["2023-09-28 17:00", "2023-10-07 09:30", "2023-10-09 08:00"])
def test_the_ranges_hold_every_instant_whose_moment_is_due(text: str, now: str) -> None:
    """Every instant, probed each 7 minutes and a few seconds, whose moment lies in the target
    lies in a range; and there are ranges only when there are such instants."""
    duration, moment_at = parse_duration(text), at(now)
    low = moment_at - timedelta(days=7)
    moments = [lambda x: due_after(x, duration, CALENDAR)]
    if not (duration.business and duration.unit == "hours"):  # no clock counts those back
        moments.append(lambda x: before(CALENDAR, x, duration, time(9)))
    for moment in moments:
        ranges = instants_due(moment, low, moment_at, reach(duration), TZ)
        x, end = moment_at - timedelta(days=30), moment_at + timedelta(days=30)
        inside = []
        while x < end:
            if low <= moment(x) <= moment_at:
                assert any(a <= x <= b for a, b in ranges), (x, ranges)
                inside.append(x)
            x += timedelta(minutes=7, seconds=3)
        assert bool(ranges) == bool(inside)


def test_the_sql_key_is_the_python_key(database_url: str) -> None:
    """The sweep leaves out rows whose mail is written by comparing keys computed in SQL."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            one = conn.scalar(select(clock_key("deadline-before", literal(123))))
            two = conn.scalar(
                select(clock_key("confirmation-reminder", literal(7), literal("王五@example.com")))
            )
    finally:
        engine.dispose()
    assert one == key_of("clock", "deadline-before", 123)
    assert two == key_of("clock", "confirmation-reminder", 7, "王五@example.com")


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _seed(session: Session, start: datetime) -> None:
    """Items and ledgers due at instants spread over a month around ``start``."""
    rng = random.Random(20231001)
    for n in range(60):
        when = start + timedelta(minutes=rng.randrange(-20 * 1440, 20 * 1440))
        sender = PEOPLE[n % 5]
        domain = "kehu.cn" if sender == "outsider" else "example.com"
        session.add(Thread(id=n + 1, subject_key=f"s{n}", started_at=when, last_message_at=when))
        session.flush()
        written = when - timedelta(days=rng.choice([1, 2, 5, 10]))
        message = Message(
            id=n + 1, message_id=f"<w{n}@example.com>", status="stored", source="t",
            folder="INBOX", source_key=str(n), received_at=written, date=written,
            subject=f"【任务分配】技术部-{n}", from_address=f"{sender}@{domain}", thread_id=n + 1,
        )  # fmt: skip
        session.add(message)
        session.flush()
        owner = PEOPLE[(n + 1) % 5]
        session.add(
            ActionItemRecord(
                message_pk=n + 1, thread_id=n + 1, position=1, task=f"任务{n}", owner="某人",
                owner_email=f"{owner}@{'kehu.cn' if owner == 'outsider' else 'example.com'}",
                deadline=when.date().isoformat(), due_at=when, missing=[], status="open",
                created_at=written,
            )
        )  # fmt: skip
        if n % 2:
            request = ConfirmationRequest(
                message_pk=n + 1, thread_id=n + 1, requested_at=written, due_at=when
            )
            request.answers = [
                ConfirmationAnswer(
                    address=f"{p}@example.com", name=p, role="to",
                    status="pending" if k < 2 else "objection",
                    answered_at=None if k < 2 else when - timedelta(hours=3),
                    answer_text=None if k < 2 else "不同意",
                )
                for k, p in enumerate(PEOPLE[(n % 3) : (n % 3) + 3])
            ]  # fmt: skip
            session.add(request)
    session.commit()


def _unwritten(session: Session, work: ClockSweep) -> list[Due]:
    due = list(due_mail(session, work))
    written = outbox.keys_present(session, (d.row.key for d in due))
    return [d for d in due if d.row.key not in written]


def test_a_windowed_sweep_writes_what_reading_every_row_would(
    sessions: sessionmaker[Session],
) -> None:
    """At instants 11 h 7 min apart over six weeks, the mails a sweep finds due and not written
    yet (reading only the windows) are those the full computation finds; the sweep writes
    them."""
    start = at("2023-09-20 09:00")
    with sessions() as session:
        _seed(session, start)
    now, seen = start - timedelta(days=21), 0
    while now < start + timedelta(days=21):
        with sessions() as session:
            full = _unwritten(session, ClockSweep(RULEBOOK, CTX, now))
            windowed = _unwritten(session, ClockSweep(RULEBOOK, CTX, now, windowed=True))
        assert sorted(d.row.key for d in windowed) == sorted(d.row.key for d in full), now
        swept = sweep_clocks(sessions, RULEBOOK, CTX, now)
        assert len([m for m in swept if m.kind != "weekly_digest"]) == len(windowed)
        seen += len(windowed)
        now += timedelta(hours=11, minutes=7)
    assert seen > 30  # reminders, notices, escalations and objections did fall due
