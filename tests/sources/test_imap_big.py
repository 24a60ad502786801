"""A folder whose SEARCH answer is longer than imaplib reads in one line.

imaplib refuses a line over ``imaplib._MAXLINE`` (1,000,000 bytes: about 140,000 UIDs). The
mechanism is tested here with that limit lowered to a few hundred UIDs and a page of 100; the
200,000-message folder itself is in ``benchmarks/imap_folder.py``.
"""

from __future__ import annotations

import imaplib
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from mailflow.errors import SourceConnectionError
from mailflow.sources import imap
from mailflow.sources.imap import ImapSource
from tests.servers.dovecot import ImapUser
from tests.sources.test_imap import (  # noqa: F401
    KEYWORD,
    DictCursor,
    flags,
    ingest,
    message_id,
    open_source,
    raw_mail,
)

pytestmark = pytest.mark.dovecot

MESSAGES = 600  # a SEARCH ALL answer of about 2,400 bytes
LINE_LIMIT = 1200  # above every other line of the session (Dovecot's capabilities), below that
PAGE = 100


def deliver(maildir: Path, count: int) -> None:
    """Write ``count`` small messages straight into Dovecot's Maildir, as a delivery agent
    would."""
    for n in range(1, count + 1):
        name = f"{1700000000 + n}.M{n}P1.test"
        (maildir / "tmp" / name).write_bytes(raw_mail(n))
        os.rename(maildir / "tmp" / name, maildir / "new" / name)
    if os.geteuid() == 0:  # tests/servers/dovecot.py maps mail to nobody
        for path in maildir.rglob("*"):
            shutil.chown(path, "nobody", "nogroup")


class _AskingCursor(DictCursor):
    """A DictCursor that remembers how many Message-IDs each question named."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[int] = []

    def known_message_ids(self, message_ids: Iterable[str]) -> set[str]:
        ids = set(message_ids)
        self.asked.append(len(ids))
        return super().known_message_ids(ids)


def test_a_search_answer_longer_than_imaplib_reads_is_asked_in_pages(
    imap_user: ImapUser,
    open_source: Callable[..., ImapSource],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first start and a UIDVALIDITY resync both read the whole folder; the resync asks
    the database about a batch of Message-IDs at a time."""
    server, user = imap_user.server, imap_user.name
    with server.client(user) as setup:
        setup.select_folder("INBOX")  # Dovecot creates the Maildir, owned as it wants it
    deliver(server.maildir_of(user), MESSAGES)
    monkeypatch.setattr(imaplib, "_MAXLINE", LINE_LIMIT)
    client = server.client(user)
    client.select_folder("INBOX", readonly=True)
    with pytest.raises(imaplib.IMAP4.error, match="got more than"):
        client.search(["ALL"])  # what the first start did before
    client.shutdown()

    monkeypatch.setattr(imap, "SEARCH_PAGE", PAGE)
    cursor = _AskingCursor()
    source = open_source(imap_user, batch="50")
    got = ingest(source, cursor, acknowledge=False)
    assert sorted(got) == sorted(f"<{n}@test>" for n in range(1, MESSAGES + 1))
    source.close()

    server.change_uidvalidity(user)
    again = open_source(imap_user, batch="50")
    assert ingest(again, cursor) == []  # every one stored already: marked, not fetched
    assert sum(cursor.asked) == MESSAGES and max(cursor.asked) <= 50


# ---- one range at a time ----


