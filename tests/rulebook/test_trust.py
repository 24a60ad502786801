"""Invariant 9: internal means an internal domain and, when required, a trusted passing result."""

from __future__ import annotations

import pytest

from mailflow.rulebook.organization import OrganizationInfo
from mailflow.rulebook.trust import (
    parse_authentication_results,
    sender_is_internal,
    sender_trust,
)

OUTLOOK = (
    "mx.example.com;\n\tdkim=pass header.d=example.com header.s=s2023;\n"
    "\tspf=pass (mx.example.com: domain of zhang.san@example.com designates 192.0.2.10 as"
    " permitted sender) smtp.mailfrom=zhang.san@example.com;\n"
    "\tdmarc=pass (p=QUARANTINE) header.from=example.com"
)


def _org(
    require: bool = True, servers: tuple[str, ...] = (), authserv: str = "mx.example.com"
) -> OrganizationInfo:
    return OrganizationInfo(
        name="示例科技",
        shared_address="coord@example.com",
        internal_domains=["example.com"],
        require_authentication=require,
        authserv_id=authserv,
        trusted_authserv_ids=list(servers),
    )


SHIPPED = _org(require=False)  # the defaults of rules/organization.yaml
# a relay outside the company signs with its own name, then our MX adds its verdict on top
RELAYED_DMARC_FAIL = (
    "mx.example.com 1; spf=softfail (sender IP is 203.0.113.9) smtp.mailfrom=li.si@example.com;"
    " dkim=none (message not signed) header.d=none; dmarc=fail action=quarantine"
    " header.from=example.com"
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
        # a second MX of the organisation, named in trusted_authserv_ids, counts too
        (
            "a@example.com",
            ("mx2.example.com; dkim=pass header.d=example.com",),
            _org(servers=("mx2.example.com",)),
            True,
        ),
        # another authserv-id configured: mx.example.com is then just any server
        ("a@example.com", (OUTLOOK,), _org(authserv="mail.example.net"), False),
    ],
)
def test_sender_is_internal(
    sender: str | None, headers: tuple[str, ...], org: OrganizationInfo, internal: bool
) -> None:
    """Domain first, then the receiving server's verdict where the rules require it."""
    assert sender_is_internal(sender, headers, org) is internal


@pytest.mark.parametrize(
    ("sender", "headers", "internal", "why"),
    [
        ("li.si@example.com", (), True, "internal domain"),
        ("li.si@example.com", (OUTLOOK,), True, "internal domain"),
        ("li.si@example.com", (RELAYED_DMARC_FAIL,), False, "dmarc=fail"),
        (
            "li.si@example.com",
            ("MX.Example.COM; dmarc=fail (p=reject) header.from=Example.com",),
            False,
            "dmarc=fail",
        ),
        (
            "li.si@example.com",
            ("mx.example.com; spf=fail smtp.mailfrom=li.si@example.com; dkim=none",),
            False,
            "spf=fail and no dkim=pass",
        ),
        # forwarded by a mailing host: SPF breaks, the company's DKIM signature survives
        (
            "li.si@example.com",
            (
                "mx.example.com; spf=fail smtp.mailfrom=li.si@example.com;"
                " dkim=pass header.d=example.com header.s=sel1",
            ),
            True,
            "internal domain",
        ),
        # a DKIM pass by someone else's domain does not rescue a failing SPF
        (
            "li.si@example.com",
            (
                "mx.example.com; spf=fail smtp.mailfrom=li.si@example.com;"
                " dkim=pass header.d=mailer.evil.test",
            ),
            False,
            "spf=fail",
        ),
        # SPF failing for another envelope domain says nothing about ours
        (
            "li.si@example.com",
            ("mx.example.com; spf=fail smtp.mailfrom=bounce@lists.evil.test",),
            True,
            "internal domain",
        ),
        # softfail and temperror are not failures
        (
            "li.si@example.com",
            ("mx.example.com; spf=softfail smtp.mailfrom=li.si@example.com; dmarc=temperror",),
            True,
            "internal domain",
        ),
        # a failing verdict of a server that is not ours is ignored (RFC 8601 §5) ...
        (
            "li.si@example.com",
            ("relay.outside.test; dmarc=fail header.from=example.com",),
            True,
            "",
        ),
        # ... and so is a pass the sender wrote itself, under our name or another
        (
            "li.si@example.com",
            (
                "mx.example.com; dmarc=fail header.from=example.com",
                "mx.example.com; dmarc=pass header.from=example.com",
            ),
            False,
            "dmarc=fail",
        ),
        # a failure anywhere among our own headers is enough
        (
            "li.si@example.com",
            (
                "mx.example.com; dmarc=pass header.from=example.com",
                "mx.example.com; dmarc=fail header.from=example.com",
            ),
            False,
            "dmarc=fail",
        ),
        ("yang.ming@kehu-a.com.cn", (RELAYED_DMARC_FAIL,), False, "not an internal domain"),
    ],
)
def test_failing_verdict_makes_internal_sender_external(
    sender: str, headers: tuple[str, ...], internal: bool, why: str
) -> None:
    """Under the shipped defaults a failing verdict of our own server makes the sender external."""
    found, reason = sender_trust(sender, headers, SHIPPED)
    assert found is internal
    assert why in reason


def test_shipped_authserv_id_is_the_sample_mx() -> None:
    """Without a setting, the authserv-id is the sample organisation's mx.example.com."""
    info = OrganizationInfo(name="x", shared_address="c@x.test", internal_domains=["x.test"])
    assert info.authserv_ids() == frozenset({"mx.example.com"})
