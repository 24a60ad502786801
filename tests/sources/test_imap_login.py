"""Logging in to a real Dovecot with credentials imaplib's LOGIN cannot carry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailflow.errors import SourceAuthenticationError
from mailflow.sources.imap import ImapSource
from mailflow.sources.url import ImapUrl, parse_source_url
from tests.servers.dovecot import DovecotServer, running_dovecot
from tests.sources.test_imap import DictCursor, ingest, raw_mail

pytestmark = pytest.mark.dovecot

# real passwords people choose: Chinese, Cyrillic, accented, full-width, an emoji
USERS = {
    "caiwu@example.test": "财务部密码2026！",
    "olga@example.test": "Пароль-Ольги",
    "jose@example.test": "contraseña-Año-Nuevo",
    "fullwidth@example.test": "ｐａｓｓ１２３",
    "emoji@example.test": "moon🌙cake",
    "ascii@example.test": "plain-ascii-secret",
}
# Dovecot runs its LOGIN command through PLAIN internally, so this server refuses every login;
# it stands for a server that does not announce AUTH=PLAIN, which mailflow checks before trying
NO_PLAIN = "auth_mechanisms = login\n"


@pytest.fixture(scope="module")
def server() -> Iterator[DovecotServer]:
    """A Dovecot holding users with non-ASCII passwords."""
    with running_dovecot(USERS) as running:
        yield running


@pytest.fixture(scope="module")
def login_only_server() -> Iterator[DovecotServer]:
    """A Dovecot that offers LOGIN and no AUTHENTICATE PLAIN."""
    with running_dovecot(USERS, extra_config=NO_PLAIN) as running:
        yield running


def _source(server: DovecotServer, user: str, password: str, **query: str) -> ImapSource:
    url = parse_source_url(server.source_url(user, **query))
    assert isinstance(url, ImapUrl)
    return ImapSource(url, password)


@pytest.mark.parametrize("user", sorted(USERS))
@pytest.mark.parametrize("security", ["none", "starttls", "tls"])
def test_non_ascii_password_logs_in(server: DovecotServer, user: str, security: str) -> None:
    """Every password, ASCII or not, logs in on every security mode and reads the mail."""
    server.reset_mailbox(user)
    server.append(user, raw_mail(1))
    source = _source(server, user, USERS[user], security=security, cafile=str(server.cafile))
    try:
        assert ingest(source, DictCursor()) == ["<1@test>"]
    finally:
        source.close()


def test_wrong_non_ascii_password_is_refused_without_showing_it(server: DovecotServer) -> None:
    """A wrong non-ASCII password is an authentication error that does not repeat it."""
    source = _source(server, "caiwu@example.test", "错误的密码")
    with pytest.raises(SourceAuthenticationError) as raised:
        list(source.fetch(DictCursor()))
    assert "错误的密码" not in str(raised.value)
    source.close()


def test_non_ascii_password_without_plain_says_why(login_only_server: DovecotServer) -> None:
    """A server without AUTH=PLAIN gets a clear refusal, not imaplib's UnicodeEncodeError."""
    source = _source(login_only_server, "olga@example.test", USERS["olga@example.test"])
    with pytest.raises(SourceAuthenticationError, match=r"not ASCII.*AUTHENTICATE PLAIN") as raised:
        list(source.fetch(DictCursor()))
    assert USERS["olga@example.test"] not in str(raised.value)
    source.close()
