"""Thread history for a batch is read by indexes that start with the thread, so its cost
follows the batch and not the length of the threads stored; the bounded ledger lookup answers
what the window over every request of a thread answered."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Connection, Table, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from mailflow.store import threads, tracking
from mailflow.store.db import insert_rows, make_engine, make_session_factory, writing
from mailflow.store.models import (
    ConfirmationAnswer,
    ConfirmationRequest,
    Message,
    Thread,
)
from mailflow.tracking.model import Wanted

T0 = datetime(2026, 4, 13, 1, 30, tzinfo=UTC)
PEOPLE = [f"p{i}@hengtai-pharma.cn" for i in range(6)]


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _message(pk: int, thread_id: int) -> dict[str, Any]:
    row: dict[str, Any] = {c.key: None for c in _table(Message).columns}
    row.update(id=pk, message_id=f"<{pk}@hengtai-pharma.cn>", status="stored", source="s",
               folder="INBOX", source_key=str(pk), received_at=T0, automated=False,
               conforms=True, thread_id=thread_id)  # fmt: skip
    return row


def _ledgers(sessions: sessionmaker[Session], seed: int) -> list[int]:
    """Store threads of requests at few distinct times (so that some tie), each asking some
    people; return the requests' message pks."""
    rng = random.Random(seed)
    thread_ids = range(1, 6)
    requests = [(pk, rng.choice(thread_ids)) for pk in range(1, 61)]
    with writing(sessions) as s:
        insert_rows(s, _table(Thread), [
            {"id": t, "subject_key": f"k{t}", "started_at": T0, "last_message_at": T0,
             "closed_at": None}
            for t in thread_ids
        ])  # fmt: skip
        insert_rows(s, _table(Message), [_message(pk, t) for pk, t in requests])
        insert_rows(s, _table(ConfirmationRequest), [
            {"id": 100 + pk, "message_pk": pk, "thread_id": t, "due_at": None,
             "requested_at": T0 + timedelta(hours=rng.randrange(8))}
            for pk, t in requests
        ])  # fmt: skip
        insert_rows(s, _table(ConfirmationAnswer), [
            {"request_id": 100 + pk, "address": a, "name": a, "role": "to", "status": "pending",
             "answered_at": None, "answer_message_pk": None, "answer_text": None}
            for pk, _ in requests
            for a in rng.sample(PEOPLE[:-1], rng.randrange(1, 4))  # the last is never asked
        ])  # fmt: skip
    return [pk for pk, _ in requests]


def _window_lines(
    session: Session, thread_ids: list[int], addresses: list[str], replied: list[int]
) -> list[int]:
    """The lookup as it was before 0013: rank every line of the threads for the addresses."""
    newest_first = func.row_number().over(
        partition_by=(ConfirmationRequest.thread_id, ConfirmationAnswer.address),
        order_by=(ConfirmationRequest.requested_at.desc(), ConfirmationRequest.id.desc()),
    )
    ranked = (
        select(ConfirmationAnswer.id, ConfirmationRequest.message_pk, newest_first.label("n"))
        .join(ConfirmationRequest)
        .where(
            ConfirmationRequest.thread_id.in_(thread_ids),
            ConfirmationAnswer.address.in_(addresses),
        )
        .subquery()
    )
    query = select(ranked.c.id).where((ranked.c.n == 1) | ranked.c.message_pk.in_(replied or [-1]))
    return sorted(session.scalars(query))


@pytest.mark.parametrize("seed", range(4))
def test_newest_lines_equal_the_window_over_whole_threads(
    sessions: sessionmaker[Session], seed: int
) -> None:
    """For every thread and address, the lines found reading back from the newest request are
    those the window over all the threads' lines ranked first, replied requests' lines too."""
    request_pks = _ledgers(sessions, seed)
    rng = random.Random(seed)
    thread_ids, people = [1, 2, 4, 5], PEOPLE[1:]
    replied = rng.sample(request_pks, 3)
    pairs = [(t, a) for t in thread_ids for a in people]
    with sessions() as s:
        for asked in ([], replied):
            found = threads.answerable_lines(s, pairs, asked)
            assert [line.id for line, *_ in found] == _window_lines(s, thread_ids, people, asked)
            for line, tid, pk, at in found:
                request = s.get(ConfirmationRequest, line.request_id)
                assert request is not None
                assert (tid, pk, at) == (
                    request.thread_id,
                    request.message_pk,
                    request.requested_at,
                )


def _plans(connection: Connection, statements: list[tuple[str, Any]]) -> list[str]:
    return [
        " ".join(row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
        for sql, params in statements
    ]


def test_history_reads_threads_by_their_indexes(sqlite_url: str) -> None:
    """On SQLite every history lookup seeks an index that starts with the thread, then the
    time, the status or the address; none reads a whole table, nor every headerless mail."""
    engine = make_engine(sqlite_url)
    statements: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def catch(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        statements.append((sql, params))

    wanted = Wanted(since=T0, said_threads=(1, 2), item_threads=(1, 2), item_owners=(PEOPLE[0],),
                    line_pairs=((1, PEOPLE[0]), (2, PEOPLE[1])), replied=(7,))  # fmt: skip
    with make_session_factory(engine)() as s:
        tracking.history(s, wanted)
        event.remove(engine, "before_cursor_execute", catch)
        queries = [(sql, p) for sql, p in statements if sql.startswith(("SELECT", "WITH"))]
        said, lines, replied, items = _plans(s.connection(), queries)
    engine.dispose()
    assert (
        "ix_messages_thread_id_in_reply_to_written_at (thread_id=? AND in_reply_to=? AND <expr>>?)"
        in said
    )
    assert "ix_confirmation_requests_thread_id_requested_at (thread_id=?)" in lines
    assert "sqlite_autoindex_confirmation_requests_1 (message_pk=?)" in replied
    assert (
        "ix_action_items_thread_id_status_owner_email (thread_id=? AND status=? AND owner_email=?)"
        in items
    )
    for plan in (said, lines, replied, items):
        for table in ("messages", "confirmation_requests", "confirmation_answers", "action_items"):
            assert f"SCAN {table}" not in plan


def test_the_ledger_lookup_is_compiled_once_whatever_the_pairs(database_url: str) -> None:
    """The pairs are bound parameters: a batch with other pairs, more of them, runs the
    statement compiled for the first (as ``VALUES`` rows, each batch compiled its own)."""
    engine = make_engine(database_url)
    cached: list[bool] = []

    @event.listens_for(engine, "after_cursor_execute")
    def note(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        if "confirmation_answers" in sql:
            cached.append(context.cache_hit == context.dialect.CACHE_HIT)

    with make_session_factory(engine)() as s:
        threads.answerable_lines(s, [(1, PEOPLE[0])], [])
        threads.answerable_lines(s, [(2, PEOPLE[1]), (3, PEOPLE[2]), (1, PEOPLE[3])], [])
    engine.dispose()
    assert cached == [False, True]


def test_threads_by_subject_are_read_from_the_window_on(sqlite_url: str) -> None:
    """Threading by subject seeks a subject's threads active since the window's start, not
    every thread a recurring subject ever had."""
    engine = make_engine(sqlite_url)
    statements: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def catch(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        statements.append((sql, params))

    with make_session_factory(engine)() as s:
        threads.thread_states(s, [], ["周报"], T0)
        event.remove(engine, "before_cursor_execute", catch)
        queries = [(sql, p) for sql, p in statements if sql.startswith("SELECT")]
        [plan] = _plans(s.connection(), queries)
    engine.dispose()
    assert "ix_threads_subject_key_last_message_at (subject_key=? AND last_message_at>?)" in plan
