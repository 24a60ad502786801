"""A mail the transport accepted just before the database went away is recorded as sent once
the database is back, not sent a second time when its claim runs out."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.outbound.transports.base import Transport
from mailflow.outbound.transports.file import FileTransport
from mailflow.service.poll import poll_once
from mailflow.service.runtime import build_runtime, open_source
from mailflow.store.migrate import upgrade
from mailflow.store.models import OUTBOX_SENT, OutboxMail
from tests.example_site import example_settings
from tests.servers.private import PrivatePostgres


class _CutAfterSending:
    """A file transport whose first send stops the database right after writing the mail."""

    def __init__(self, folder: Path, server: PrivatePostgres) -> None:
        self.files, self.server, self.cut = FileTransport(folder), server, False

    def send(
        self,
        raw: bytes,
        sender: str,
        recipients: Sequence[str],
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        # no quick record: the database goes away between the acceptance and the record
        self.files.send(raw, sender, recipients)
        if not self.cut:
            self.cut = True
            self.server.kill()

    def batch(self) -> AbstractContextManager[Transport]:
        return self.files.batch()

    def close(self) -> None:
        self.files.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_sent_mail_waits_for_the_database_to_be_recorded(
    private_postgres: PrivatePostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The courier keeps trying to mark the row sent while PostgreSQL restarts; every row ends
    sent, with exactly one .eml per Message-ID."""
    upgrade(private_postgres.url)
    settings = example_settings(tmp_path, private_postgres.url)
    runtime = build_runtime(settings)
    try:
        report = poll_once(
            open_source(settings), runtime.sessions, runtime.context, None, runtime.rulebook
        )
        assert report.outbox_ids
        courier = runtime.courier()
        courier.transport = _CutAfterSending(tmp_path / "sent", private_postgres)

        def restart_when_told() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if any(
                    "recording it waits for the database" in r.getMessage() for r in caplog.records
                ):
                    private_postgres.start()
                    return
                time.sleep(0.1)

        restarter = threading.Thread(target=restart_when_told, daemon=True)
        with caplog.at_level(logging.WARNING, logger="mailflow.service.deliver"):
            restarter.start()
            first = courier.deliver(report.outbox_ids[0])
            restarter.join(timeout=120)
        assert first == "sent"
        for outbox_id in report.outbox_ids[1:]:
            courier.deliver(outbox_id)
        with runtime.sessions() as s:
            rows = list(s.scalars(select(OutboxMail)))
    finally:
        runtime.close()
    assert {r.status for r in rows} == {OUTBOX_SENT}
    files = [
        message_from_bytes(p.read_bytes())["Message-ID"] for p in (tmp_path / "sent").glob("*.eml")
    ]
    assert sorted(files) == sorted(r.message_id for r in rows)
