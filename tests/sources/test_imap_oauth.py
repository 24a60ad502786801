"""XOAUTH2 and OAUTHBEARER against a real Dovecot whose ``oauth2`` passdb asks a real
token-introspection endpoint on loopback: logins, refused and renewed tokens, expiry during IDLE."""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.errors import SourceAuthenticationError, SourceConnectionError
from mailflow.oauth.flows import EndpointFlow, GrantType
from mailflow.oauth.token import AccessTokens
from mailflow.settings import load_settings
from mailflow.sources.imap import ImapSource
from mailflow.sources.url import ImapUrl, parse_source_url
from tests.servers.dovecot import DovecotServer, running_dovecot
from tests.servers.oauth import AuthorizationServer, running_authorization_server
from tests.sources.test_imap import DictCursor, after, ingest, logged, raw_mail

pytestmark = pytest.mark.dovecot

USER = "desk@example.test"
SETUP_PASSWORD = "setup-only-password"  # for the test's own APPENDs; mailflow never uses it
CLIENT, SECRET = "mailflow-desk", "client-secret-never-logged"
OAUTH_CONFIG = """\
auth_mechanisms = plain login xoauth2 oauthbearer
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {conf}
}}
"""
INTROSPECTION = """\
introspection_mode = post
introspection_url = {url}/introspect
username_attribute = email
active_attribute = active
active_value = true
"""


@pytest.fixture(scope="module")
def authorization() -> Iterator[AuthorizationServer]:
    """The authorization server: token endpoint and the introspection Dovecot asks."""
    with running_authorization_server() as server:
        server.register(CLIENT, SECRET)
        yield server


@pytest.fixture(scope="module")
def server(authorization: AuthorizationServer) -> Iterator[DovecotServer]:
    """A Dovecot that checks bearer tokens by introspection at the authorization server."""
    with tempfile.TemporaryDirectory(prefix="mailflow-oauth2-conf-") as d:
        conf = Path(d) / "dovecot-oauth2.conf.ext"
        conf.write_text(INTROSPECTION.format(url=authorization.base_url))
        conf.chmod(0o644)
        Path(d).chmod(0o755)
        with running_dovecot({USER: SETUP_PASSWORD}, OAUTH_CONFIG.format(conf=conf)) as dovecot:
            yield dovecot


@pytest.fixture
def mailbox(server: DovecotServer) -> Iterator[DovecotServer]:
    """The desk's mailbox, emptied before and after the test."""
    server.reset_mailbox(USER)
    yield server
    server.reset_mailbox(USER)


class Clock:
    """A monotonic clock the test moves forward."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _tokens(authorization: AuthorizationServer, clock: Clock | None = None) -> AccessTokens:
    flow = EndpointFlow(
        provider="generic", token_url=authorization.token_url(), grant=GrantType.REFRESH_TOKEN,
        client_id=CLIENT, client_secret=SECRET, refresh_token=authorization.consent(CLIENT, USER),
    )  # fmt: skip
    return AccessTokens(flow, clock=clock or Clock())


def _source(server: DovecotServer, tokens: AccessTokens, auth: str, **query: str) -> ImapSource:
    url = parse_source_url(server.source_url(USER, auth=auth, **query))
    assert isinstance(url, ImapUrl)
    return ImapSource(url, None, tokens=tokens, noop_interval_s=0.2)


@pytest.mark.parametrize("auth", ["xoauth2", "oauthbearer"])
@pytest.mark.parametrize("security", ["none", "starttls", "tls"])
def test_token_login_reads_mail(
    mailbox: DovecotServer, authorization: AuthorizationServer, auth: str, security: str
) -> None:
    """Both token mechanisms log in on every security mode and read the mailbox."""
    mailbox.append(USER, raw_mail(1))
    source = _source(mailbox, _tokens(authorization), auth, security=security,
                     cafile=str(mailbox.cafile))  # fmt: skip
    try:
        assert ingest(source, DictCursor()) == ["<1@test>"]
    finally:
        source.close()


def test_a_revoked_token_is_renewed_once(
    mailbox: DovecotServer, authorization: AuthorizationServer
) -> None:
    """A token the server no longer accepts (revoked early) is replaced and the login succeeds."""
    tokens = _tokens(authorization)
    tokens.token()
    authorization.expire_all()  # the cached token still looks valid to mailflow
    mailbox.append(USER, raw_mail(2))
    source = _source(mailbox, tokens, "xoauth2")
    try:
        assert ingest(source, DictCursor()) == ["<2@test>"]
    finally:
        source.close()
    assert tokens.requests == 2


def test_a_refused_grant_is_an_authentication_error_without_secrets(
    mailbox: DovecotServer, authorization: AuthorizationServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A refresh token the server revoked gives SourceAuthenticationError; no secret shows."""
    flow = EndpointFlow(
        provider="generic", token_url=authorization.token_url(), grant=GrantType.REFRESH_TOKEN,
        client_id=CLIENT, client_secret=SECRET, refresh_token="rt-revoked-by-the-admin",
    )  # fmt: skip
    source = _source(mailbox, AccessTokens(flow), "xoauth2")
    with caplog.at_level(logging.DEBUG), pytest.raises(SourceAuthenticationError) as raised:
        list(source.fetch(DictCursor()))
    source.close()
    assert "invalid_grant" in str(raised.value)
    for secret in (SECRET, "rt-revoked-by-the-admin"):
        assert secret not in str(raised.value) + caplog.text


