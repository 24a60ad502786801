"""SMTP sessions shared by every worker: the transport's ``SessionGate`` over the database.

A mailbox server may cap the sessions one account holds at once (Exchange Online: three; a
fourth is refused with ``432 4.3.2 … sender thread limit exceeded``). ``sessions=N`` on
MAILFLOW_TRANSPORT names that cap, and every delivery thread of every worker that shares the
database holds one of the N rows of ``store.session_slots`` while its SMTP session is open.
A thread that finds them all held waits, polling every half second or so, for at most
``PATIENCE``; then its mails go back to the outbox for the sweep, no attempt counted.

A hold lasts ``LEASE`` and is renewed by the sends that use it, so a worker killed with kill -9
frees its sessions within ``LEASE``, and at once for the workers of the same machine, which
see that its process is gone.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import SessionsBusy, TransientSendError
from mailflow.service.holders import gone, holder_name
from mailflow.store import session_slots
from mailflow.store.db import database_outage, writing

log = logging.getLogger(__name__)
_T = TypeVar("_T")

LEASE = timedelta(minutes=3)
RENEW_AFTER_S = 60.0  # a hold older than this is renewed by the next send
# a session held by another worker is given back at most KEEPALIVE_S (30 s) after its last mail
PATIENCE_S = 60.0
POLL_S = 0.5


class SessionSlots:
    """Holds one of ``count`` SMTP sessions of ``account`` (the transport's secret-free name)
    for one delivery thread; a ``SessionGate`` for ``SmtpTransport``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        account: str,
        count: int,
        *,
        patience_s: float = PATIENCE_S,
    ) -> None:
        self.patience_s = patience_s
        self.account, self.count = account, count
        self.holder = holder_name()
        self._sessions = sessions
        self._slot: int | None = None
        self._renew_at = 0.0  # time.monotonic() after which the next send renews the hold
        self._ensured = False

    def __repr__(self) -> str:
        return f"SessionSlots({self.account!r}, {self.count}, holding={self._slot})"

    @property
    def slot(self) -> int | None:
        """The session held, if any."""
        return self._slot

    def due(self) -> bool:
        """Return True when no session is held or the hold is to be renewed."""
        return self._slot is None or time.monotonic() >= self._renew_at

    def enter(self) -> None:
        """Hold a session, or renew the one held; wait for one at most ``patience_s``, then
        raise SessionsBusy. A database that cannot be reached raises TransientSendError."""
        try:
            if self._slot is not None:
                if self._write(self._renew):
                    return
                log.warning(
                    "%s: SMTP session %s was taken over after its hold ran out; holding another",
                    self.account,
                    self._slot,
                )
                self._slot = None
            self._wait_for_one()
        except SessionsBusy:
            raise
        except Exception as e:
            outage = database_outage(e)
            if outage is None:
                raise
            raise TransientSendError(
                f"{self.account}: the SMTP sessions are shared through the database,"
                f" which cannot be reached ({outage.reason})"
            ) from e

    def leave(self) -> None:
        """Give the session back; a failure only logs (the hold runs out by itself)."""
        slot, self._slot = self._slot, None
        if slot is None:
            return
        try:
            with writing(self._sessions) as session:
                session_slots.give_back(session, self.account, slot, self.holder)
        except Exception as e:
            log.warning(
                "%s: could not give SMTP session %s back (%s); it frees itself within %d s",
                self.account,
                slot,
                e,
                LEASE.total_seconds(),
            )

    def _wait_for_one(self) -> None:
        started = time.monotonic()
        while True:
            slot = self._write(self._take)
            if slot is not None:
                waited = time.monotonic() - started
                if waited >= POLL_S:
                    log.info(
                        "%s: waited %.1f s for one of its %d SMTP sessions",
                        self.account,
                        waited,
                        self.count,
                    )
                self._slot = slot
                self._renew_at = time.monotonic() + RENEW_AFTER_S
                return
            if time.monotonic() - started >= self.patience_s:
                raise SessionsBusy(
                    f"{self.account}: all {self.count} SMTP sessions the mailbox allows"
                    f" (sessions={self.count}) stayed in use by other delivery threads for"
                    f" {self.patience_s:.0f} s"
                )
            time.sleep(POLL_S * random.uniform(0.5, 1.5))  # a delivery thread waiting its turn

    def _take(self, session: Session) -> int | None:
        if not self._ensured:
            session_slots.ensure(session, self.account, self.count)
            self._ensured = True
        now = datetime.now(UTC)
        return session_slots.take(
            session, self.account, self.count, self.holder, now, now + LEASE, gone
        )

    def _renew(self, session: Session) -> bool:
        assert self._slot is not None
        until = datetime.now(UTC) + LEASE
        renewed = session_slots.renew(session, self.account, self._slot, self.holder, until)
        if renewed:
            self._renew_at = time.monotonic() + RENEW_AFTER_S
        return renewed

    def _write(self, work: Callable[[Session], _T]) -> _T:
        with writing(self._sessions) as session:
            return work(session)
