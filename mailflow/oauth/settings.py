"""Build the token flow the ``MAILFLOW_OAUTH_*`` settings describe, checking them first.

Providers and their defaults:

``microsoft``
    Entra ID through MSAL; authority ``https://login.microsoftonline.com/<tenant>`` (or
    ``MAILFLOW_OAUTH_AUTHORITY``, e.g. ``https://login.chinacloudapi.cn/<tenant>`` for 21Vianet).
    ``client_credentials``: scope ``https://outlook.office365.com/.default`` (the app's
    IMAP.AccessAsApp / SMTP.SendAsApp permissions); ``refresh_token``: the delegated scopes
    IMAP.AccessAsUser.All and SMTP.Send.
``google``
    ``refresh_token`` only, at ``https://oauth2.googleapis.com/token``, scope
    ``https://mail.google.com/``.
``generic``
    any RFC 6749 token endpoint (``MAILFLOW_OAUTH_TOKEN_URL``), either grant.

Secrets (client secret, refresh token) come from the variable or its ``_FILE``, like the
passwords. Imports nothing of mailflow but ``settings``, ``errors`` and its own package.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import SecretStr

from mailflow.errors import ConfigurationError
from mailflow.oauth.token import AccessTokens, TokenFlow
from mailflow.settings import Settings

if TYPE_CHECKING:
    from mailflow.oauth.flows import GrantType, MsalFlow

MICROSOFT, GOOGLE, GENERIC = "microsoft", "google", "generic"
PROVIDERS = (MICROSOFT, GOOGLE, GENERIC)
MICROSOFT_LOGIN = "https://login.microsoftonline.com"
MICROSOFT_APP_SCOPES = ["https://outlook.office365.com/.default"]
MICROSOFT_USER_SCOPES = [
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
]
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_SCOPE = "https://mail.google.com/"
_PREFIX = "MAILFLOW_OAUTH_"


def open_tokens(settings: Settings) -> AccessTokens:
    """Return the access tokens the settings describe; raise ConfigurationError naming the
    variable that is missing or wrong."""
    return AccessTokens(token_flow(settings))


def token_flow(settings: Settings) -> TokenFlow:
    """Return the flow ``MAILFLOW_OAUTH_PROVIDER`` and ``_GRANT`` name; raise ConfigurationError."""
    # imported here: msal and requests cost every process that loads them, and only a
    # mailbox or transport that logs in by OAuth2 needs them
    from mailflow.oauth.flows import EndpointFlow, GrantType

    provider = (settings.oauth_provider or "").lower()
    if provider not in PROVIDERS:
        raise ConfigurationError(
            f"{_PREFIX}PROVIDER: {settings.oauth_provider or '(unset)'!r}; ?auth=xoauth2 and"
            f" ?auth=oauthbearer need one of {', '.join(PROVIDERS)}"
        )
    grant = _grant(settings.oauth_grant)
    client_id = _required(settings.oauth_client_id, "CLIENT_ID")
    secret = _secret(
        settings.oauth_client_secret, settings.oauth_client_secret_file, "CLIENT_SECRET"
    )
    refresh = _secret(
        settings.oauth_refresh_token, settings.oauth_refresh_token_file, "REFRESH_TOKEN"
    )
    if grant is GrantType.REFRESH_TOKEN and not refresh:
        raise ConfigurationError(
            f"{_PREFIX}GRANT=refresh_token needs {_PREFIX}REFRESH_TOKEN(_FILE)"
        )
    if grant is GrantType.CLIENT_CREDENTIALS and not secret:
        raise ConfigurationError(
            f"{_PREFIX}GRANT=client_credentials needs {_PREFIX}CLIENT_SECRET(_FILE)"
        )
    if provider == MICROSOFT:
        return _microsoft(settings, grant, client_id, secret, refresh)
    if provider == GOOGLE and grant is not GrantType.REFRESH_TOKEN:
        raise ConfigurationError(
            f"{_PREFIX}GRANT: Google gives mail access by refresh_token only (service accounts"
            " with domain-wide delegation are not supported)"
        )
    default_url, default_scope = (
        (GOOGLE_TOKEN_URL, GOOGLE_SCOPE) if provider == GOOGLE else (None, None)
    )
    token_url = _https(settings.oauth_token_url or default_url, "TOKEN_URL")
    return EndpointFlow(
        provider=provider, token_url=token_url, grant=grant, client_id=client_id,
        client_secret=secret, refresh_token=refresh, scope=settings.oauth_scope or default_scope,
        cafile=settings.oauth_cafile,
    )  # fmt: skip


def _microsoft(
    settings: Settings, grant: GrantType, client_id: str, secret: str | None, refresh: str | None
) -> MsalFlow:
    from mailflow.oauth.flows import GrantType, MsalFlow

    if settings.oauth_authority:
        authority = _https(settings.oauth_authority, "AUTHORITY").rstrip("/")
    else:
        tenant = _required(settings.oauth_tenant, "TENANT")
        authority = f"{MICROSOFT_LOGIN}/{tenant}"
    default = (
        MICROSOFT_APP_SCOPES if grant is GrantType.CLIENT_CREDENTIALS else MICROSOFT_USER_SCOPES
    )
    scopes = settings.oauth_scope.split() if settings.oauth_scope else list(default)
    return MsalFlow(
        authority=authority, grant=grant, client_id=client_id, scopes=scopes,
        client_secret=secret, refresh_token=refresh, cafile=settings.oauth_cafile,
        known_authority=not settings.oauth_authority,
    )  # fmt: skip


def _grant(value: str) -> GrantType:
    from mailflow.oauth.flows import GrantType

    try:
        return GrantType(value.lower())
    except ValueError:
        known = ", ".join(g.value for g in GrantType)
        raise ConfigurationError(f"{_PREFIX}GRANT: {value!r}; use {known}") from None


def _required(value: str | None, name: str) -> str:
    if not value or not value.strip():
        raise ConfigurationError(f"{_PREFIX}{name} is required for OAuth2")
    return value.strip()


def _https(value: str | None, name: str) -> str:
    if not value:
        raise ConfigurationError(f"{_PREFIX}{name} is required for this provider")
    parts = urlsplit(value)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ConfigurationError(f"{_PREFIX}{name} must be an https:// URL (secrets travel to it)")
    return value


def _secret(value: SecretStr | None, file: Path | None, name: str) -> str | None:
    if value is not None and file is not None:
        raise ConfigurationError(f"set {_PREFIX}{name} or {_PREFIX}{name}_FILE, not both")
    if value is not None:
        return value.get_secret_value().strip() or None
    if file is None:
        return None
    try:
        return file.read_text(encoding="utf-8").strip() or None
    except OSError as e:
        raise ConfigurationError(f"{_PREFIX}{name}_FILE: cannot read {file}: {e.strerror}") from e
