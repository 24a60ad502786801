"""Token flows: refresh token and client credentials at a token endpoint, and Microsoft's MSAL.

``EndpointFlow`` speaks RFC 6749 §4.4 / §6 to any token endpoint (Google's, a company's own
identity server, the test server). ``MsalFlow`` lets MSAL talk to Microsoft Entra ID (tenant
discovery, client credentials, refresh tokens; also the 21Vianet cloud). A refresh token a
server rotates is shared by every flow of the grant and kept (``oauth.refresh``). Errors
become ``TokenUnavailable`` (network, 5xx: retry) or ``TokenRefused`` (4xx, a refused grant
or client), never quoting a secret. Imports nothing of mailflow but ``errors`` and its own
package.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msal
import requests

from mailflow.errors import TokenRefused, TokenUnavailable
from mailflow.oauth.refresh import shared
from mailflow.oauth.token import Grant

log = logging.getLogger(__name__)

TIMEOUT_S = 30.0
_SERVER_ERROR = 500


class GrantType(enum.Enum):
    """How the client proves it may have a token (RFC 6749)."""

    REFRESH_TOKEN = "refresh_token"  # delegated: a user consented once
    CLIENT_CREDENTIALS = "client_credentials"  # app-only: an administrator granted the app


@dataclass
class EndpointFlow:
    """Ask a token endpoint directly with a form POST (Google, generic identity servers)."""

    provider: str
    token_url: str
    grant: GrantType
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    cafile: Path | None = None
    timeout_s: float = TIMEOUT_S

    @property
    def name(self) -> str:
        """``provider grant`` for logs and errors."""
        return f"{self.provider} {self.grant.value}"

    @property
    def grant_name(self) -> str:
        """A secret-free name of the grant: provider, endpoint and client."""
        return f"{self.provider} {self.token_url} {self.client_id}"

    def request(self) -> Grant:
        """POST the grant; return the token; raise TokenUnavailable or TokenRefused."""
        if self.grant is GrantType.REFRESH_TOKEN:
            refresh = shared(self.grant_name, self.refresh_token or "")
            return refresh.exchange(self._post)
        return self._post(None)[0]

    def _post(self, refresh_token: str | None) -> tuple[Grant, str | None]:
        """Ask the endpoint; return the token and the refresh token it rotated to, if any."""
        form = {"grant_type": self.grant.value, "client_id": self.client_id}
        if self.client_secret:
            form["client_secret"] = self.client_secret
        if refresh_token is not None:
            form["refresh_token"] = refresh_token
        if self.scope:
            form["scope"] = self.scope
        try:
            with HttpSession(self.cafile, self.timeout_s) as session:
                response = session.post(
                    self.token_url, data=form, headers={"Accept": "application/json"}
                )
        except requests.RequestException as e:  # its text names the URL, never the form
            raise TokenUnavailable(f"{self.name}: the token endpoint is unreachable: {e}") from e
        body = _json(response)
        if response.status_code >= _SERVER_ERROR:
            raise TokenUnavailable(
                f"{self.name}: the token endpoint answered {response.status_code}"
            )
        if response.status_code != requests.codes.ok or "access_token" not in body:
            raise TokenRefused(
                f"{self.name}: the token endpoint refused: {_problem(body, response)}"
            )
        rotated = str(body["refresh_token"]) if body.get("refresh_token") else None
        return Grant(str(body["access_token"]), _lifetime(body)), rotated


@dataclass
class MsalFlow:
    """Ask Microsoft Entra ID through MSAL (Microsoft 365's IMAP and SMTP)."""

    authority: str
    grant: GrantType
    client_id: str
    scopes: list[str]
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    cafile: Path | None = None
    known_authority: bool = True  # False: a host MSAL does not know; skip instance discovery
    _app: msal.ClientApplication | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """``microsoft grant`` for logs and errors."""
        return f"microsoft {self.grant.value}"

    @property
    def grant_name(self) -> str:
        """A secret-free name of the grant: the authority and the client."""
        return f"microsoft {self.authority} {self.client_id}"

    def request(self) -> Grant:
        """Ask MSAL; return the token; raise TokenUnavailable or TokenRefused."""
        if self.grant is GrantType.REFRESH_TOKEN:
            refresh = shared(self.grant_name, self.refresh_token or "")
            return refresh.exchange(self._ask)
        return self._ask(None)[0]

    def _ask(self, refresh_token: str | None) -> tuple[Grant, str | None]:
        try:
            result = self._acquire(refresh_token)
        except requests.RequestException as e:
            raise TokenUnavailable(f"{self.name}: Entra ID is unreachable: {e}") from e
        except ValueError as e:  # MSAL's tenant discovery failed: a wrong tenant or authority
            self._app = None
            raise TokenRefused(f"{self.name}: {str(e).splitlines()[0]}") from e
        if not result or "access_token" not in result:
            raise TokenRefused(f"{self.name}: Entra ID refused: {_problem(result or {}, None)}")
        rotated = str(result["refresh_token"]) if result.get("refresh_token") else None
        return Grant(str(result["access_token"]), _lifetime(result)), rotated

    def _acquire(self, refresh_token: str | None) -> dict[str, Any] | None:
        app = self._application()
        if refresh_token is None:
            assert isinstance(app, msal.ConfidentialClientApplication)
            result: dict[str, Any] | None = app.acquire_token_for_client(scopes=self.scopes)
            return result
        result = app.acquire_token_by_refresh_token(refresh_token, scopes=self.scopes)
        return result

    def _application(self) -> msal.ClientApplication:
        if self._app is None:
            options: dict[str, Any] = {
                "authority": self.authority,
                "http_client": HttpSession(self.cafile),
            }
            if not self.known_authority:
                options |= {"validate_authority": False, "instance_discovery": False}
            if self.client_secret:
                self._app = msal.ConfidentialClientApplication(
                    self.client_id, client_credential=self.client_secret, **options
                )
            else:  # a public client (a desktop consent) may refresh without a secret
                self._app = msal.PublicClientApplication(self.client_id, **options)
        return self._app


class HttpSession(requests.Session):
    """A requests session with a timeout on every call that trusts ``cafile`` when given.

    requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` from the environment override a
    session's own ``verify`` (psf/requests#3829), so a configured CA file would be ignored on
    hosts that set them; here the session's choice wins. Proxies from the environment still
    apply.
    """

    def __init__(self, cafile: Path | None, timeout_s: float = TIMEOUT_S) -> None:
        super().__init__()
        self._cafile = str(cafile) if cafile else None
        self._timeout_s = timeout_s

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        """Send with the session's timeout and CA file unless the caller gave its own."""
        kwargs.setdefault("timeout", self._timeout_s)
        if self._cafile:  # given per call, it is not replaced by the environment's bundle
            kwargs.setdefault("verify", self._cafile)
        return super().request(method, url, *args, **kwargs)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _problem(body: dict[str, Any], response: requests.Response | None) -> str:
    """Return ``error: first line of error_description`` (OAuth's error fields hold no secret)."""
    error = str(body.get("error") or (f"HTTP {response.status_code}" if response else "no token"))
    description = str(body.get("error_description") or "").strip().splitlines()
    return f"{error}: {description[0]}" if description else error


def _lifetime(body: dict[str, Any]) -> float:
    try:
        return float(body.get("expires_in") or 0)
    except (TypeError, ValueError):
        return 0.0
