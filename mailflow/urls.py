"""What the mailbox and transport URLs share: the TLS choice and the query options.

``MAILFLOW_SOURCE`` (imap://, imaps://) and ``MAILFLOW_TRANSPORT`` (smtp://, smtps://) are read
the same way: ``?security=starttls|none`` on the plain scheme, always TLS on the ``s`` scheme,
``?auth=password|xoauth2|oauthbearer``, unknown options refused by name. Imports nothing of
mailflow but ``errors``.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from urllib.parse import SplitResult, parse_qsl

from mailflow.errors import ConfigurationError


class Security(enum.Enum):
    """How a connection is protected."""

    STARTTLS = "starttls"
    NONE = "none"
    TLS = "tls"  # implicit TLS: imaps://, smtps://


class Auth(enum.Enum):
    """How a mailbox or SMTP server is logged in to (``?auth=``)."""

    PASSWORD = "password"  # the *_PASSWORD secret: LOGIN / AUTHENTICATE PLAIN, SMTP AUTH
    XOAUTH2 = "xoauth2"  # an OAuth2 access token (Microsoft 365, Gmail)
    OAUTHBEARER = "oauthbearer"  # the same token by RFC 7628

    @property
    def uses_token(self) -> bool:
        """Whether this login needs an OAuth2 access token (MAILFLOW_OAUTH_*)."""
        return self is not Auth.PASSWORD


def auth_of(value: str | None, variable: str) -> Auth:
    """Return the ``?auth=`` choice (``password`` when absent); raise ConfigurationError."""
    try:
        return Auth(value.lower()) if value else Auth.PASSWORD
    except ValueError:
        known = ", ".join(a.value for a in Auth)
        raise ConfigurationError(f"{variable}: auth={value!r}; use {known}") from None


def query_options(parts: SplitResult, variable: str, known: Collection[str]) -> dict[str, str]:
    """Return the URL's query options; raise ConfigurationError naming ``variable`` for a
    malformed query or an unknown option (a typo must not be ignored silently)."""
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ConfigurationError(f"{variable}: malformed query string") from None
    query = dict(pairs)
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise ConfigurationError(
            f"{variable}: unknown option(s) {', '.join(unknown)}"
            f" (known: {', '.join(sorted(known))})"
        )
    return query


def security_of(value: str | None, tls_scheme: str, implicit_tls: bool, variable: str) -> Security:
    """Return the TLS choice: ``tls_scheme`` (imaps, smtps) is always TLS, otherwise STARTTLS
    unless ``?security=none``."""
    if implicit_tls:
        if value not in (None, Security.TLS.value):
            raise ConfigurationError(f"{variable}: {tls_scheme}:// is always TLS; drop ?security=")
        return Security.TLS
    if value is None:
        return Security.STARTTLS
    if value not in (Security.STARTTLS.value, Security.NONE.value):
        raise ConfigurationError(
            f"{variable}: security={value!r}; use starttls or none (or {tls_scheme}:// for TLS)"
        )
    return Security(value)
