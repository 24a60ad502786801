"""What the mailbox and transport URLs share: the TLS choice and the query options.

``MAILFLOW_SOURCE`` (imap://, imaps://) and ``MAILFLOW_TRANSPORT`` (smtp://, smtps://) are read
the same way: ``?security=starttls|none`` on the plain scheme, always TLS on the ``s`` scheme,
unknown options refused by name. Imports nothing of mailflow but ``errors``.
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
