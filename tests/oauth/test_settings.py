"""MAILFLOW_OAUTH_* become the right token flow, and every mistake names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.errors import ConfigurationError
from mailflow.oauth.flows import EndpointFlow, MsalFlow
from mailflow.oauth.settings import token_flow
from mailflow.settings import load_settings
from mailflow.sources.url import ImapUrl, parse_source_url
from mailflow.urls import Auth

TENANT = "contoso-cn.partner.onmschina.cn"


@pytest.mark.parametrize(
    ("given", "kind", "where", "scope"),
    [
        (
            {"oauth_provider": "microsoft", "oauth_grant": "client_credentials",
             "oauth_tenant": TENANT, "oauth_client_secret": "s"},
            MsalFlow, f"https://login.microsoftonline.com/{TENANT}",
            "https://outlook.office365.com/.default",
        ),
        (
            {"oauth_provider": "Microsoft", "oauth_refresh_token": "rt", "oauth_tenant": "common"},
            MsalFlow, "https://login.microsoftonline.com/common",
            "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send",
        ),
        (  # Office 365 operated by 21Vianet (世纪互联)
            {"oauth_provider": "microsoft", "oauth_grant": "client_credentials",
             "oauth_authority": f"https://login.chinacloudapi.cn/{TENANT}",
             "oauth_client_secret": "s", "oauth_scope": "https://partner.outlook.cn/.default"},
            MsalFlow, f"https://login.chinacloudapi.cn/{TENANT}", "https://partner.outlook.cn/.default",
        ),
        (
            {"oauth_provider": "google", "oauth_refresh_token": "rt", "oauth_client_secret": "s"},
            EndpointFlow, "https://oauth2.googleapis.com/token", "https://mail.google.com/",
        ),
        (
            {"oauth_provider": "generic", "oauth_grant": "client_credentials",
             "oauth_token_url": "https://sso.example.com/oauth2/token", "oauth_client_secret": "s"},
            EndpointFlow, "https://sso.example.com/oauth2/token", None,
        ),
    ],
)  # fmt: skip
def test_providers_get_their_defaults(
    given: dict[str, str], kind: type, where: str, scope: str | None
) -> None:
    """Each provider and grant gets its endpoint and default scopes unless told otherwise."""
    flow = token_flow(load_settings(oauth_client_id="app-id", **given))
    assert isinstance(flow, kind)
    if isinstance(flow, MsalFlow):
        assert flow.authority == where and " ".join(flow.scopes) == scope
    else:
        assert isinstance(flow, EndpointFlow)
        assert flow.token_url == where and flow.scope == scope


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "MAILFLOW_OAUTH_PROVIDER"),
        ({"oauth_provider": "yahoo"}, "MAILFLOW_OAUTH_PROVIDER"),
        ({"oauth_provider": "google"}, "MAILFLOW_OAUTH_CLIENT_ID"),
        ({"oauth_provider": "google", "oauth_client_id": "a"}, "MAILFLOW_OAUTH_REFRESH_TOKEN"),
        ({"oauth_provider": "google", "oauth_client_id": "a", "oauth_grant": "client_credentials",
          "oauth_client_secret": "s"}, "refresh_token only"),
        ({"oauth_provider": "generic", "oauth_client_id": "a", "oauth_grant": "password"},
         "MAILFLOW_OAUTH_GRANT"),
        ({"oauth_provider": "generic", "oauth_client_id": "a", "oauth_grant": "client_credentials"},
         "MAILFLOW_OAUTH_CLIENT_SECRET"),
        ({"oauth_provider": "generic", "oauth_client_id": "a", "oauth_refresh_token": "r"},
         "MAILFLOW_OAUTH_TOKEN_URL"),
        ({"oauth_provider": "generic", "oauth_client_id": "a", "oauth_refresh_token": "r",
          "oauth_token_url": "http://sso.example.com/token"}, "https://"),
        ({"oauth_provider": "microsoft", "oauth_client_id": "a", "oauth_refresh_token": "r"},
         "MAILFLOW_OAUTH_TENANT"),
        ({"oauth_provider": "microsoft", "oauth_client_id": "a", "oauth_refresh_token": "r",
          "oauth_refresh_token_file": "/run/secrets/rt"}, "not both"),
        ({"oauth_provider": "google", "oauth_client_id": "a",
          "oauth_refresh_token_file": "/nonexistent/rt"}, "MAILFLOW_OAUTH_REFRESH_TOKEN_FILE"),
    ],
)  # fmt: skip
def test_mistakes_name_the_variable(given: dict[str, str], message: str) -> None:
    """A missing or wrong OAuth2 setting is a ConfigurationError naming what to fix."""
    with pytest.raises(ConfigurationError, match=message) as raised:
        token_flow(load_settings(**given))
    assert "rt" not in str(raised.value).split() and "/run/secrets" not in str(raised.value)


def test_secret_files_are_read_and_stripped(tmp_path: Path) -> None:
    """Client secret and refresh token come from their files, trailing newline removed."""
    (tmp_path / "s").write_text("the-secret\n")
    (tmp_path / "r").write_text("the-refresh-token\n")
    flow = token_flow(load_settings(
        oauth_provider="google", oauth_client_id="a",
        oauth_client_secret_file=tmp_path / "s", oauth_refresh_token_file=tmp_path / "r",
    ))  # fmt: skip
    assert isinstance(flow, EndpointFlow)
    assert (flow.client_secret, flow.refresh_token) == ("the-secret", "the-refresh-token")
    assert "the-secret" not in repr(flow) and "the-refresh-token" not in repr(flow)


@pytest.mark.parametrize(
    ("url", "auth"),
    [
        ("imaps://coord%40example.com@outlook.office365.com/INBOX?auth=xoauth2", Auth.XOAUTH2),
        ("imaps://coord%40example.com@imap.gmail.com/INBOX?auth=OAUTHBEARER", Auth.OAUTHBEARER),
        ("imaps://coord%40example.com@imap.exmail.qq.com/INBOX", Auth.PASSWORD),
    ],
)
def test_source_url_auth_option(url: str, auth: Auth) -> None:
    """?auth= chooses the login; absent, it is the password."""
    parsed = parse_source_url(url)
    assert isinstance(parsed, ImapUrl) and parsed.auth is auth


def test_unknown_auth_is_refused() -> None:
    """A misspelt ?auth= is an error naming the choices."""
    with pytest.raises(ConfigurationError, match="xoauth2"):
        parse_source_url("imaps://u%40example.com@imap.example.com/?auth=oauth")
