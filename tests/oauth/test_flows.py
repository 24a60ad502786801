"""Token flows against a real local authorization server: grants, rotation, refusals, outages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailflow.errors import TokenRefused, TokenUnavailable
from mailflow.oauth.flows import EndpointFlow, GrantType, MsalFlow
from mailflow.oauth.token import AccessTokens
from tests.servers.oauth import AuthorizationServer, running_authorization_server
from tests.servers.smtp import free_port

MAILBOX = "coord@example.com"
SECRET = "client-secret-do-not-print"
TENANT = "0b3f4d1e-6a2c-4b8e-9f11-2c3d4e5f6a7b"


@pytest.fixture(scope="module")
def _server() -> Iterator[AuthorizationServer]:
    with running_authorization_server(tls=True) as server:
        yield server


@pytest.fixture
def server(_server: AuthorizationServer) -> AuthorizationServer:
    """The HTTPS authorization server, its clients and grants forgotten."""
    return _server.forget()


def _endpoint(server: AuthorizationServer, refresh_token: str = "", **kw: object) -> EndpointFlow:
    options: dict[str, object] = {
        "provider": "google", "token_url": server.token_url(), "grant": GrantType.REFRESH_TOKEN,
        "client_id": "mailflow-desk", "client_secret": SECRET, "refresh_token": refresh_token,
        "scope": "https://mail.google.com/", "cafile": server.cafile,
    }  # fmt: skip
    return EndpointFlow(**(options | kw))  # type: ignore[arg-type]


def test_refresh_token_grant_gives_a_token_for_the_user(server: AuthorizationServer) -> None:
    """A refresh token is exchanged for an access token the server knows as the user's."""
    server.register("mailflow-desk", SECRET)
    grant = _endpoint(server, server.consent("mailflow-desk", MAILBOX)).request()
    assert server.user_of(grant.access_token) == MAILBOX
    assert grant.lifetime_s == 3600
    assert server.grants[-1]["scope"] == "https://mail.google.com/"


def test_a_rotated_refresh_token_is_used_next_time(server: AuthorizationServer) -> None:
    """When the server rotates the refresh token, the next request sends the new one."""
    server.register("mailflow-desk", SECRET)
    server.rotate = True
    first = server.consent("mailflow-desk", MAILBOX)
    flow = _endpoint(server, first)
    flow.request()
    flow.request()  # the first refresh token is gone from the server now
    assert server.grants[0]["refresh_token"] == first
    assert server.grants[1]["refresh_token"] != first


@pytest.mark.parametrize("kind", ["endpoint", "msal"])
def test_every_flow_of_one_grant_uses_the_newest_rotated_token(
    server: AuthorizationServer, kind: str
) -> None:
    """The mailbox, each delivery thread's SMTP session and the Sent folder each have a flow
    of the same grant. A server that rotates refresh tokens takes the old one no more: each
    flow must refresh with the token the last refresh of any of them returned."""
    server.register("mailflow-desk", SECRET)
    server.rotate = True
    first = server.consent("mailflow-desk", MAILBOX)
    scopes = ["https://outlook.office.com/SMTP.Send"]
    flows = [
        _endpoint(server, first)
        if kind == "endpoint"
        else _msal(
            server,
            GrantType.REFRESH_TOKEN,
            refresh_token=first,
            client_id="mailflow-desk",
            scopes=scopes,
        )
        for _ in range(3)
    ]
    for flow in [*flows, *flows]:
        assert server.user_of(flow.request().access_token) == MAILBOX
    sent = [g["refresh_token"] for g in server.grants]
    assert len(set(sent)) == 6 and sent[0] == first


def test_client_credentials_grant(server: AuthorizationServer) -> None:
    """An app-only client gets a token for the mailbox it was granted."""
    server.register("desk-app", SECRET, mailbox=MAILBOX)
    flow = _endpoint(server, "", grant=GrantType.CLIENT_CREDENTIALS, client_id="desk-app")
    assert server.user_of(flow.request().access_token) == MAILBOX
    assert "refresh_token" not in server.grants[-1]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"refresh_token": "rt-revoked-long-ago"}, "invalid_grant"),
        ({"client_secret": "wrong-secret-value"}, "invalid_client"),
        ({"client_id": "unknown-app"}, "invalid_client"),
    ],
)
def test_refusals_are_token_refused_without_secrets(
    server: AuthorizationServer, change: dict[str, str], expected: str
) -> None:
    """A refused grant or client is TokenRefused naming the OAuth error, never a secret."""
    server.register("mailflow-desk", SECRET)
    flow = _endpoint(
        server, **({"refresh_token": server.consent("mailflow-desk", MAILBOX)} | change)
    )
    with pytest.raises(TokenRefused, match=expected) as raised:
        flow.request()
    text = str(raised.value) + repr(flow)
    for secret in (SECRET, "rt-revoked-long-ago", "wrong-secret-value", flow.refresh_token or "?"):
        assert secret not in text


