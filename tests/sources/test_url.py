"""``MAILFLOW_SOURCE`` URLs parse into frozen values, and bad ones say what is wrong."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mailflow.errors import ConfigurationError
from mailflow.sources.url import (
    EwsUrl,
    ImapUrl,
    MaildirUrl,
    Processed,
    Security,
    parse_source_url,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("maildir:///srv/mail/coord", MaildirUrl(Path("/srv/mail/coord"))),
        ("maildir://examples/inbox", MaildirUrl(Path("examples/inbox"))),
        ("maildir://var/mail%20box", MaildirUrl(Path("var/mail box"))),
        (
            "imap://coord%40example.com@mail.example.com:143/INBOX?security=starttls",
            ImapUrl("mail.example.com", 143, "coord@example.com"),
        ),
        (
            "imap://coord@127.0.0.1:10143/INBOX?security=none",
            ImapUrl("127.0.0.1", 10143, "coord", security=Security.NONE),
        ),
        ("imap://coord@mail.example.com", ImapUrl("mail.example.com", 143, "coord")),
        (
            "imaps://coord%40example.com@mail.example.com/Shared/Desk",
            ImapUrl("mail.example.com", 993, "coord@example.com", "Shared/Desk", Security.TLS),
        ),
        (
            "IMAPS://coord@Mail.Example.com:1993/%E5%8D%8F%E8%B0%83",
            ImapUrl("mail.example.com", 1993, "coord", "协调", Security.TLS),
        ),
        (
            "imap://u@h/INBOX?batch=50&processed=move:Archive/Done&cafile=/etc/ca.pem&idle=no",
            ImapUrl(
                "h",
                143,
                "u",
                batch=50,
                processed=Processed.MOVE,
                processed_folder="Archive/Done",
                cafile=Path("/etc/ca.pem"),
                idle=False,
            ),
        ),
        ("imap://u@h/?processed=none", ImapUrl("h", 143, "u", processed=Processed.NONE)),
        ("imap://u@[::1]:143/", ImapUrl("::1", 143, "u")),
        (
            "ews://coord%40example.com@ex.example.com/",
            EwsUrl("coord@example.com", "ex.example.com"),
        ),
    ],
)
def test_valid_urls_parse(url: str, expected: object) -> None:
    """Each documented URL form parses into the expected frozen value."""
    assert parse_source_url(url) == expected


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("ftp://x/", "unknown scheme"),
        ("maildir://", "needs a folder"),
        ("maildir:///srv/mail?batch=3", "only a path"),
        ("imap://mail.example.com/INBOX", "needs a user name"),
        ("imap://u@h/INBOX?security=tls", "security='tls'"),
        ("imap://u@h/INBOX?security=ssl", "use starttls or none"),
        ("imaps://u@h/INBOX?security=none", "always TLS"),
        ("imap://u@h/INBOX?batch=0", "batch='0'"),
        ("imap://u@h/INBOX?batch=many", "batch="),
        ("imap://u@h/INBOX?processed=move", "move:FolderName"),
        ("imap://u@h/INBOX?processed=seen", "processed='seen'"),
        ("imap://u@h/INBOX?idle=maybe", "idle='maybe'"),
        ("imap://u@h/INBOX?securty=none", "unknown option(s) securty"),
        ("imap://u@h:99999/INBOX", "not a valid URL"),
    ],
)
def test_invalid_urls_are_explained(url: str, complaint: str) -> None:
    """A URL that cannot be used raises ConfigurationError naming the problem."""
    with pytest.raises(ConfigurationError) as raised:
        parse_source_url(url)
    assert complaint in str(raised.value)
    assert str(raised.value).startswith("MAILFLOW_SOURCE")


@pytest.mark.parametrize(
    "url",
    [
        "imap://coord:hunter2@mail.example.com/INBOX",
        "imaps://coord%40example.com:hunter2@mail.example.com:993/",
        "maildir://coord:hunter2@somewhere/",
        "imap://coord:hunter2@mail.example.com:notaport/",
    ],
)
def test_password_in_url_is_refused_without_repeating_it(url: str) -> None:
    """A password in the URL is refused, and the error never quotes it."""
    with pytest.raises(ConfigurationError) as raised:
        parse_source_url(url)
    assert "hunter2" not in str(raised.value)


def test_values_are_frozen_and_secret_free() -> None:
    """A parsed URL cannot be changed and its repr and name carry no secret."""
    url = parse_source_url("imaps://coord%40example.com@mail.example.com/INBOX")
    assert isinstance(url, ImapUrl)
    with pytest.raises(dataclasses.FrozenInstanceError):
        url.port = 1  # type: ignore[misc]
    assert url.name == "imaps://coord%40example.com@mail.example.com:993/INBOX"
    assert "password" not in repr(url).lower()


@pytest.mark.parametrize(
    "url",
    [
        "imap://coord%40example.com@mail.example.com:143/INBOX?security=none",
        "imaps://coord@mail.example.com:993/Shared/Desk",
        "imap://u@[::1]:10143/INBOX",
    ],
)
def test_name_round_trips(url: str) -> None:
    """``name`` parses back to the same mailbox (options aside), so it is a stable identity."""
    parsed = parse_source_url(url)
    assert isinstance(parsed, ImapUrl)
    again = parse_source_url(parsed.name)
    assert isinstance(again, ImapUrl)
    assert (again.host, again.port, again.username, again.folder) == (
        parsed.host,
        parsed.port,
        parsed.username,
        parsed.folder,
    )
