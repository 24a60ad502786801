"""Full-text search (revision 0011) on SQLite's FTS5 trigram table and PostgreSQL's pg_trgm
index: Chinese and English substrings, short terms, rows written in bulk, kept in step."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import psycopg
import pytest
from sqlalchemy import Table, delete, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import ConfigurationError
from mailflow.store import migrate
from mailflow.store.db import insert_rows, make_engine, make_session_factory, writing
from mailflow.store.messages import MessageBatch, NewMessage
from mailflow.store.models import Message, Thread
from mailflow.store.search import (
    first_subjects,
    matching_messages,
    search_statement,
    search_terms,
)
from tests.servers.databases import POSTGRES_ADMIN_URL, _libpq, fresh_postgres

CST = timezone(timedelta(hours=8))
MAILS = {  # pk: (subject, new text, quoted history kept in body_text only)
    1: (
        "【会议纪要】技术部-Q4产品迭代进度同步",
        "请各位确认合同审批流程，张三负责。",
        "原始邮件 预算",
    ),
    2: ("Re: 【会议纪要】技术部-Q4产品迭代进度同步", "已阅。Contract review is fine.", "合同审批"),
    3: ("【客户投诉】售后部-发货延迟", "客户要求50%_退款\\说明", "以下为引用"),
    4: ("Weekly report", 'Budget "draft" attached', ""),
}


def _row(pk: int, subject: str, new_text: str, quoted: str, thread: int | None) -> dict[str, Any]:
    row: dict[str, Any] = {c.key: None for c in cast(Table, Message.__table__).columns}
    row.update(
        id=pk, message_id=f"<{pk}@example.com>", status="stored", source="s", folder="INBOX",
        source_key=str(pk), received_at=datetime(2023, 10, 8, 9, tzinfo=CST) + timedelta(minutes=pk),
        date=datetime(2023, 10, 8, 10, tzinfo=CST) + timedelta(minutes=pk), automated=False, conforms=True,
        subject=subject, body_text=f"{new_text}\n\n{quoted}", thread_id=thread,
        parsed={"new_text": new_text, "subject": {"raw": subject}},
    )  # fmt: skip
    return row


def add_thread(session: Session) -> None:
    """Store thread 1, which the mails of these tests are in."""
    at = datetime(2023, 10, 8, tzinfo=CST)
    insert_rows(session, cast(Table, Thread.__table__), [
        {"id": 1, "subject_key": "k", "started_at": at, "last_message_at": at, "closed_at": None},
    ])  # fmt: skip


def fill(sessions: sessionmaker[Session], thread: int | None = 1) -> None:
    """Store the four mails in bulk, as ingest does, the first three in one thread."""
    with writing(sessions) as s:
        add_thread(s)
        rows = [_row(pk, *mail, thread if pk < 4 else None) for pk, mail in MAILS.items()]
        insert_rows(s, cast(Table, Message.__table__), rows)


def found(sessions: sessionmaker[Session], query: str) -> list[int]:
    """The message keys a query finds, newest first."""
    with sessions() as s:
        return [f.message_pk for f in matching_messages(s, search_terms(query), limit=50)]


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated database of each backend holding the four mails."""
    engine = make_engine(database_url)
    try:
        made = make_session_factory(engine)
        fill(made)
        yield made
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("合同审批", [1]),  # in new text; message 2 has it only in the quoted history
        ("合同", [1]),  # two characters: below a trigram
        ("张", [1]),
        ("合同 张三", [1]),  # every term must occur
        ("合同 已阅", []),
        ("技术部", [2, 1]),  # subjects, newest first
        ("contract", [2]),  # letter case aside
        ("REVIEW is", [2]),
        ("50%_", [3]),  # LIKE's wildcards are plain characters
        ("%", [3]),
        ("_退", [3]),
        ("款\\说", [3]),
        ('"draft"', []),  # message 4 is in no thread: nothing to show it in
        ("预算", []),
        ("客户投诉 延迟", [3]),
        ("不存在的词", []),
    ],
)
def test_terms_find_subjects_and_new_text(
    sessions: sessionmaker[Session], query: str, expected: list[int]
) -> None:
    """Chinese and English terms of any length find subject or new text as substrings."""
    assert found(sessions, query) == expected


def test_found_messages_carry_what_a_result_shows(sessions: sessionmaker[Session]) -> None:
    """A hit carries its thread, Message-ID, subject, new text and date; the thread's subject
    is its first message's."""
    with sessions() as s:
        [hit] = matching_messages(s, ["Contract"], limit=5)
        assert (hit.message_id, hit.thread_id) == ("<2@example.com>", 1)
        assert hit.new_text.startswith("已阅") and hit.subject.startswith("Re:")
        assert hit.written_at == datetime(2023, 10, 8, 10, 2, tzinfo=CST)
        assert first_subjects(s, [1]) == {1: MAILS[1][0]}
        assert [f.message_pk for f in matching_messages(s, ["技术部"], limit=1, offset=1)] == [1]


def test_the_index_follows_changes_and_deletions(sessions: sessionmaker[Session]) -> None:
    """A message whose parsed text or subject changes is found by the new words only; a
    deleted one is found no more."""
    with writing(sessions) as s:
        s.execute(
            update(Message)
            .where(Message.id == 1)
            .values(parsed={"new_text": "改为采购订单"}, subject="【通知】采购")
        )
    assert found(sessions, "合同审批") == []
    assert found(sessions, "采购订单") == [1]
    with writing(sessions) as s:
        s.execute(delete(Message).where(Message.id == 1))
    assert found(sessions, "采购") == []


