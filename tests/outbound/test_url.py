"""Tests for MAILFLOW_TRANSPORT parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.errors import ConfigurationError
from mailflow.outbound.transports.url import FileUrl, SmtpUrl, parse_transport_url
from mailflow.urls import Security


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file://var/outbox", FileUrl(Path("var/outbox"))),
        ("file:///srv/outbox", FileUrl(Path("/srv/outbox"))),
        ("smtp://mail.example.com", SmtpUrl("mail.example.com", 587)),
        (
            "smtp://coord%40example.com@mail.example.com:2525?security=starttls&timeout=10",
            SmtpUrl("mail.example.com", 2525, username="coord@example.com", timeout_s=10.0),
        ),
        ("smtp://127.0.0.1:25?security=none", SmtpUrl("127.0.0.1", 25, Security.NONE)),
        ("smtps://mail.example.com", SmtpUrl("mail.example.com", 465, Security.TLS)),
        (
            "smtps://mail.example.com?cafile=/etc/ca.pem",
            SmtpUrl("mail.example.com", 465, Security.TLS, cafile=Path("/etc/ca.pem")),
        ),
    ],
)
def test_valid_urls(url: str, expected: object) -> None:
    """Each documented form parses to the expected value."""
    assert parse_transport_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ews://coord%40example.com@ex.example.com/?processed=move:Done", "unknown option"),
        ("ews://CORP%5Ccoord@ex.example.com/", "mailbox"),
        ("ews://coord%40example.com@ex.example.com/?auth=kerberos", "ntlm, basic"),
        ("smtp://user:hunter2@mail.example.com", "must not contain a password"),
        ("smtps://mail.example.com?security=none", "always TLS"),
        ("smtp://mail.example.com?security=ssl", "security="),
        ("smtp://mail.example.com?tls=yes", "unknown option"),
        ("smtp://mail.example.com?timeout=0", "timeout="),
        ("gopher://x", "unknown scheme"),
        ("file://", "needs a folder"),
    ],
)
def test_invalid_urls(url: str, message: str) -> None:
    """Unusable URLs raise ConfigurationError saying why, never echoing a password."""
    with pytest.raises(ConfigurationError, match=message) as caught:
        parse_transport_url(url)
    assert "hunter2" not in str(caught.value)
