"""The writers keep PostgreSQL's statistics up with the tables they fill (``store.planner``).

The plan test reproduces what a long-running poller met: a statement prepared while
``messages`` was empty keeps its generic plan, a sequential scan, after the table has grown,
until the table is analysed. The database here has autovacuum switched off, as this machine's
PostgreSQL has, so nothing else analyses it meanwhile.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, cast

import pytest
from sqlalchemy import Connection, Table, event, text
from sqlalchemy.orm import Session, sessionmaker

from mailflow.store.db import insert_rows, make_engine, make_session_factory, writing
from mailflow.store.models import Message
from mailflow.store.planner import PlannerStatistics, stale_tables
from tests.servers.databases import migrated_database
from tests.store.test_bulk import _message


@pytest.fixture
def sessions(request: pytest.FixtureRequest) -> Iterator[sessionmaker[Session]]:
    with migrated_database(request.param) as url:
        engine = make_engine(url)
        if engine.dialect.name == "postgresql":
            with engine.begin() as c:
                c.execute(text("ALTER TABLE messages SET (autovacuum_enabled = false)"))
        try:
            yield make_session_factory(engine)
        finally:
            engine.dispose()


def _body(pk: int) -> str:
    """About 1.6 KB of text that does not compress: a stored mail's share of the table."""
    return "".join(hashlib.sha256(f"{pk}/{i}".encode()).hexdigest() for i in range(25))


def _store(sessions: sessionmaker[Session], first: int, count: int) -> None:
    """Insert ``count`` messages, keys from ``first``; their counts reach the statistics
    collector when the transaction ends."""
    with writing(sessions) as session:
        insert_rows(
            session,
            cast(Table, Message.__table__),
            [_message(pk, body_text=_body(pk)) for pk in range(first, first + count)],
        )
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_stat_force_next_flush()"))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


BATCH = 200  # an ingest batch's Message-IDs, looked up with one IN list
_ARGUMENTS = ", ".join(f"'<{i}@example.com>'" for i in range(BATCH))


def _plan(connection: Connection) -> str:
    rows = connection.execute(text(f"EXPLAIN EXECUTE by_id({_ARGUMENTS})"))
    return "\n".join(str(r[0]) for r in rows)


@pytest.mark.parametrize("sessions", ["postgresql"], indirect=True)
def test_a_plan_made_on_an_empty_table_is_replaced_once_the_table_has_grown(
    sessions: sessionmaker[Session],
) -> None:
    engine = sessions.kw["bind"]
    with engine.connect() as held:  # the poller's long-lived connection
        types = ", ".join(["text"] * BATCH)
        places = ", ".join(f"${i + 1}" for i in range(BATCH))
        held.execute(
            text(
                f"PREPARE by_id({types}) AS SELECT id FROM messages WHERE message_id IN ({places})"
            )
        )
        for _ in range(6):  # the sixth run uses the generic plan, made on the empty table
            held.execute(text(f"EXECUTE by_id({_ARGUMENTS})")).all()
        _store(sessions, 1, 5000)
        held.commit()
        assert "Seq Scan" in _plan(held)  # the stale plan: what the poller kept before

        analysed = PlannerStatistics(sessions).refresh()

        assert "messages" in analysed
        held.commit()  # the poller's next batch is a new transaction, which sees the ANALYZE
        plan = _plan(held)
        assert "Seq Scan" not in plan and "uq_messages_message_id" in plan, plan


@pytest.mark.parametrize("sessions", ["postgresql"], indirect=True)
def test_a_table_is_analysed_once_it_changed_by_its_own_size(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    planner = PlannerStatistics(sessions, interval_s=5.0, clock=clock)
    _store(sessions, 1, 400)  # under the 500 rows even an empty table waits for
    assert planner.refresh() == []
    _store(sessions, 401, 600)
    clock.now += 5
    assert planner.refresh() == ["messages"]

    _store(sessions, 1001, 1200)  # 1,200 changes: under 500 + the 1,000 rows analysed
    clock.now += 5
    assert planner.refresh() == []

    _store(sessions, 2201, 400)  # 1,600 since the ANALYZE
    assert planner.refresh() == []  # the interval has not passed since the last check
    clock.now += 5
    assert planner.refresh() == ["messages"]
    with sessions() as session:
        assert stale_tables(session) == []


@pytest.mark.parametrize("sessions", ["sqlite"], indirect=True)
def test_sqlite_is_left_alone(sessions: sessionmaker[Session]) -> None:
    _store(sessions, 1, 1000)
    statements: list[Any] = []
    engine = sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert PlannerStatistics(sessions).refresh() == []
    assert statements == []
