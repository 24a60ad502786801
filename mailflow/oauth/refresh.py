"""The newest refresh token of a grant, shared by every flow that uses it, and kept.

A server that rotates refresh tokens answers each refresh with a new one, and many (Keycloak,
Okta, Auth0 with rotation; any OAuth 2.1 server) refuse the old one from then on. mailflow
asks for tokens in several places at once: the mailbox, each delivery thread's SMTP session,
the Sent folder, and in several processes (poller, workers, scheduler). Had each kept its own
copy of the configured refresh token, the first to refresh would have made every other copy
worthless (``invalid_grant``), and a restart would go back to the configured token, which a
rotating server no longer takes.

So every flow of one grant in a process shares one ``RefreshToken``: refreshes take turns, and
each uses the newest token. With a ``Keeper`` (``keep_in``; the service layer keeps them in the
database), processes take turns too, each refresh starts from the newest token any of them
got, and a restart starts from it. The configured token is the seed: when an administrator
puts a new one in its file, the kept chain of the old seed is left behind.

Imports nothing of mailflow.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol, TypeVar

_T = TypeVar("_T")


class Keeper(Protocol):
    """Keeps the newest refresh token of each grant where every process finds it."""

    def turn(self, grant: str) -> AbstractContextManager[None]:
        """Hold the grant's turn to refresh against the other processes while the context
        lasts (a refresh with a rotating server must not run twice on one token)."""

    def load(self, grant: str, seed: str) -> str | None:
        """Return the newest token kept for ``grant`` grown from ``seed``, or None."""

    def save(self, grant: str, seed: str, token: str) -> None:
        """Keep ``token`` as the newest of ``grant`` grown from ``seed``."""


_keeper: Keeper | None = None
_cells: dict[tuple[str, str], RefreshToken] = {}
_cells_lock = threading.Lock()


def keep_in(keeper: Keeper | None) -> None:
    """Keep this process's refresh tokens with ``keeper`` from now on (None: in memory)."""
    global _keeper
    _keeper = keeper


def kept_in() -> Keeper | None:
    """Return the keeper this process's refresh tokens are kept with, if any."""
    return _keeper


def shared(grant: str, configured: str) -> RefreshToken:
    """Return this process's ``RefreshToken`` for ``grant`` (a secret-free name of the
    provider, endpoint and client) seeded with the ``configured`` token."""
    key = (grant, seed_of(configured))
    with _cells_lock:
        cell = _cells.get(key)
        if cell is None:
            cell = _cells[key] = RefreshToken(grant, configured)
        return cell


def seed_of(configured: str) -> str:
    """Return a secret-free name of a configured refresh token (a SHA-256 prefix)."""
    return hashlib.sha256(configured.encode()).hexdigest()[:32]


class RefreshToken:
    """The newest refresh token of one grant and seed in this process."""

    def __init__(self, grant: str, configured: str) -> None:
        self.grant = grant
        self.seed = seed_of(configured)
        self._newest = configured
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RefreshToken({self.grant!r}, seed={self.seed[:8]})"

    def exchange(self, ask: Callable[[str], tuple[_T, str | None]]) -> _T:
        """Run ``ask(token)`` with the newest refresh token, one refresh at a time, and keep
        the token it returns as the newest (a server's rotation; None: unchanged)."""
        keeper = _keeper
        with self._lock, keeper.turn(self.grant) if keeper else nullcontext():
            token = self._newest
            if keeper is not None:
                token = keeper.load(self.grant, self.seed) or token
            result, rotated = ask(token)
            if rotated and rotated != token:
                self._newest = rotated
                if keeper is not None:
                    keeper.save(self.grant, self.seed, rotated)
            else:
                self._newest = token
            return result
