"""Sign-in links and API tokens of the web view, stored hashed (revision 0010). Never commits.

Only a secret's digest reaches these functions: the secrets themselves stay in ``web/auth.py``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mailflow.store.models import ApiToken, SignInLink


def add_link(
    session: Session, token_hash: str, address: str, now: datetime, expires_at: datetime
) -> None:
    """Add an unused sign-in link for ``address``."""
    session.add(
        SignInLink(
            token_hash=token_hash, address=address, created_at=now, expires_at=expires_at,
            used_at=None,
        )
    )  # fmt: skip


def link_with_hash(session: Session, token_hash: str) -> SignInLink | None:
    """Return the sign-in link whose secret has this digest, or None."""
    return session.scalar(select(SignInLink).where(SignInLink.token_hash == token_hash))


def spend_link(session: Session, link_id: int, now: datetime) -> bool:
    """Mark a link used unless it was already; return whether this call spent it (of two
    racing callers, only one gets True)."""
    spent = session.execute(
        update(SignInLink)
        .where(SignInLink.id == link_id, SignInLink.used_at.is_(None))
        .values(used_at=now)
    )
    return getattr(spent, "rowcount", 0) == 1


def links_since(session: Session, address: str, since: datetime) -> int:
    """Return how many sign-in links ``address`` was sent after ``since``."""
    count = session.scalar(
        select(func.count(SignInLink.id)).where(
            SignInLink.address == address, SignInLink.created_at > since
        )
    )
    return count or 0


def add_token(
    session: Session, token_hash: str, address: str, label: str | None, now: datetime
) -> None:
    """Add an API token acting for ``address``."""
    session.add(
        ApiToken(token_hash=token_hash, address=address, label=label, created_at=now,
                 revoked_at=None)
    )  # fmt: skip


def token_with_hash(session: Session, token_hash: str) -> ApiToken | None:
    """Return the API token with this digest, or None."""
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))
