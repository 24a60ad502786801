"""Transports: hand composed mail to the next hop (``MAILFLOW_TRANSPORT``, DESIGN.md §3).

``open_transport(settings)`` returns a ``FileTransport`` for ``file://``, an ``SmtpTransport`` for
``smtp://``/``smtps://`` and an ``EwsTransport`` for ``ews://`` (on-premises Exchange). Transports
never decide, render or store; this package imports nothing of mailflow but ``settings``,
``errors``, ``oauth``, ``ews`` and itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mailflow.errors import ConfigurationError
from mailflow.ews import EwsUrl
from mailflow.oauth import AccessTokens, open_tokens
from mailflow.outbound.transports.base import (
    RecipientsRefused,
    SendConfigurationError,
    Transport,
)
from mailflow.outbound.transports.file import FileTransport
from mailflow.outbound.transports.smtp import SmtpTransport
from mailflow.outbound.transports.url import (
    DEFAULT_SESSIONS,
    FileUrl,
    SmtpUrl,
    TransportUrl,
    parse_transport_url,
)
from mailflow.settings import Settings

if TYPE_CHECKING:
    from mailflow.outbound.transports.ews import EwsTransport

__all__ = [
    "EwsTransport",
    "FileTransport",
    "FileUrl",
    "RecipientsRefused",
    "SendConfigurationError",
    "SmtpTransport",
    "SmtpUrl",
    "Transport",
    "TransportUrl",
    "open_transport",
    "parse_transport_url",
    "sessions_for",
]


def open_transport(
    settings: Settings, tokens: Callable[[], AccessTokens] | None = None
) -> Transport:
    """Return the transport ``settings.transport`` names; raise ConfigurationError if unusable.

    ``tokens`` gives the OAuth2 tokens an ``auth=xoauth2|oauthbearer`` transport logs in with
    (a runtime's, shared by its transports); by default the transport gets its own."""
    url = parse_transport_url(settings.transport)
    if isinstance(url, FileUrl):
        return FileTransport(url.path)
    password = settings.transport_secret()
    if isinstance(url, EwsUrl):
        if not password:
            raise ConfigurationError(
                f"{url.name} needs MAILFLOW_TRANSPORT_PASSWORD or MAILFLOW_TRANSPORT_PASSWORD_FILE"
            )
        from mailflow.outbound.transports.ews import EwsTransport

        return EwsTransport(url, password)
    if url.auth.uses_token:
        if password:
            raise ConfigurationError(
                f"MAILFLOW_TRANSPORT: auth={url.auth.value} logs in with an OAuth2 token;"
                " unset MAILFLOW_TRANSPORT_PASSWORD(_FILE)"
            )
        return SmtpTransport(url, tokens=tokens() if tokens else open_tokens(settings))
    if url.username is None and password:
        raise ConfigurationError(
            "MAILFLOW_TRANSPORT_PASSWORD is set but MAILFLOW_TRANSPORT names no user"
            " (smtp://user%40domain@host:port)"
        )
    if url.username is not None and not password:
        raise ConfigurationError(
            f"{url.name} needs MAILFLOW_TRANSPORT_PASSWORD or MAILFLOW_TRANSPORT_PASSWORD_FILE"
        )
    return SmtpTransport(url, password)


def __getattr__(name: str) -> Any:
    """Import the EWS transport, and with it exchangelib (~40 MB of memory), only when used."""
    if name == "EwsTransport":
        from mailflow.outbound.transports.ews import EwsTransport

        return EwsTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sessions_for(settings: Settings) -> int:
    """Return how many deliveries one process runs at once for ``settings.transport``, each
    thread on a session of its own: the SMTP URL's ``sessions=`` (3 on Microsoft 365), else
    ``DEFAULT_SESSIONS``."""
    url = parse_transport_url(settings.transport)
    return url.sessions if isinstance(url, SmtpUrl) else DEFAULT_SESSIONS