def test_mail_stored_by_ingest_is_indexed_once_from_its_parsed_text(database_url: str) -> None:
    """Ingest's ``MessageBatch`` writes the search rows itself on SQLite (revision 0015): one
    per message, quarantined mail included, so the insert trigger adds none; a message
    inserted another way afterwards is still indexed, by the trigger."""
    engine = make_engine(database_url)
    try:
        sessions = make_session_factory(engine)
        with writing(sessions) as s:
            add_thread(s)
        batch = [_row(pk, "【通知】采购部-订单", f"第{pk}批采购订单已下", "", 1) for pk in (5, 6)]
        quarantined = {**_row(7, "", "", "", None), "status": "quarantined", "subject": None,
                       "parsed": None, "reason": "unreadable"}  # fmt: skip
        with writing(sessions) as s:
            stored = MessageBatch(s, [NewMessage(_unkeyed(r), b"raw", "0" * 64)
                                      for r in (*batch, quarantined)])  # fmt: skip
            stored.insert([(stored.stored[r["message_id"]].id, 1, "k") for r in batch])
        with writing(sessions) as s:
            insert_rows(s, cast(Table, Message.__table__), [_row(80, "采购订单追加", "", "", 1)])
            keys = _keys(s)
            if s.get_bind().dialect.name == "sqlite":
                indexed = s.execute(text("SELECT rowid, subject, new_text FROM message_search"))
                rows = {pk: (subject, new_text) for pk, subject, new_text in indexed}
                # one row each: no message indexed twice, none left out
                assert sorted(rows) == sorted(keys.values())
                assert rows[keys[7]] == ("", "")
                assert rows[keys[5]] == ("【通知】采购部-订单", "第5批采购订单已下")
        assert found(sessions, "采购订单") == sorted([keys[80], keys[6], keys[5]], reverse=True)
    finally:
        engine.dispose()


def _unkeyed(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` as ingest hands it to ``MessageBatch``: no key, no thread yet."""
    return {k: v for k, v in row.items() if k not in ("id", "thread_id")}


def _keys(session: Session) -> dict[int, int]:
    """The stored keys by the number in each Message-ID."""
    stored = session.execute(select(Message.id, Message.message_id))
    return {int(message_id[1:].split("@")[0]): pk for pk, message_id in stored}


def test_messages_stored_before_0011_are_indexed_by_the_upgrade(empty_database_url: str) -> None:
    """Upgrading a database that holds mail fills the index for the mail already there."""
    migrate.upgrade(empty_database_url, "0010")
    engine = make_engine(empty_database_url)
    try:
        fill(make_session_factory(engine))
        migrate.upgrade(empty_database_url)
        assert found(make_session_factory(engine), "合同审批") == [1]
        migrate.downgrade(empty_database_url, "0010")
        migrate.upgrade(empty_database_url)
        assert found(make_session_factory(engine), "合同") == [1]
    finally:
        engine.dispose()


def test_postgresql_answers_from_the_trigram_index() -> None:
    """A term of three characters or more is answered by the pg_trgm GIN index."""
    with fresh_postgres() as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            sessions = make_session_factory(engine)
            fill(sessions)
            with writing(sessions) as s:  # enough other mail in the thread to make it choose
                others = [_row(pk, "周报", f"第{pk}周进展", "", 1) for pk in range(10, 2010)]
                insert_rows(s, cast(Table, Message.__table__), others)
            with sessions() as s:
                # what autovacuum does: bulk inserts wait in the GIN index's pending list
                s.execute(text("SELECT gin_clean_pending_list('ix_message_search_trgm')"))
                s.execute(text("ANALYZE messages"))
                s.execute(text("SET enable_seqscan = off"))
                query = search_statement("postgresql", ["合同审批"])
                compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
                explain = str(compiled).replace("%%", "%")
                plan = "\n".join(r[0] for r in s.execute(text(f"EXPLAIN {explain}")))
            assert "ix_message_search_trgm" in plan, plan
        finally:
            engine.dispose()


@contextmanager
def postgres_with_ctype(ctype: str) -> Iterator[str]:
    """A new PostgreSQL database whose LC_CTYPE is ``ctype``."""
    name = f"mailflow_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"
            f" LC_COLLATE '{ctype}' LC_CTYPE '{ctype}'"
        )
        try:
            yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize(("ctype", "indexed"), [("C.UTF-8", True), ("C", False)])
def test_chinese_trigrams_depend_on_the_database_ctype(ctype: str, indexed: bool) -> None:
    """Under C.UTF-8 pg_trgm indexes Chinese characters; under C it drops them (see
    docs/search.md), and search is still right there, by checking every row."""
    with postgres_with_ctype(ctype) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            sessions = make_session_factory(engine)
            with sessions() as s:
                trigrams = s.scalar(text("SELECT show_trgm('合同审批')"))
            assert bool(trigrams) is indexed
            fill(sessions)
            assert found(sessions, "合同审批") == [1]
            assert found(sessions, "技术部 Contract") == [2]
        finally:
            engine.dispose()


def test_a_role_that_may_not_create_pg_trgm_is_told_what_to_ask_for() -> None:
    """Without the right to create the extension, the upgrade stops with the statement a
    superuser must run, and the database stays at 0010."""
    role = f"mailflow_app_{uuid.uuid4().hex[:8]}"
    with fresh_postgres() as url, psycopg.connect(_libpq(url), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
        app_url = make_url(url).set(username=role).render_as_string(False)
        try:
            migrate.upgrade(app_url, "0010")
            with pytest.raises(ConfigurationError, match="CREATE EXTENSION pg_trgm"):
                migrate.upgrade(app_url)
            engine = make_engine(app_url)
            try:
                assert migrate.current_revision(engine) == "0010"
            finally:
                engine.dispose()
            admin.execute("CREATE EXTENSION pg_trgm")  # what the DBA runs
            migrate.upgrade(app_url)
        finally:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")