@pytest.mark.parametrize("revoked_early", [False, True], ids=["expired", "revoked"])
def test_token_expiring_during_idle_recovers_without_losing_mail(
    mailbox: DovecotServer, authorization: AuthorizationServer, revoked_early: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """The session dies with its token during IDLE and mail arrives meanwhile: the reconnect
    logs in with a new token (asked ahead of expiry, or after a refusal) and reads that mail."""
    clock = Clock()
    tokens = _tokens(authorization, clock)
    source, cursor = _source(mailbox, tokens, "xoauth2"), DictCursor()
    mailbox.append(USER, raw_mail(1))
    assert ingest(source, cursor) == ["<1@test>"]
    first = tokens.token()

    def token_expires() -> None:
        if not revoked_early:
            clock.now += 3600  # an hour later, as mailflow's clock sees it
        authorization.expire_all()  # the authorization server no longer accepts it
        mailbox.append(USER, raw_mail(2))  # mail arrives while the session is dying
        mailbox.kick(USER)  # the provider drops the session whose token expired

    with caplog.at_level(logging.DEBUG), logged("idling") as idling:
        expiry = after(idling, token_expires)
        with pytest.raises(SourceConnectionError):
            source.wait_for_mail(60)
    expiry.join()
    try:
        assert ingest(source, cursor) == ["<2@test>"]
    finally:
        source.close()
    assert tokens.token() != first and tokens.requests == 2
    assert first not in caplog.text and SECRET not in caplog.text


def test_from_settings_reads_the_oauth_secrets_from_files(
    mailbox: DovecotServer, authorization: AuthorizationServer, tmp_path: Path
) -> None:
    """ImapSource.from_settings builds the token flow from MAILFLOW_OAUTH_* with *_FILE secrets."""
    (tmp_path / "secret").write_text(SECRET + "\n")
    (tmp_path / "refresh").write_text(authorization.consent(CLIENT, USER) + "\n")
    settings = load_settings(
        source=mailbox.source_url(USER, auth="oauthbearer"),
        oauth_provider="generic", oauth_token_url=authorization.token_url(),
        oauth_client_id=CLIENT, oauth_client_secret_file=tmp_path / "secret",
        oauth_refresh_token_file=tmp_path / "refresh",
    )  # fmt: skip
    mailbox.append(USER, raw_mail(3))
    source = ImapSource.from_settings(settings)
    try:
        assert ingest(source, DictCursor()) == ["<3@test>"]
    finally:
        source.close()


def test_poller_recovers_from_a_token_expiring_during_idle(
    mailbox: DovecotServer, authorization: AuthorizationServer, sqlite_url: str
) -> None:
    """The long-running poller (poll_forever) IDLEs on a token that then expires with its
    session; mail delivered meanwhile is stored after the reconnect with a new token, once."""
    from mailflow.mail.model import ParseContext
    from mailflow.service.ingest import IngestReport
    from mailflow.service.poll import poll_forever
    from mailflow.store.db import make_engine, make_session_factory
    from mailflow.store.models import Message

    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    clock = Clock()
    tokens = _tokens(authorization, clock)
    source = _source(mailbox, tokens, "xoauth2")
    mailbox.append(USER, raw_mail(1))
    stored: list[int] = []
    second = threading.Event()

    def on_batch(report: IngestReport) -> None:
        stored.append(report.stored)
        if sum(stored) >= 2:
            second.set()

    def token_expires() -> None:
        clock.now += 3600
        authorization.expire_all()
        mailbox.append(USER, raw_mail(2))
        mailbox.kick(USER)

    stop = threading.Event()
    with logged("idling") as idling:
        expiry = after(idling, token_expires)
        worker = threading.Thread(
            target=poll_forever, args=(source, sessions, ParseContext(), stop, 600.0),
            kwargs={"on_batch": on_batch}, daemon=True,
        )  # fmt: skip
        worker.start()
        try:
            assert second.wait(30), "the mail delivered while the token expired was not stored"
        finally:
            stop.set()
            mailbox.kick(USER)  # ends a new IDLE so the thread sees `stop`
            worker.join(timeout=30)
            expiry.join()
    with sessions() as s:
        ids = sorted(s.scalars(select(Message.message_id)))
    engine.dispose()
    assert ids == ["<1@test>", "<2@test>"] and tokens.requests == 2
