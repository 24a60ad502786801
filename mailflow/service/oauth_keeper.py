"""OAuth2 refresh tokens kept in the database: ``oauth.refresh``'s ``Keeper``.

Every process of a deployment (poller, workers, scheduler) refreshes with the newest token any
of them got, one at a time, and starts from it after a restart. The token is a secret kept in
the database like the mail itself; it appears in no log line or error.

Nothing here stops mail: with the database away, a refresh runs on the token this process
holds, as it did before tokens were kept, and says so in the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from mailflow.service.holders import gone, holder_name
from mailflow.store import oauth_tokens
from mailflow.store.db import writing

log = logging.getLogger(__name__)

# a refresh is one or two HTTPS requests of at most 30 s each (MSAL may discover the tenant)
TURN = timedelta(minutes=2)
PATIENCE_S = 90.0  # then refresh anyway: a turn's holder that hangs must not stop mail
POLL_S = 0.2


class DatabaseKeeper:
    """Keeps refresh tokens, and the turns to refresh them, in ``oauth_refresh_tokens``."""

    def __init__(self, sessions: sessionmaker[Session], *, patience_s: float = PATIENCE_S) -> None:
        self._sessions = sessions
        self.patience_s = patience_s

    def __repr__(self) -> str:
        return "DatabaseKeeper()"

    @contextmanager
    def turn(self, grant: str) -> Iterator[None]:
        """Hold ``grant``'s turn to refresh while the context lasts."""
        holder = self._wait_for_turn(grant)
        try:
            yield
        finally:
            if holder is not None:
                self._quietly("give back the turn to refresh", grant, oauth_tokens.end_turn,
                              holder)  # fmt: skip

    def load(self, grant: str, seed: str) -> str | None:
        """Return the newest token kept for ``grant`` and ``seed`` (None: none, or the
        database cannot be read)."""
        try:
            with self._sessions() as session:
                return oauth_tokens.newest(session, grant, seed)
        except Exception as e:
            log.warning("%s: cannot read the kept refresh token (%s); using this process's",
                        grant, _reason(e))  # fmt: skip
            return None

    def save(self, grant: str, seed: str, token: str) -> None:
        """Keep ``token`` as the newest of ``grant``."""
        self._quietly("keep the new refresh token", grant, oauth_tokens.keep, seed, token,
                      datetime.now(UTC))  # fmt: skip

    def _wait_for_turn(self, grant: str) -> str | None:
        holder, started = holder_name(), time.monotonic()
        while True:
            try:
                with writing(self._sessions) as session:
                    now = datetime.now(UTC)
                    if oauth_tokens.take_turn(session, grant, holder, now, now + TURN, gone):
                        return holder
            except Exception as e:
                log.warning("%s: cannot take the turn to refresh (%s); refreshing anyway",
                            grant, _reason(e))  # fmt: skip
                return None
            if time.monotonic() - started >= self.patience_s:
                log.warning("%s: another process held the turn to refresh for %.0f s;"
                            " refreshing anyway", grant, self.patience_s)  # fmt: skip
                return None
            time.sleep(POLL_S)  # another process refreshes: its token is the one to use next

    def _quietly(self, what: str, grant: str, write: Callable[..., object], *args: object) -> None:
        try:
            with writing(self._sessions) as session:
                write(session, grant, *args)
        except Exception as e:
            log.warning("%s: cannot %s (%s)", grant, what, _reason(e))


def _reason(e: Exception) -> str:
    """Return the first line of ``e`` (a database error's text quotes no parameter values)."""
    return str(e).splitlines()[0] if str(e) else type(e).__name__
