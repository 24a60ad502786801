"""SMTP AUTH XOAUTH2 and OAUTHBEARER against a real aiosmtpd that checks tokens by asking a
real authorization server on loopback."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, AuthResult

from mailflow.errors import TransientSendError
from mailflow.jobs.runner import run_once
from mailflow.oauth.flows import EndpointFlow, GrantType
from mailflow.oauth.token import AccessTokens
from mailflow.outbound.transports import (
    SendConfigurationError,
    SmtpTransport,
    open_transport,
    parse_transport_url,
)
from mailflow.outbound.transports.url import SmtpUrl
from mailflow.service.runtime import build_runtime, open_source
from mailflow.settings import load_settings
from tests.example_site import example_settings
from tests.outbound.test_smtp import SENDER, TO, mail
from tests.servers.oauth import AuthorizationServer, running_authorization_server
from tests.servers.smtp import Sink, SmtpServer, running_smtp

CLIENT, SECRET = "mailflow-desk", "smtp-client-secret-never-shown"


@dataclass
class TokenSink(Sink):
    """A Sink that takes XOAUTH2 and OAUTHBEARER, checking the bearer token by introspection."""

    authorization: AuthorizationServer | None = None
    logins: list[tuple[str, str]] = field(default_factory=list)  # (mechanism, user)

    def _check(self, mechanism: str, user: str, token: str) -> AuthResult:
        assert self.authorization is not None
        if user and self.authorization.user_of(token) == user:
            self.logins.append((mechanism, user))
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)  # 535, not a hang

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """``user=…^Aauth=Bearer …^A^A`` (Google's and Microsoft's XOAUTH2)."""
        fields = _fields(args)
        return self._check("XOAUTH2", fields.get("user", ""), fields.get("auth", "")[7:])

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        """``n,a=user,^Aauth=Bearer …^A^A`` (RFC 7628)."""
        fields = _fields(args)
        gs2 = next((f for f in fields if f.startswith("n,")), "")
        user = gs2.removeprefix("n,a=").rstrip(",").replace("=2C", ",").replace("=3D", "=")
        return self._check("OAUTHBEARER", user, fields.get("auth", "")[7:])


def _fields(args: list[str]) -> dict[str, str]:
    if len(args) < 2:
        return {}
    decoded = base64.b64decode(args[1]).decode()
    out: dict[str, str] = {}
    for part in decoded.split("\x01"):
        key, sep, value = part.partition("=")
        out[key if sep and not part.startswith("n,") else part] = value if sep else ""
    return out


@pytest.fixture(scope="module")
def authorization() -> Iterator[AuthorizationServer]:
    """The authorization server the SMTP server asks about tokens."""
    with running_authorization_server() as server:
        server.register(CLIENT, SECRET)
        yield server


@pytest.fixture(scope="module")
def server(authorization: AuthorizationServer) -> Iterator[SmtpServer]:
    """A STARTTLS SMTP server that takes OAuth2 tokens."""
    with running_smtp(sink=TokenSink(authorization=authorization)) as running:
        yield running


def _transport(
    server: SmtpServer, authorization: AuthorizationServer, auth: str, refresh: str | None = None
) -> tuple[SmtpTransport, AccessTokens]:
    url = parse_transport_url(server.url() + f"&auth={auth}")
    assert isinstance(url, SmtpUrl)
    flow = EndpointFlow(
        provider="generic", token_url=authorization.token_url(), grant=GrantType.REFRESH_TOKEN,
        client_id=CLIENT, client_secret=SECRET,
        refresh_token=refresh or authorization.consent(CLIENT, SENDER),
    )  # fmt: skip
    tokens = AccessTokens(flow)
    return SmtpTransport(url, tokens=tokens, keepalive_s=0), tokens


@pytest.mark.parametrize("auth", ["xoauth2", "oauthbearer"])
def test_token_login_delivers(
    server: SmtpServer, authorization: AuthorizationServer, auth: str
) -> None:
    """Each token mechanism logs in as the mailbox and the mail is delivered."""
    server.sink.reset()
    transport, _tokens = _transport(server, authorization, auth)
    with transport:
        transport.send(mail(1), SENDER, [TO])
    assert [m.rcpt_tos for m in server.sink.received] == [(TO,)]
    assert isinstance(server.sink, TokenSink)
    assert server.sink.logins[-1] == (auth.upper(), SENDER)


def test_a_token_refused_at_login_is_renewed(
    server: SmtpServer, authorization: AuthorizationServer
) -> None:
    """A token that stopped working is replaced on the next connect, and the mail goes out."""
    server.sink.reset()
    transport, tokens = _transport(server, authorization, "xoauth2")
    with transport:
        transport.send(mail(1), SENDER, [TO])
        authorization.expire_all()
        transport.send(mail(2), SENDER, [TO])  # keepalive 0: a new session, a refused token
    assert len(server.sink.received) == 2 and tokens.requests == 2


def test_a_refused_grant_is_a_configuration_error_without_secrets(
    server: SmtpServer, authorization: AuthorizationServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A revoked refresh token stops sending as a configuration error that shows no secret."""
    transport, _tokens = _transport(server, authorization, "xoauth2", refresh="rt-revoked-x")
    with caplog.at_level(logging.DEBUG), transport, pytest.raises(SendConfigurationError) as raised:
        transport.send(mail(1), SENDER, [TO])
    assert "invalid_grant" in str(raised.value)
    assert SECRET not in str(raised.value) + caplog.text
    assert "rt-revoked-x" not in str(raised.value) + caplog.text


