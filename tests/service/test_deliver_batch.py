"""Batch delivery: one statement claims a batch, no row is claimed by two workers, each sent mail
is recorded before the next goes out, and a worker killed between the server's acceptance and
the record leaves a row that is sent again with the same Message-ID. Against the real aiosmtpd
server, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailflow.errors import TemplateError
from mailflow.outbound.transports.base import Transport
from mailflow.service.deliver import RETRY, SENT, SKIPPED, Courier
from mailflow.service.runtime import Runtime, build_runtime
from mailflow.settings import load_settings
from mailflow.store import outbox
from mailflow.store.db import writing
from mailflow.store.models import OUTBOX_SENT, OutboxMail
from tests.outbound.samples import receipt_rows
from tests.servers.smtp import PASSWORD, SmtpServer

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


@pytest.fixture
def runtime(database_url: str, smtp_server: SmtpServer) -> Iterator[Runtime]:
    """Shipped rules and templates, the given database, the STARTTLS+AUTH test server."""
    rt = build_runtime(
        load_settings(
            database_url=database_url,
            transport=smtp_server.url(),
            transport_password=PASSWORD,
            rules_dir=REPO / "rules",
            templates_dir=REPO / "templates",
        )
    )
    yield rt
    rt.close()


def _queue(rt: Runtime, count: int) -> list[int]:
    with writing(rt.sessions) as session:
        return sorted(outbox.add_all_new(session, receipt_rows("batch", count, T0)))


class _Killed(BaseException):
    """Stands for kill -9: nothing after it runs, not even an ``except Exception``."""


@dataclasses.dataclass
class _Wrapping:
    """A Transport that hands every mail to the real SMTP transport, with a hook before and
    after each send."""

    real: Transport
    sends: int = 0

    def before(self) -> None:
        """Run before each send."""

    def after(self) -> None:
        """Run after the server accepted a mail."""

    def wrap(self, on_accepted: Callable[[], None] | None) -> Callable[[], None] | None:
        """Return what the real transport calls on acceptance."""
        return on_accepted

    def send(
        self,
        raw: bytes,
        sender: str,
        recipients: Sequence[str],
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        self.before()
        self.real.send(raw, sender, recipients, self.wrap(on_accepted))
        self.sends += 1
        self.after()

    def batch(self) -> AbstractContextManager[Transport]:
        return self.real.batch()

    def close(self) -> None:
        self.real.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sent_rows(rt: Runtime) -> int:
    with rt.sessions() as session:
        query = select(func.count()).where(OutboxMail.status == OUTBOX_SENT)
        return int(session.scalar(query.select_from(OutboxMail)) or 0)


def test_a_batch_claim_never_gives_one_row_to_two_workers(runtime: Runtime) -> None:
    """A claim held open by one worker is skipped by another (PostgreSQL: at once, SKIP
    LOCKED; SQLite: after it commits); a claimed row is not claimed again until it expires."""
    ids = _queue(runtime, 10)
    postgres = runtime.engine.dialect.name == "postgresql"
    with writing(runtime.sessions) as first:
        mine = [row.id for row in outbox.claim_many(first, ids[:6], T0)]
        if postgres:  # the first transaction still holds its row locks
            with writing(runtime.sessions) as second:
                theirs = [row.id for row in outbox.claim_many(second, ids, T0)]
    if not postgres:
        with writing(runtime.sessions) as second:
            theirs = [row.id for row in outbox.claim_many(second, ids, T0)]
    assert mine == ids[:6]
    assert theirs == ids[6:]
    with writing(runtime.sessions) as third:
        assert outbox.claim_many(third, ids, T0 + timedelta(minutes=1)) == []
    later = T0 + outbox.CLAIM + timedelta(seconds=1)  # every claim has expired
    with writing(runtime.sessions) as fourth:
        again = outbox.claim_many(fourth, ids, later)
    assert [row.id for row in again] == ids
    assert {row.attempts for row in again} == {2}


def test_each_mail_of_a_batch_is_recorded_before_the_next_goes_out(
    runtime: Runtime, smtp_server: SmtpServer
) -> None:
    """Before every send, the database already shows each mail sent so far as sent."""
    ids = _queue(runtime, 5)
    seen: list[int] = []

    recorded: list[int] = []

    class Watching(_Wrapping):
        def before(self) -> None:
            seen.append(_sent_rows(runtime))

        def after(self) -> None:
            recorded.append(_sent_rows(runtime))

    courier = runtime.courier()
    courier = dataclasses.replace(courier, transport=Watching(courier.transport))
    assert courier.deliver_many(ids, T0) == dict.fromkeys(ids, SENT)
    assert seen == [0, 1, 2, 3, 4]
    assert recorded == [1, 2, 3, 4, 5]  # the transport had recorded each before returning
    received = [m.message["Message-ID"] for m in smtp_server.sink.received]
    assert len(received) == len(set(received)) == 5
    with runtime.sessions() as session:
        rows = [session.get(OutboxMail, i) for i in ids]
    assert all(r is not None and r.claimed_until is None and r.sent_at for r in rows)
    assert [r.attempts for r in rows if r is not None] == [1] * 5
    assert courier.deliver_many(ids, T0) == dict.fromkeys(ids, SKIPPED)  # sent: not again


def test_a_kill_between_acceptance_and_record_resends_with_the_same_message_id(
    runtime: Runtime, smtp_server: SmtpServer
) -> None:
    """Killed right after the server took the first mail of a batch: once the claims expire,
    that mail goes again with its Message-ID (the rare resend), the second goes once."""
    first, second = _queue(runtime, 2)

    class Dying(_Wrapping):
        def wrap(self, on_accepted: Callable[[], None] | None) -> None:
            return None  # killed before the record could run

        def after(self) -> None:
            raise _Killed

    courier = runtime.courier()
    dying = dataclasses.replace(courier, transport=Dying(courier.transport))
    with pytest.raises(_Killed):
        dying.deliver_many([first, second], T0)
    assert len(smtp_server.sink.received) == 1
    assert courier.deliver_many([first, second], T0 + timedelta(minutes=1)) == {
        first: SKIPPED,  # still claimed by the dead worker
        second: SKIPPED,
    }
    later = T0 + outbox.CLAIM + timedelta(seconds=1)
    with runtime.sessions() as session:
        assert outbox.due_ids(session, later) == [first, second]  # the sweep finds both
    assert courier.deliver_many([first, second], later) == {first: SENT, second: SENT}
    ids = [m.message["Message-ID"] for m in smtp_server.sink.received]
    with runtime.sessions() as session:
        row = session.get(OutboxMail, first)
        assert row is not None and row.status == OUTBOX_SENT
        assert ids[0] == ids[1] == row.message_id
    assert len(ids) == 3 and len(set(ids)) == 2


def test_a_batch_that_outlives_half_its_claim_releases_the_rest(
    runtime: Runtime, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When sending took longer than half the claim, the unsent rows are given back
    unclaimed, their attempt returned, for the sweep to hand out again."""
    ids = _queue(runtime, 3)
    monkeypatch.setattr("mailflow.service.deliver.BATCH_CLAIM_USE", timedelta(0))
    courier: Courier = runtime.courier()
    assert courier.deliver_many(ids, T0) == {ids[0]: SENT, ids[1]: SKIPPED, ids[2]: SKIPPED}
    with runtime.sessions() as session:
        assert outbox.due_ids(session, T0 + timedelta(seconds=1)) == ids[1:]
        rest = [session.get(OutboxMail, i) for i in ids[1:]]
    assert [(r.attempts, r.claimed_until) for r in rest if r is not None] == [(0, None)] * 2
    assert len(smtp_server.sink.received) == 1


def test_a_template_error_in_a_batch_retries_that_mail_and_sends_the_rest(
    runtime: Runtime, smtp_server: SmtpServer
) -> None:
    """A mail whose template fails is kept for a later attempt; the others of its batch go."""
    ids = _queue(runtime, 3)
    courier = runtime.courier()
    real = courier.renderer

    class Breaking:
        def __init__(self) -> None:
            self.calls = 0

        def render(self, *args: object, **kwargs: object) -> object:
            self.calls += 1
            if self.calls == 2:
                raise TemplateError("receipt.txt: undefined variable")
            return real.render(*args, **kwargs)  # type: ignore[arg-type]

    breaking = dataclasses.replace(courier, renderer=Breaking())  # type: ignore[arg-type]
    assert breaking.deliver_many(ids, T0) == {ids[0]: SENT, ids[1]: RETRY, ids[2]: SENT}
    with runtime.sessions() as session:
        row = session.get(OutboxMail, ids[1])
        assert row is not None and row.status == "pending" and row.next_attempt_at > T0
        assert "template" in (row.last_error or "")
    assert len(smtp_server.sink.received) == 2
