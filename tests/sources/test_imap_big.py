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

import pytest

from mailflow.sources import imap
from mailflow.sources.imap import ImapSource
from tests.servers.dovecot import ImapUser
from tests.sources.test_imap import DictCursor, ingest, open_source, raw_mail  # noqa: F401

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
