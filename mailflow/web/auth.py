"""Signing in to the web view: one-time links, session cookies, API tokens. No passwords.

A link's secret and an API token are random (``secrets.token_urlsafe``); the database keeps only
their SHA-256, so a copy of it signs nobody in. A link works once, for 15 minutes. A session is
a cookie signed with the web secret (itsdangerous), carrying the address, a CSRF token and the
time it was made; it is refused after ``web_session_hours``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session, sessionmaker

from mailflow.store import web_credentials as credentials
from mailflow.store.db import writing

LINK_LIFETIME = timedelta(minutes=15)
API_TOKEN_PREFIX = "mft_"


def digest(secret: str) -> str:
    """Return the stored form of a secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_link(session: Session, address: str, now: datetime) -> str:
    """Store a sign-in link for ``address`` (hashed) and return its secret."""
    secret = secrets.token_urlsafe(32)
    credentials.add_link(session, digest(secret), address.lower(), now, now + LINK_LIFETIME)
    return secret


def use_link(sessions: sessionmaker[Session], secret: str, now: datetime) -> str | None:
    """Spend a link: return its address, or None when it is unknown, used or expired. Two
    browsers racing for one link: the update only one of them makes decides."""
    with writing(sessions) as session:
        link = credentials.link_with_hash(session, digest(secret))
        if link is None or link.used_at is not None or link.expires_at <= now:
            return None
        return link.address if credentials.spend_link(session, link.id, now) else None


def link_is_usable(sessions: sessionmaker[Session], secret: str, now: datetime) -> bool:
    """Whether a link would still sign someone in (the page that asks to confirm shows it)."""
    with sessions() as session:
        link = credentials.link_with_hash(session, digest(secret))
        return link is not None and link.used_at is None and link.expires_at > now


def create_api_token(
    sessions: sessionmaker[Session], address: str, label: str | None, now: datetime
) -> str:
    """Store a new API token for ``address`` (hashed) and return it, shown once."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    with writing(sessions) as session:
        credentials.add_token(session, digest(token), address.lower(), label, now)
    return token


def token_address(sessions: sessionmaker[Session], token: str) -> str | None:
    """Return the address an API token acts for, or None when unknown or revoked."""
    with sessions() as session:
        row = credentials.token_with_hash(session, digest(token))
        return row.address if row is not None and row.revoked_at is None else None


@dataclass(frozen=True)
class WebSession:
    """What the session cookie says: who, and the token their forms must carry."""

    address: str
    csrf: str


class CookieSigner:
    """Signs and checks session cookies with the web secret."""

    def __init__(self, secret: str, lifetime: timedelta) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="mailflow-web-session")
        self.lifetime = lifetime

    def issue(self, address: str) -> str:
        """Return a cookie value for ``address`` with a fresh CSRF token."""
        return self._serializer.dumps({"a": address, "c": secrets.token_urlsafe(24)})

    def read(self, value: str | None) -> WebSession | None:
        """Return the session in a cookie, or None when absent, forged or expired."""
        if not value:
            return None
        try:
            data: Any = self._serializer.loads(value, max_age=int(self.lifetime.total_seconds()))
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("a"), str):
            return None
        return WebSession(data["a"], str(data.get("c", "")))


def same_token(given: str | None, expected: str) -> bool:
    """Compare a CSRF token in constant time."""
    return bool(given) and bool(expected) and secrets.compare_digest(str(given), expected)


def utcnow() -> datetime:
    """Now, aware."""
    return datetime.now(UTC)