class _Reading:
    """Reads a source like the ingest service, and watches the real SEARCH traffic: how many
    UIDs each answer held, and how many listed UIDs the pass had not dealt with yet (neither
    yielded nor looked up by Message-ID) when each SEARCH was sent."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cursor: _AskingCursor) -> None:
        self.cursor = cursor
        self.listed = self.yielded = 0
        self.looked_up_and_yielded = 0  # a resync asks about unknown mail, then yields it
        self.answers: list[int] = []
        self.unsettled_at_search: list[int] = []
        self.waiting: list[int | None] = []
        search = IMAPClient.search

        def watched(client: IMAPClient, *args: Any, **kwargs: Any) -> Any:
            self.unsettled_at_search.append(self.listed - self.settled())
            found = search(client, *args, **kwargs)
            self.answers.append(len(found))
            self.listed += len(found)
            return found

        monkeypatch.setattr(IMAPClient, "search", watched)

    def settled(self) -> int:
        """UIDs the pass dealt with: yielded, or (in a resync) asked about."""
        return self.yielded + sum(self.cursor.asked) - self.looked_up_and_yielded

    def read(self, source: ImapSource, commit_batches: int | None = None) -> list[str]:
        """Fetch, commit and acknowledge; after ``commit_batches`` batches, fetch one more and
        stop without committing it, as a crash would. Return the committed Message-IDs."""
        got: list[str] = []
        batches = source.fetch(self.cursor)
        for n, batch in enumerate(batches):
            self.yielded += len(batch)
            self.waiting.append(source.waiting())
            if commit_batches is not None and n == commit_batches:
                batches.close()
                break
            self.cursor.commit(batch)
            source.acknowledge(batch)
            got += [message_id(m) for m in batch]
        return got


@pytest.fixture
def big_folder(imap_user: ImapUser, monkeypatch: pytest.MonkeyPatch) -> ImapUser:
    """MESSAGES small messages in the INBOX, searched in pages of PAGE."""
    server, user = imap_user.server, imap_user.name
    with server.client(user) as setup:
        setup.select_folder("INBOX")
    deliver(server.maildir_of(user), MESSAGES)
    with server.client(user) as setup:
        setup.select_folder("INBOX")  # read-write: Dovecot moves the mail to cur/ once
    monkeypatch.setattr(imap, "SEARCH_PAGE", PAGE)
    return imap_user


def ids(numbers: Iterable[int]) -> list[str]:
    return [f"<{n}@test>" for n in numbers]


def test_the_first_start_holds_one_range_of_uids_at_a_time(
    big_folder: ImapUser,
    open_source: Callable[..., ImapSource],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Six ranges of 100: each is listed only once every mail of the one before was yielded,
    so no more than PAGE UIDs wait at once, and the backlog counts the ranges not listed yet."""
    reading = _Reading(monkeypatch, _AskingCursor())
    got = reading.read(open_source(big_folder, batch="50"))
    assert got == ids(range(1, MESSAGES + 1))
    assert reading.answers == [PAGE] * (MESSAGES // PAGE)
    assert reading.unsettled_at_search == [0] * (MESSAGES // PAGE)
    assert reading.waiting == list(range(MESSAGES - 50, -1, -50))
    assert reading.cursor.asked == []  # a fresh database: no Message-ID looked up


def test_a_crash_mid_range_then_a_new_pass_reads_exactly_the_rest(
    big_folder: ImapUser,
    open_source: Callable[..., ImapSource],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five batches of 50 committed, the sixth (the second half of the third range) fetched but
    never committed: a new source reads UIDs 251 to 600, each once, and all end marked."""
    reading = _Reading(monkeypatch, _AskingCursor())
    crashed = open_source(big_folder, batch="50")
    assert reading.read(crashed, commit_batches=5) == ids(range(1, 251))
    crashed.close()
    assert reading.waiting[-1] == MESSAGES - 300  # when the uncommitted batch was fetched

    again = _Reading(monkeypatch, reading.cursor)
    assert again.read(open_source(big_folder, batch="50")) == ids(range(251, MESSAGES + 1))
    assert max(again.answers) <= PAGE and max(again.unsettled_at_search) <= PAGE
    # a restarted process first checks each range for mail marked already (a resync it may
    # have been in): so the ranges still to list are "more", not counted
    assert again.waiting == [None] * 5 + [50, 0]
    assert again.cursor.asked == []  # nothing above the checkpoint was marked
    marked = flags(big_folder.server, big_folder.name)
    assert len(marked) == MESSAGES and all(KEYWORD in f for f in marked.values())


UNKNOWN = [n for n in range(1, MESSAGES + 1) if n % 40 == 7]  # 15 mails, in every range


def _stored_but(cursor: _AskingCursor, unknown: list[int]) -> None:
    cursor.message_ids.update(ids(n for n in range(1, MESSAGES + 1) if n not in unknown))


def test_a_resync_looks_up_one_range_at_a_time(
    big_folder: ImapUser,
    open_source: Callable[..., ImapSource],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a UIDVALIDITY change, each range is listed only once the one before was looked up
    (and its unknown mail yielded); the backlog is "more" (None) until the last range is
    listed; the stored mail is marked, only the unknown mail fetched; the next pass reads
    nothing and asks about nothing more (the checkpoint is at the last new mail, and the stored
    mail after it was settled by the resync)."""
    cursor = _AskingCursor()
    _stored_but(cursor, UNKNOWN)
    server, user = big_folder.server, big_folder.name
    server.change_uidvalidity(user)
    reading = _Reading(monkeypatch, cursor)
    source = open_source(big_folder, batch="50")
    got: list[str] = []
    for batch in source.fetch(cursor):
        reading.yielded += len(batch)
        reading.looked_up_and_yielded += len(batch)  # asked about before they were fetched
        reading.waiting.append(source.waiting())
        cursor.commit(batch)
        source.acknowledge(batch)
        got += [message_id(m) for m in batch]
    assert got == ids(UNKNOWN)
    assert reading.answers == [PAGE] * (MESSAGES // PAGE)
    assert set(reading.unsettled_at_search) == {0}
    assert sum(cursor.asked) == MESSAGES and max(cursor.asked) <= 50
    assert reading.waiting == [None] * 5 + [0]  # one batch a range; the last range's is counted
    marked = flags(server, user)
    assert len(marked) == MESSAGES and all(KEYWORD in f for f in marked.values())

    asked = sum(cursor.asked)
    assert ingest(source, cursor) == []
    assert sum(cursor.asked) == asked  # nothing left: not even the stored mail after UID 567


def test_a_resync_interrupted_mid_range_goes_on_where_it_stopped(
    big_folder: ImapUser,
    open_source: Callable[..., ImapSource],  # noqa: F811
) -> None:
    """A resync whose connection drops after its second batch (uncommitted) goes on, in the
    same source, with exactly the unknown mail not committed; stored mail is not fetched.
    A new source (a restarted process) does the same where the stored mail carries the keyword,
    and otherwise fetches it again; nothing is lost."""
    cursor = _AskingCursor()
    _stored_but(cursor, UNKNOWN)
    server, user = big_folder.server, big_folder.name
    server.change_uidvalidity(user)
    source = open_source(big_folder, batch="50")
    batches = source.fetch(cursor)
    first = next(batches)
    cursor.commit(first)
    source.acknowledge(first)
    assert [message_id(m) for m in first] == ids(UNKNOWN[:3])  # the first range's
    assert [message_id(m) for m in next(batches)] == ids(UNKNOWN[3:5])  # never committed
    server.kick(user)
    with pytest.raises(SourceConnectionError):
        next(batches)
    assert ingest(source, cursor) == ids(UNKNOWN[3:])
    marked = flags(server, user)
    assert all(KEYWORD in f for f in marked.values())

    # the same in a new process, which knows only the checkpoint and the keywords: here the
    # server kept the keywords mailflow set before the UIDVALIDITY change, as Dovecot does
    assert _crash_then_restart(big_folder, open_source) == ids(UNKNOWN[3:])

    # the keywords lost with the change: the restart skips what the crashed resync marked (up
    # to UID 200), fetches the stored mail after it again, and nothing is lost
    with server.client(user) as c:
        c.select_folder("INBOX")
        c.remove_flags(c.search(["ALL"]), [KEYWORD])
    rest = _crash_then_restart(big_folder, open_source)
    assert rest == ids(UNKNOWN[3:5]) + ids(range(201, MESSAGES + 1))


def _crash_then_restart(
    user: ImapUser,
    open_source: Callable[..., ImapSource],  # noqa: F811
    **options: str,
) -> list[str]:
    """Change UIDVALIDITY; resync with a cursor that knows all but UNKNOWN, commit the first
    batch, fetch the second and stop; return what a new source then reads. Everything ends
    marked."""
    cursor = _AskingCursor()
    _stored_but(cursor, UNKNOWN)
    user.server.change_uidvalidity(user.name)
    crashed = open_source(user, batch="50", **options)
    batches = crashed.fetch(cursor)
    first = next(batches)
    cursor.commit(first)
    crashed.acknowledge(first)
    assert [message_id(m) for m in first] == ids(UNKNOWN[:3])
    assert [message_id(m) for m in next(batches)] == ids(UNKNOWN[3:5])  # never committed
    crashed.close()
    rest = ingest(open_source(user, batch="50", **options), cursor)
    assert set(ids(UNKNOWN)) <= cursor.message_ids
    if options.get("processed", "flag") == "flag":
        marked = flags(user.server, user.name)
        assert len(marked) == MESSAGES and all(KEYWORD in f for f in marked.values())
    return rest


def test_a_resync_crash_with_processed_move_loses_nothing(
    big_folder: ImapUser,
    open_source: Callable[..., ImapSource],  # noqa: F811
) -> None:
    """With processed=move the stored mail the crashed resync found has left the folder; a
    restarted process fetches the rest above the checkpoint, and everything ends moved.
    (Mail mailflow moved before the change is not in the folder at all.)"""
    rest = _crash_then_restart(big_folder, open_source, processed="move:Done")
    assert rest == ids(UNKNOWN[3:5]) + ids(range(201, MESSAGES + 1))
    assert flags(big_folder.server, big_folder.name) == {}
    assert len(flags(big_folder.server, big_folder.name, "Done")) == MESSAGES
