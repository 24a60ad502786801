"""A real OAuth2 authorization server on loopback: token endpoint, introspection, MSAL discovery.

``running_authorization_server()`` serves, over HTTP or HTTPS (a throwaway certificate):

- ``POST /token`` and ``POST /<tenant>/oauth2/v2.0/token``: the refresh-token and
  client-credentials grants of RFC 6749, for registered clients; access tokens are random and
  last ``lifetime_s``; a refresh token may be rotated (``rotate=True``).
- ``GET /<tenant>/v2.0/.well-known/openid-configuration``: what MSAL reads to find the token
  endpoint of an Entra ID tenant.
- ``POST /introspect``: RFC 7662 introspection, as Dovecot's ``oauth2`` passdb and the test SMTP
  server ask it: ``{"active": true, "email": user}`` for a live token, ``{"active": false}``
  otherwise.

Tests register clients and refresh tokens, revoke or expire tokens, and read what was asked.
Importable without pytest.
"""

from __future__ import annotations

import json
import secrets
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.servers.smtp import HOST, make_certificate

DISCOVERY_SUFFIX = "/v2.0/.well-known/openid-configuration"
MSAL_TOKEN_SUFFIX = "/oauth2/v2.0/token"


@dataclass
class Client:
    """A registered application: its secret and, for client credentials, its mailbox."""

    secret: str | None
    mailbox: str | None = None  # the mailbox an app-only token may open


@dataclass
class AuthorizationServer:
    """The server's state; the HTTP handler reads and changes it under ``lock``."""

    base_url: str = ""
    cafile: Path | None = None
    lifetime_s: float = 3600.0
    rotate: bool = False
    failing: int = 0  # answer the next N token requests with 503
    clients: dict[str, Client] = field(default_factory=dict)
    refresh_tokens: dict[str, tuple[str, str]] = field(default_factory=dict)  # rt -> client, user
    issued: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> user, expiry
    grants: list[dict[str, str]] = field(default_factory=list)  # every token request's form
    introspections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def forget(self, *, rotate: bool = False) -> AuthorizationServer:
        """Forget every client, consent and request, as a new server (one per test module is
        started; each test begins with this); ``rotate``: rotate refresh tokens from now on."""
        with self.lock:
            self.clients.clear()
            self.refresh_tokens.clear()
            self.grants.clear()
            self.failing, self.rotate, self.lifetime_s = 0, rotate, 3600.0
        return self

    def register(self, client_id: str, secret: str | None, mailbox: str | None = None) -> None:
        """Register an application (``mailbox`` for its client-credentials tokens)."""
        with self.lock:
            self.clients[client_id] = Client(secret, mailbox)

    def consent(self, client_id: str, user: str) -> str:
        """Return a new refresh token: ``user`` consented to ``client_id``."""
        token = "rt-" + secrets.token_urlsafe(16)
        with self.lock:
            self.refresh_tokens[token] = (client_id, user)
        return token

    def issue(self, user: str) -> str:
        """Return a live access token for ``user`` (as if a grant had been made)."""
        token = "at-" + secrets.token_urlsafe(24)
        with self.lock:
            self.issued[token] = (user, time.time() + self.lifetime_s)
        return token

    def expire_all(self) -> None:
        """Make every access token issued so far expired (as an hour passing would)."""
        with self.lock:
            self.issued = {t: (u, 0.0) for t, (u, _exp) in self.issued.items()}

    def user_of(self, token: str) -> str | None:
        """Return the user of a live ``token``, or None."""
        with self.lock:
            self.introspections += 1
            user, expiry = self.issued.get(token, ("", 0.0))
        return user if user and expiry > time.time() else None

    def token_url(self, tenant: str | None = None) -> str:
        """The token endpoint: plain, or the Entra ID form of ``tenant``."""
        return (
            f"{self.base_url}/{tenant}{MSAL_TOKEN_SUFFIX}" if tenant else f"{self.base_url}/token"
        )

    def grant(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        """Answer one token request: (HTTP status, JSON body)."""
        with self.lock:
            self.grants.append(form)
            if self.failing > 0:
                self.failing -= 1
                return HTTPStatus.SERVICE_UNAVAILABLE, {"error": "temporarily_unavailable"}
            client = self.clients.get(form.get("client_id", ""))
            if client is None or (client.secret and form.get("client_secret") != client.secret):
                return HTTPStatus.UNAUTHORIZED, {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                }
            user = self._grant_user(form, client)
        if user is None:
            return HTTPStatus.BAD_REQUEST, {
                "error": "invalid_grant",
                "error_description": "The refresh token has expired or was revoked.",
            }
        body: dict[str, object] = {
            "access_token": self.issue(user),
            "token_type": "Bearer",
            "expires_in": int(self.lifetime_s) if self.lifetime_s >= 1 else self.lifetime_s,
            "scope": form.get("scope", ""),
        }
        if form.get("grant_type") == "refresh_token" and self.rotate:
            with self.lock:
                old = form["refresh_token"]
                body["refresh_token"] = new = "rt-" + secrets.token_urlsafe(16)
                self.refresh_tokens[new] = self.refresh_tokens.pop(old)
        return HTTPStatus.OK, body

    def _grant_user(self, form: dict[str, str], client: Client) -> str | None:
        if form.get("grant_type") == "client_credentials":
            return client.mailbox
        if form.get("grant_type") == "refresh_token":
            owner = self.refresh_tokens.get(form.get("refresh_token", ""))
            if owner and owner[0] == form.get("client_id"):
                return owner[1]
        return None


def _handler(state: AuthorizationServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Stay quiet: tests read the server's state instead."""

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path.endswith(DISCOVERY_SUFFIX):
                tenant_url = state.base_url + path.removesuffix(DISCOVERY_SUFFIX)
                self._json(HTTPStatus.OK, {
                    "token_endpoint": tenant_url + MSAL_TOKEN_SUFFIX,
                    "authorization_endpoint": tenant_url + "/oauth2/v2.0/authorize",
                    "issuer": tenant_url + "/v2.0",
                })  # fmt: skip
                return
            self._json(HTTPStatus.NOT_FOUND, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            path = urlsplit(self.path).path
            if path == "/introspect":
                user = state.user_of(form.get("token", ""))
                body: dict[str, object] = (
                    {"active": True, "email": user} if user else {"active": False}
                )
                self._json(HTTPStatus.OK, body)
            elif path == "/token" or path.endswith(MSAL_TOKEN_SUFFIX):
                self._json(*state.grant(form))
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": "not_found"})

        def _json(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def running_authorization_server(*, tls: bool = False) -> Iterator[AuthorizationServer]:
    """Serve an ``AuthorizationServer`` on a free loopback port until the block ends."""
    state = AuthorizationServer()
    with tempfile.TemporaryDirectory(prefix="mailflow-oauth-") as tmp:
        httpd = ThreadingHTTPServer((HOST, 0), _handler(state))
        httpd.daemon_threads = True
        if tls:
            cert, key = make_certificate(Path(tmp))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
            state.cafile = cert
        port = httpd.server_address[1]
        state.base_url = f"{'https' if tls else 'http'}://{HOST}:{port}"
        thread = threading.Thread(target=httpd.serve_forever, name="oauth-server", daemon=True)
        thread.start()
        try:
            yield state
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join()
