"""Invariant 9: internal means an internal domain and, when required, a trusted passing result."""

from __future__ import annotations

import pytest

from mailflow.rulebook.organization import OrganizationInfo
from mailflow.rulebook.trust import parse_authentication_results, sender_is_internal

OUTLOOK = (
    "mx.example.com;\n\tdkim=pass header.d=example.com header.s=s2023;\n"
    "\tspf=pass (mx.example.com: domain of zhang.san@example.com designates 192.0.2.10 as"
    " permitted sender) smtp.mailfrom=zhang.san@example.com;\n"
    "\tdmarc=pass (p=QUARANTINE) header.from=example.com"
)


def _org(require: bool = True, servers: tuple[str, ...] = ()) -> OrganizationInfo:
    return OrganizationInfo(
        name="示例科技",
        shared_address="coord@example.com",
        internal_domains=["example.com"],
        require_authentication=require,
        trusted_authserv_ids=list(servers),
    )


def test_parse_reads_server_and_results() -> None:
    """The authserv-id and each method's result and properties are read; comments are dropped."""
    server, results = parse_authentication_results(OUTLOOK)
    assert server == "mx.example.com"
    assert [(r.method, r.result) for r in results] == [
        ("dkim", "pass"),
        ("spf", "pass"),
        ("dmarc", "pass"),
    ]
    assert results[1].properties["smtp.mailfrom"] == "zhang.san@example.com"


@pytest.mark.parametrize(
    ("sender", "headers", "org", "internal"),
    [
        ("zhang.san@example.com", (), _org(require=False), True),
        ("zhang.san@example.com", (), _org(), False),
        ("zhang.san@example.com", (OUTLOOK,), _org(), True),
        ("Zhang.San@EXAMPLE.com", (OUTLOOK,), _org(), True),
        ("yang.ming@kehu-a.com.cn", (OUTLOOK,), _org(require=False), False),
        ("a@example.com", ("mx.example.com; dmarc=fail header.from=example.com",), _org(), False),
        ("a@example.com", ("mx.example.com; dmarc=pass header.from=evil.com",), _org(), False),
        ("a@example.com", ("mx.example.com; dkim=pass header.d=mail.example.com",), _org(), True),
        ("a@example.com", ("mx.example.com; dkim=pass header.d=evil.com",), _org(), False),
        (
            "a@example.com",
            ("mx.example.com; spf=pass smtp.mailfrom=bounce@example.com",),
            _org(),
            True,
        ),
        ("a@example.com", ("mx.example.com; spf=pass smtp.mailfrom=x@evil.com",), _org(), False),
        (
            "a@example.com",
            ("mx.example.com; dkim=none; spf=softfail smtp.mailfrom=a@example.com",),
            _org(),
            False,
        ),
        # a forged pass below the receiving server's own header does not count
        (
            "a@example.com",
            (
                "mx.example.com; dmarc=fail header.from=example.com",
                "mx.example.com; dmarc=pass header.from=example.com",
            ),
            _org(),
            False,
        ),
        # with the receiving server named, only its headers count, wherever they are
        (
            "a@example.com",
            ("evil.host; dmarc=pass header.from=example.com",),
            _org(servers=("mx.example.com",)),
            False,
        ),
        ("a@example.com", ("other; none", OUTLOOK), _org(servers=("mx.example.com",)), True),
        (None, (OUTLOOK,), _org(), False),
    ],
)
def test_sender_is_internal(
    sender: str | None, headers: tuple[str, ...], org: OrganizationInfo, internal: bool
) -> None:
    """Domain first, then the receiving server's verdict where the rules require it."""
    assert sender_is_internal(sender, headers, org) is internal
