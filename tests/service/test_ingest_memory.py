"""Ingestion never holds two batches of mail parsed in the poller at once."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.model import ParseContext
from mailflow.service.ingest import ingest
from mailflow.sources.base import FetchedMail, SourceCursor
from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.models import Message


class WatchingSource:
    """A mail source that, before handing over each batch, records which mails of the
    batches before it are still alive anywhere in the process."""

    name = "watching://inbox"

    def __init__(self, batches: int) -> None:
        self._batches = batches
        self.alive_at_fetch: list[int] = []

    def fetch(self, cursor: SourceCursor) -> Iterator[Sequence[FetchedMail]]:
        earlier: list[weakref.ref[FetchedMail]] = []
        for n in range(self._batches):
            gc.collect()
            self.alive_at_fetch.append(sum(ref() is not None for ref in earlier))
            raw = (f"From: a@example.com\r\nMessage-ID: <m{n}@example.com>\r\n"
                   f"Subject: {n}\r\n\r\nbody {n}\r\n").encode()  # fmt: skip
            mail = FetchedMail("INBOX", f"key-{n}", raw)
            earlier.append(weakref.ref(mail))
            yield [mail]
            del mail

    def acknowledge(self, mails: Sequence[FetchedMail]) -> None:
        """Nothing to mark."""

    def waiting(self) -> int | None:
        """Not counted."""
        return None

    def wait_for_mail(self, timeout_s: float) -> None:
        """Never waits."""

    def interrupt(self) -> None:
        """Nothing to interrupt."""

    def close(self) -> None:
        """Nothing to release."""


def test_a_batch_parsed_in_the_poller_is_stored_before_the_next_is_fetched(
    database_url: str,
) -> None:
    """When the next batch is fetched, no mail of an earlier batch is referenced any more:
    big mail never adds up (the pipeline overlaps only batches that parse workers take)."""
    engine = make_engine(database_url)
    sessions: sessionmaker[Session] = make_session_factory(engine)
    source = WatchingSource(4)
    report = ingest(source, sessions, ParseContext(), parse_workers=0)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 4
    assert report.stored == 4
    assert source.alive_at_fetch == [0, 0, 0, 0]
    engine.dispose()
