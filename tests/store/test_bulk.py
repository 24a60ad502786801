"""Rows written in bulk (COPY on PostgreSQL, executemany on SQLite) read back exactly as the
ORM would have written them, whatever the text, bytes, JSON and times hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session

from mailflow.store.db import (
    insert_objects,
    insert_rows,
    make_engine,
    make_session_factory,
    writing,
)
from mailflow.store.models import Message, RawMessage, Thread

TRICKY = "制表\t换行\n回车\r反斜杠\\ 引号\" '单' \\N 逗号, 【事由】"
CST = timezone(timedelta(hours=8))


def _message(pk: int, **values: Any) -> dict[str, Any]:
    row = {c.key: None for c in cast(Table, Message.__table__).columns}
    row.update(
        id=pk,
        message_id=f"<{pk}@example.com>",
        status="stored",
        source="s",
        folder="INBOX",
        source_key=str(pk),
        received_at=datetime(2023, 10, 8, 9, 30, tzinfo=CST),
        automated=False,
        conforms=True,
    )
    row.update(values)
    return row


def test_rows_read_back_as_written(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    parsed = {"subject": {"raw": TRICKY}, "items": [{"task": "提交\t报告", "n": 1.5}], "x": None}
    rows = [
        _message(1, subject=TRICKY, body_text=TRICKY * 3, parsed=parsed, automated=True),
        _message(2, subject=None, body_text="", parsed=None, date=datetime(2023, 1, 1, tzinfo=UTC)),
    ]
    content = bytes(range(256)) * 40  # every byte value, NUL and backslash included
    with writing(sessions) as s:
        insert_rows(s, cast(Table, Message.__table__), rows)
        insert_rows(
            s,
            cast(Table, RawMessage.__table__),
            [{"message_pk": 1, "sha256": "0" * 64, "size": len(content), "content": content}],
        )
        insert_rows(s, cast(Table, RawMessage.__table__), [])  # nothing to do, no error
    with sessions() as s:
        first, second = (s.get(Message, 1), s.get(Message, 2))
        assert first is not None and second is not None
        assert (first.subject, first.body_text, first.parsed) == (TRICKY, TRICKY * 3, parsed)
        assert first.automated is True and first.received_at == rows[0]["received_at"]
        assert first.date is None
        assert (second.subject, second.body_text, second.parsed) == (None, "", None)
        assert second.date == datetime(2023, 1, 1, tzinfo=UTC)
        assert s.scalar(select(RawMessage.content).where(RawMessage.message_pk == 1)) == content
    engine.dispose()


def test_objects_inserted_in_bulk_are_in_the_session(database_url: str) -> None:
    """A thread inserted by insert_objects is the session's own: a change to it is saved."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    now = datetime.now(UTC)
    with writing(sessions) as s:
        thread = Thread(id=7, subject_key=TRICKY, started_at=now, last_message_at=now)
        insert_objects(s, [thread])
        assert s.get(Thread, 7) is thread
        thread.last_message_at = now + timedelta(hours=1)
    with sessions() as s:
        stored = s.get(Thread, 7)
        assert stored is not None and stored.subject_key == TRICKY
        assert stored.last_message_at == now + timedelta(hours=1)
    engine.dispose()


def test_json_keeps_chinese_as_utf8_and_reads_older_escapes(database_url: str) -> None:
    """JSON columns hold Chinese as UTF-8 text, not ``\\u`` escapes (half the bytes), whether
    written in bulk or by the ORM; a value written with escapes before reads back the same."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    parsed = {"new_text": "请张三于10月15日前提交方案", "subject": {"raw": TRICKY}}
    with writing(sessions) as s:
        insert_rows(s, cast(Table, Message.__table__), [_message(1, parsed=parsed)])
        s.add(Message(**_message(2, parsed=parsed)))
    with writing(sessions) as s:  # as SQLAlchemy's default serializer wrote it before
        escaped = json.dumps(parsed)
        s.execute(text(f"UPDATE messages SET parsed = {_json_literal(s)} WHERE id = 2"),
                  {"value": escaped})  # fmt: skip
    with sessions() as s:
        rows = s.execute(text(f"SELECT id, {_as_text(s)} FROM messages"))
        stored = {pk: str(value) for pk, value in rows}
        assert "张三" in stored[1] and "\\u" not in stored[1]
        assert "\\u5f20" in stored[2]  # the older row keeps its escapes
        assert [m.parsed for m in s.scalars(select(Message).order_by(Message.id))] == [parsed] * 2
        assert (
            s.scalar(select(Message.parsed["new_text"].as_string()).where(Message.id == 1))
            == (parsed["new_text"])
        )
    engine.dispose()


def _json_literal(session: Session) -> str:
    return "CAST(:value AS JSON)" if session.get_bind().dialect.name == "postgresql" else ":value"


def _as_text(session: Session) -> str:
    return "parsed::text" if session.get_bind().dialect.name == "postgresql" else "parsed"
