"""A batch understands its mails exactly as if each came in a transaction of its own.

``understand.Batch`` keeps the threads a batch touches in memory and writes what it adds once,
at the end; these tests hold it to the answers the database gives one mail at a time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from mailflow.service.ingest import ingest
from mailflow.sources.maildir import MaildirSource
from mailflow.store.db import IdPool, make_engine, make_session_factory, writing
from mailflow.store.models import Message, Thread
from tests.service.test_parsing import CTX, RULEBOOK, _thread_of_mail, ingest_into


@pytest.mark.parametrize("rules", [True, False], ids=["rules", "no-rules"])
def test_one_batch_stores_what_one_mail_at_a_time_stores(
    database_url: str, sqlite_url: str, tmp_path: Path, rules: bool
) -> None:
    """60 mails (minutes and their answers, some before the minutes, tasks closed by 已完成,
    complaints) give the same threads, items, ledger lines and outbox rows whether they come
    one per transaction (on SQLite) or all in one (on each database)."""
    box = _thread_of_mail(tmp_path / "box")
    seen = []
    for url, size in ((sqlite_url, 1), (database_url, 200)):
        report, stored = ingest_into(url, MaildirSource(box, batch_size=size), rules=rules)
        assert report.stored == 60
        assert report.batches == (60 if size == 1 else 1)
        assert len(report.outbox_ids) == len(set(report.outbox_ids))
        seen.append(stored)
    assert seen[0] == seen[1]
    # answers that came before their minutes were found when the ledger opened
    assert {status for *_, status in seen[0]["answers"]} >= {"ack", "objection"}
    assert {status for *_, status in seen[0]["items"]} == {"open", "done"}
    assert bool(seen[0]["outbox"]) is rules


def test_keys_handed_out_are_unused_and_distinct(database_url: str) -> None:
    """IdPool's keys never collide with stored rows nor with each other, and rows inserted
    with them are found under them."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    now = datetime.now(UTC)
    with writing(sessions) as s:
        s.add(Thread(subject_key="before", started_at=now, last_message_at=now))
    with writing(sessions) as s:
        pool = IdPool(s, Thread.__table__, hint=2)  # type: ignore[arg-type]
        ids = [pool.take() for _ in range(5)]  # more than the hint: the pool refills
        s.add_all(
            Thread(id=i, subject_key=f"k{i}", started_at=now, last_message_at=now) for i in ids
        )
    with writing(sessions) as s:
        s.add(Thread(subject_key="after", started_at=now, last_message_at=now))
    with sessions() as s:
        stored = {i: k for i, k in s.execute(select(Thread.id, Thread.subject_key))}
        assert s.scalar(select(func.count()).select_from(Thread)) == 7
    assert len(set(ids)) == 5
    assert all(stored[i] == f"k{i}" for i in ids)
    engine.dispose()


def test_each_message_row_is_written_once(database_url: str, tmp_path: Path) -> None:
    """Ingest threads a batch before it inserts it: every message goes in with its thread and
    subject key, and no UPDATE writes the rows (with each of their indexes) a second time."""
    box = _thread_of_mail(tmp_path / "box")
    engine = make_engine(database_url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        sessions = make_session_factory(engine)
        report = ingest(MaildirSource(box, batch_size=25), sessions, CTX, rulebook=RULEBOOK)
        assert (report.stored, report.batches) == (60, 3)
        with sessions() as s:
            rows = s.execute(select(Message.thread_id, Message.subject_key)).all()
        assert len(rows) == 60 and all(t is not None and k for t, k in rows)
    finally:
        engine.dispose()
    written = [" ".join(s.split()[:2]).upper() for s in statements]
    assert "UPDATE MESSAGES" not in written
    assert any(w.startswith("UPDATE") for w in written)  # the listener saw the batch's writes