def test_an_unreachable_token_endpoint_is_transient(
    server: SmtpServer, authorization: AuthorizationServer
) -> None:
    """When the token endpoint fails (503), the send is worth a retry, and the retry works."""
    transport, _tokens = _transport(server, authorization, "xoauth2")
    authorization.failing = 1
    with transport:
        with pytest.raises(TransientSendError, match="503"):
            transport.send(mail(1), SENDER, [TO])
        transport.send(mail(1), SENDER, [TO])


def test_open_transport_builds_the_token_flow_from_settings(
    server: SmtpServer, authorization: AuthorizationServer, tmp_path: Path
) -> None:
    """open_transport pairs ?auth=xoauth2 with MAILFLOW_OAUTH_* and its *_FILE secrets."""
    server.sink.reset()
    (tmp_path / "secret").write_text(SECRET)
    (tmp_path / "refresh").write_text(authorization.consent(CLIENT, SENDER))
    settings = load_settings(
        transport=server.url() + "&auth=xoauth2",
        oauth_provider="generic", oauth_token_url=authorization.token_url(),
        oauth_client_id=CLIENT, oauth_client_secret_file=tmp_path / "secret",
        oauth_refresh_token_file=tmp_path / "refresh",
    )  # fmt: skip
    with open_transport(settings) as transport:
        transport.send(mail(3), SENDER, [TO])
    assert len(server.sink.received) == 1


def test_a_runtimes_delivery_threads_share_one_token(
    server: SmtpServer, authorization: AuthorizationServer, sqlite_url: str, tmp_path: Path
) -> None:
    """The example inbox's answers go out over three SMTP sessions at once, all with the one
    token the runtime asked for: the token endpoint sees one request, not one per thread."""
    server.sink.reset()
    authorization.grants.clear()
    settings = example_settings(
        tmp_path, sqlite_url, transport=server.url() + "&auth=xoauth2&sessions=3",
        oauth_provider="generic", oauth_token_url=authorization.token_url(),
        oauth_client_id=CLIENT, oauth_client_secret=SECRET,
        oauth_refresh_token=authorization.consent(CLIENT, SENDER),
    )  # fmt: skip
    runtime = build_runtime(settings)
    try:
        report = run_once(runtime, open_source(settings))
    finally:
        runtime.close()
    assert report.outbox.get("sent", 0) == len(report.ingest.outbox_ids) > 3
    assert isinstance(server.sink, TokenSink) and len(server.sink.logins) > 1
    assert len(authorization.grants) == 1
