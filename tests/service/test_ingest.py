"""Ingestion stores each mail once, quarantines what cannot be parsed, and honours leases."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailflow.errors import LeaseLost, MailboxBusy
from mailflow.mail.model import ParseContext
from mailflow.service.ingest import Lease, ingest
from mailflow.service.poll import poll_once, take_lease
from mailflow.settings import Limits
from mailflow.sources.maildir import MaildirSource
from mailflow.store import messages
from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.models import Message, RawMessage, SeenKey

MAIL = (
    "Message-ID: <{n}@example.com>\r\n"
    "From: =?UTF-8?B?5byg5LiJ?= <zhang.san@example.com>\r\n"
    "To: coord@example.com\r\n"
    "Date: Sun, 08 Oct 2023 10:00:00 +0800\r\n"
    "Subject: =?UTF-8?B?44CQ5Lya6K6u57qq6KaB44CR5oqA5pyv6YOoLVE05Lqn5ZOB6L+t5Luj?=\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "正文 {n}\r\n"
)


def _maildir(root: Path, count: int) -> Path:
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (root / "new" / f"{1000 + n}.M{n}.test").write_bytes(MAIL.format(n=n).encode())
    return root


@pytest.fixture
def sessions(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _count(sessions, model) -> int:  # type: ignore[no-untyped-def]
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)))


def test_stores_parsed_fields_and_raw_bytes(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A conforming mail is stored with its decoded subject, sender, convention and raw bytes."""
    box = _maildir(tmp_path, 1)
    report = ingest(MaildirSource(box), sessions, ParseContext(departments={"技术部": "技术部"}))
    assert (report.stored, report.quarantined, report.duplicates) == (1, 0, 0)
    with sessions() as s:
        m = s.scalars(select(Message)).one()
        assert m.message_id == "<0@example.com>"
        assert m.subject == "【会议纪要】技术部-Q4产品迭代"
        assert (m.from_name, m.from_address) == ("张三", "zhang.san@example.com")
        assert (m.subject_reason, m.department, m.topic, m.conforms) == (
            "会议纪要",
            "技术部",
            "Q4产品迭代",
            True,
        )
        assert m.date is not None and m.date.utcoffset() is not None
        assert messages.raw_bytes(s, "<0@example.com>") == MAIL.format(n=0).encode()


def test_second_pass_stores_nothing_twice(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Running ingest again over the same mailbox adds no rows (invariant 2)."""
    box = _maildir(tmp_path, 3)
    ingest(MaildirSource(box), sessions, ParseContext())
    again = ingest(MaildirSource(box), sessions, ParseContext())
    assert again.seen == 0
    assert _count(sessions, Message) == 3
    assert _count(sessions, SeenKey) == 3


def test_same_message_id_twice_is_stored_once(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A copy of a stored mail under another file name counts as a duplicate, not a new row."""
    box = _maildir(tmp_path, 1)
    shutil.copy(box / "new" / "1000.M0.test", box / "new" / "2000.Mcopy.test")
    report = ingest(MaildirSource(box), sessions, ParseContext())
    assert (report.stored, report.duplicates) == (1, 1)
    assert _count(sessions, Message) == 1


def test_over_limit_and_garbage_are_quarantined(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A mail over the size limit and bytes that are not mail are kept, quarantined, with reasons."""
    box = _maildir(tmp_path, 1)
    (box / "new" / "3000.Mbig.test").write_bytes(MAIL.format(n="big").encode() + b"x" * 5000)
    (box / "new" / "4000.Mjunk.test").write_bytes(b"")
    ctx = ParseContext(limits=Limits(max_message_bytes=2000))
    report = ingest(MaildirSource(box), sessions, ctx)
    assert (report.stored, report.quarantined) == (1, 2)
    with sessions() as s:
        rows = {m.source_key: m for m in s.scalars(select(Message))}
        assert rows["3000.Mbig.test"].status == "quarantined"
        assert rows["3000.Mbig.test"].message_id == "<big@example.com>"
        assert rows["3000.Mbig.test"].reason
        assert rows["4000.Mjunk.test"].status == "quarantined"
        assert rows["4000.Mjunk.test"].reason
    assert _count(sessions, RawMessage) == 3


def test_lease_blocks_a_second_poller(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """While one poller holds a mailbox's lease, another may not read it (invariant 12)."""
    source = MaildirSource(_maildir(tmp_path, 1))
    assert take_lease(sessions, source.name, "first-poller") is not None
    with pytest.raises(MailboxBusy):
        poll_once(source, sessions, ParseContext())
    assert _count(sessions, Message) == 0


def test_stale_lease_cannot_write(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A poller whose lease epoch was superseded writes nothing: its batch rolls back."""
    source = MaildirSource(_maildir(tmp_path, 2))
    lease = take_lease(sessions, source.name, "stalled")
    assert lease is not None
    stale = Lease(lease.owner, lease.epoch - 1)
    with pytest.raises(LeaseLost):
        ingest(source, sessions, ParseContext(), stale)
    assert _count(sessions, Message) == 0
    assert _count(sessions, SeenKey) == 0


def test_each_batch_renews_the_lease(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A long read keeps its lease: every committed batch pushes the expiry forward."""
    from datetime import UTC, datetime, timedelta

    from mailflow.store.models import MailboxLease

    source = MaildirSource(_maildir(tmp_path, 3), batch_size=1)
    lease = take_lease(sessions, source.name, "long-reader")
    assert lease is not None
    with sessions() as s, s.begin():
        s.get(MailboxLease, source.name).expires_at = datetime.now(UTC) + timedelta(seconds=5)
    ingest(source, sessions, ParseContext(), lease)
    with sessions() as s:
        left = s.get(MailboxLease, source.name).expires_at - datetime.now(UTC)
    assert left > timedelta(seconds=30)
