"""``AccessTokens``: one OAuth2 flow's access token, cached and renewed before it expires.

A flow (``mailflow.oauth.flows``) asks the authorization server for a token; ``AccessTokens``
keeps the newest one and hands it out while it has more than a margin of its lifetime left
(a quarter, at most ``REFRESH_MARGIN_S``), so every connect or reconnect gets a token that
will not expire in the middle of logging in, and a long session never starts on a stale one.
``renew`` replaces a token the server refused. Thread-safe; the token appears in no repr, log
line or error. Imports nothing of mailflow but ``errors``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

REFRESH_MARGIN_S = 300.0  # Microsoft and Google tokens last about an hour
MARGIN_FRACTION = 0.25  # short-lived tokens (tests, strict servers) renew after 3/4 of life
DEFAULT_LIFETIME_S = 3600.0  # when the server names none (RFC 6749 §5.1 makes it optional)


@dataclass(frozen=True)
class Grant:
    """An access token and how long the server said it lasts."""

    access_token: str = field(repr=False)
    lifetime_s: float


class TokenFlow(Protocol):
    """One way of getting an access token (refresh token, client credentials, MSAL)."""

    @property
    def name(self) -> str:
        """A secret-free description for logs and errors, e.g. ``google refresh_token``."""
        ...

    def request(self) -> Grant:
        """Return a new token; raise TokenUnavailable (retry later) or TokenRefused."""
        ...


class AccessTokens:
    """The current access token of one flow, renewed before it expires."""

    def __init__(self, flow: TokenFlow, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._flow = flow
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.requests = 0  # how many tokens this instance asked for

    def __repr__(self) -> str:
        return f"AccessTokens({self._flow.name!r})"

    @property
    def name(self) -> str:
        """The flow's secret-free name."""
        return self._flow.name

    def token(self) -> str:
        """Return a token with more than the margin of its life left, asking for a new one
        when needed; raise TokenUnavailable or TokenRefused."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def renew(self, refused: str) -> str:
        """Return a new token in place of ``refused`` (the server would not take it); a token
        another thread renewed meanwhile is returned as it is."""
        with self._lock:
            if self._token is None or self._token == refused:
                self._fetch()
            assert self._token is not None
            return self._token

    def _fetch(self) -> None:
        grant = self._flow.request()
        self.requests += 1
        lifetime = grant.lifetime_s if grant.lifetime_s > 0 else DEFAULT_LIFETIME_S
        margin = min(REFRESH_MARGIN_S, lifetime * MARGIN_FRACTION)
        self._token, self._renew_at = grant.access_token, self._clock() + lifetime - margin
        log.info("%s: new access token, valid %.0f s", self._flow.name, lifetime)