def test_server_errors_and_outages_are_worth_a_retry(server: AuthorizationServer) -> None:
    """A 503 and an unreachable endpoint are TokenUnavailable; the next try succeeds."""
    server.register("mailflow-desk", SECRET)
    flow = _endpoint(server, server.consent("mailflow-desk", MAILBOX))
    server.failing = 1
    with pytest.raises(TokenUnavailable, match="503"):
        flow.request()
    assert flow.request().access_token
    dead = _endpoint(server, "rt-x", token_url=f"https://127.0.0.1:{free_port()}/token")
    with pytest.raises(TokenUnavailable, match="unreachable"):
        dead.request()


def test_an_untrusted_certificate_is_not_accepted(server: AuthorizationServer) -> None:
    """Without the CA file the token endpoint's certificate does not verify: no token."""
    server.register("mailflow-desk", SECRET)
    flow = _endpoint(server, server.consent("mailflow-desk", MAILBOX), cafile=None)
    with pytest.raises(TokenUnavailable, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
        flow.request()


def _msal(server: AuthorizationServer, grant: GrantType, **kw: object) -> MsalFlow:
    options: dict[str, object] = {
        "authority": f"{server.base_url}/{TENANT}", "grant": grant, "client_id": "desk-app",
        "scopes": ["https://outlook.office365.com/.default"], "client_secret": SECRET,
        "cafile": server.cafile, "known_authority": False,
    }  # fmt: skip
    return MsalFlow(**(options | kw))  # type: ignore[arg-type]


def test_msal_client_credentials_through_tenant_discovery(server: AuthorizationServer) -> None:
    """MSAL finds the tenant's token endpoint and gets an app-only token for the mailbox."""
    server.register("desk-app", SECRET, mailbox=MAILBOX)
    grant = _msal(server, GrantType.CLIENT_CREDENTIALS).request()
    assert server.user_of(grant.access_token) == MAILBOX
    assert server.grants[-1]["grant_type"] == "client_credentials"
    assert server.grants[-1]["scope"] == "https://outlook.office365.com/.default"


def test_msal_refresh_token_keeps_the_rotated_one(server: AuthorizationServer) -> None:
    """MSAL's refresh-token grant works, and a rotated refresh token replaces the old one."""
    server.register("desk-app", SECRET)
    server.rotate = True
    first = server.consent("desk-app", MAILBOX)
    scopes = ["https://outlook.office.com/IMAP.AccessAsUser.All"]
    flow = _msal(server, GrantType.REFRESH_TOKEN, refresh_token=first, scopes=scopes)
    assert server.user_of(flow.request().access_token) == MAILBOX
    assert server.user_of(flow.request().access_token) == MAILBOX
    assert [g["refresh_token"] == first for g in server.grants] == [True, False]


def test_msal_refusal_is_token_refused(server: AuthorizationServer) -> None:
    """A wrong client secret at Entra ID is TokenRefused, without the secret."""
    server.register("desk-app", "the-real-secret", mailbox=MAILBOX)
    with pytest.raises(TokenRefused, match="invalid_client") as raised:
        _msal(server, GrantType.CLIENT_CREDENTIALS).request()
    assert SECRET not in str(raised.value)


def test_access_tokens_reuse_a_token_until_near_expiry(server: AuthorizationServer) -> None:
    """AccessTokens asks once per token lifetime, and again after the margin is reached."""
    server.register("mailflow-desk", SECRET)
    now = [1000.0]
    tokens = AccessTokens(
        _endpoint(server, server.consent("mailflow-desk", MAILBOX)), clock=lambda: now[0]
    )
    first = tokens.token()
    now[0] += 3000  # 10 minutes left: more than the 5-minute margin
    assert tokens.token() == first and tokens.requests == 1
    now[0] += 400  # 200 s left: renewed before it expires
    assert tokens.token() != first and tokens.requests == 2
    assert first not in repr(tokens)


def test_renew_replaces_a_refused_token_once(server: AuthorizationServer) -> None:
    """renew() gets a new token for a refused one, but not again for a token already renewed."""
    server.register("mailflow-desk", SECRET)
    tokens = AccessTokens(_endpoint(server, server.consent("mailflow-desk", MAILBOX)))
    refused = tokens.token()
    renewed = tokens.renew(refused)
    assert renewed != refused
    assert tokens.renew(refused) == renewed and tokens.requests == 2
