"""``thread_participants`` says exactly what the messages' addresses say, however mail threads:
by reply headers, by subject, out of order across batches (stored threads merged), and after
migration 0014 fills it from mail stored before it."""

from __future__ import annotations

import random
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.model import ParseContext
from mailflow.service.ingest import ingest
from mailflow.sources.maildir import MaildirSource
from mailflow.store import migrate, participants
from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.models import Message, MessageAddress, Thread, ThreadParticipant
from mailflow.store.thread_members import thread_addresses

SHARED = "coord@hengtai-pharma.cn"
PEOPLE = [f"Staff.{i}@hengtai-pharma.cn" for i in range(8)]  # a capital: kept as written
CTX = ParseContext(own_addresses=frozenset({SHARED}))


def _mail(mid: str, sender: str, to: list[str], subject: str, parent: list[str]) -> bytes:
    headers = [
        f"Message-ID: <{mid}@hengtai-pharma.cn>",
        f"From: {sender}",
        f"To: {', '.join(to)}",
        f"Cc: {SHARED}",
        "Date: Mon, 13 Apr 2026 09:{:02d}:00 +0800".format(int(mid.split("-")[-1]) % 60),
        f"Subject: {subject}",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if parent:
        headers.append(f"In-Reply-To: <{parent[-1]}@hengtai-pharma.cn>")
        headers.append("References: " + " ".join(f"<{p}@hengtai-pharma.cn>" for p in parent))
    return ("\r\n".join(headers) + "\r\n\r\n收到。\r\n").encode()


def _conversations(rng: random.Random) -> list[tuple[str, bytes]]:
    """Mail of a few subjects: reply chains, and mail of the same subject without headers
    between people who overlap or not (a new thread, or the same one by subject)."""
    mails: list[tuple[str, bytes]] = []
    n = 0
    for c in range(6):
        subject = f"【工作安排】研发部-课题{c % 3}"  # subjects repeat across conversations
        chain: list[str] = []
        for _ in range(rng.randrange(2, 7)):
            n += 1
            mid = f"c{c}-{n}"
            sender = rng.choice(PEOPLE)
            to = rng.sample([p for p in PEOPLE if p != sender], rng.randrange(1, 3))
            parent = chain[-rng.randrange(1, 3) :] if chain and rng.random() < 0.8 else []
            reply = f"Re: {subject}" if parent else subject
            mails.append((mid, _mail(mid, sender, to, reply, parent)))
            chain.append(mid)
    return mails


def _derived(session: Session) -> set[tuple[int, str]]:
    """Who is on each thread, read from every message's addresses."""
    query = (
        select(Message.thread_id, MessageAddress.address)
        .join(Message, Message.id == MessageAddress.message_pk)
        .where(Message.thread_id.is_not(None))
    )
    return {(tid, address) for tid, address in session.execute(query)}


def _kept(session: Session) -> set[tuple[int, str]]:
    rows = session.execute(select(ThreadParticipant.thread_id, ThreadParticipant.address))
    return {(tid, address) for tid, address in rows}


def _ingest_rounds(
    sessions: sessionmaker[Session], root: Path, rounds: list[list[tuple[str, bytes]]]
) -> None:
    for number, mails in enumerate(rounds):
        box = root / f"round{number}"
        for sub in ("new", "cur", "tmp"):
            (box / sub).mkdir(parents=True)
        for order, (mid, raw) in enumerate(mails):
            (box / "new" / f"{order:04d}.{mid}.test").write_bytes(raw)
        ingest(MaildirSource(box, batch_size=4), sessions, CTX)


def test_participants_follow_threading_merges_and_batches(
    database_url: str, tmp_path: Path
) -> None:
    """Mail delivered shuffled, in batches of four over three rounds (replies before their
    originals, subjects shared by other people's threads): after each round the kept
    participants equal those read from the messages, and the web view's rights read them."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        rng = random.Random(7)
        mails = _conversations(rng)
        rng.shuffle(mails)
        third = len(mails) // 3
        rounds = [mails[:third], mails[third : 2 * third], mails[2 * third :]]
        for number in range(3):
            _ingest_rounds(sessions, tmp_path / str(number), [rounds[number]])
            with sessions() as s:
                assert _kept(s) == _derived(s)
        with sessions() as s:
            stored = {tid for tid, _ in _derived(s)}
            assert len(stored) > 1
            assert any(a.startswith("Staff.") for _, a in _kept(s))
            by_thread = thread_addresses(s, stored)
            assert by_thread == {
                t: {a.lower() for tid, a in _derived(s) if tid == t} for t in stored
            }
    finally:
        engine.dispose()


def test_a_merge_moves_the_people_of_the_thread_that_goes(
    database_url: str, tmp_path: Path
) -> None:
    """A reply stored first, under another subject, has its own thread; when its original
    comes, the reply's thread goes into the original's, with its people."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        original = _mail("m-1", PEOPLE[0], [PEOPLE[1]], "【会议纪要】研发部-周会", [])
        answer = _mail("m-2", PEOPLE[2], [PEOPLE[3]], "Re: 别的标题", ["m-1"])
        _ingest_rounds(sessions, tmp_path, [[("m-2", answer)], [("m-1", original)]])
        with sessions() as s:
            [thread] = s.scalars(select(Thread.id)).all()
            found = {a for _, a in participants.addresses_in(s, [thread])}
            assert found == {*PEOPLE[:4], SHARED}
            assert _kept(s) == _derived(s)
    finally:
        engine.dispose()


def test_0014_fills_participants_from_mail_stored_before_it(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Mail stored under 0013 has its participants after the upgrade; the downgrade drops
    the table and the mail stays."""
    migrate.upgrade(empty_database_url, "0013")
    engine = make_engine(empty_database_url)
    sessions = make_session_factory(engine)
    try:
        with engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO threads (id, subject_key, started_at, last_message_at)"
                    " VALUES (1, 'k', :t, :t), (2, 'j', :t, :t)"
                ),
                {"t": "2026-04-13 01:00:00+00:00"},
            )
            for pk, tid in ((1, 1), (2, 1), (3, 2), (4, None)):
                c.execute(
                    text(
                        "INSERT INTO messages (id, message_id, status, source, folder,"
                        " source_key, received_at, automated, conforms, thread_id)"
                        " VALUES (:pk, :mid, 'stored', 's', 'INBOX', :mid, :t, false, true, :tid)"
                    ),
                    {"pk": pk, "mid": f"<{pk}@x>", "t": "2026-04-13 01:00:00+00:00", "tid": tid},
                )
            addresses = [(1, "from", PEOPLE[0]), (1, "to", PEOPLE[1]), (2, "from", PEOPLE[1]),
                         (2, "cc", PEOPLE[2]), (3, "from", PEOPLE[3]), (4, "from", PEOPLE[4])]  # fmt: skip
            for pk, role, address in addresses:
                c.execute(
                    text(
                        "INSERT INTO message_addresses (message_pk, role, name, address)"
                        " VALUES (:pk, :role, '', :address)"
                    ),
                    {"pk": pk, "role": role, "address": address},
                )
        migrate.upgrade(empty_database_url)
        with sessions() as s:
            assert _kept(s) == {(1, PEOPLE[0]), (1, PEOPLE[1]), (1, PEOPLE[2]), (2, PEOPLE[3])}
        migrate.downgrade(empty_database_url, "0013")
        with engine.connect() as c:
            assert c.scalar(text("SELECT count(*) FROM message_addresses")) == 6
    finally:
        engine.dispose()
