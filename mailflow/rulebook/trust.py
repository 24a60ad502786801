"""Invariant 9: is a sender internal? Its domain, and where rules require it, authentication.

A sender counts as internal only when its From domain is one of the organisation's internal
domains and, with ``require_authentication``, the receiving server's ``Authentication-Results``
(RFC 8601) says ``dmarc=pass`` for that domain, or ``dkim=pass`` / ``spf=pass`` for a domain
aligned with it (relaxed alignment: equal, or one a subdomain of the other). Only headers the
receiving server wrote are read: those whose authserv-id is in ``trusted_authserv_ids``, or,
when none is configured, the topmost one (servers prepend theirs; anything below may be forged
by the sender). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mailflow.rulebook.organization import OrganizationInfo

_COMMENT = re.compile(r"\([^()]*\)")
_PROPERTY = re.compile(r"([a-z]+)\.([a-z-]+)=\"?([^\s\";]+)\"?", re.IGNORECASE)
_RESULT = re.compile(r"^\s*([a-z0-9-]+)\s*=\s*([a-z]+)", re.IGNORECASE)


@dataclass(frozen=True)
class AuthResult:
    """One method's verdict, e.g. dkim=pass with its properties (header.d=example.com)."""

    method: str
    result: str
    properties: dict[str, str]


def parse_authentication_results(value: str) -> tuple[str, tuple[AuthResult, ...]]:
    """Return the authserv-id and the results of one Authentication-Results value."""
    text = value
    while _COMMENT.search(text):  # comments may nest: strip innermost first
        text = _COMMENT.sub(" ", text)
    parts = [p.strip() for p in text.split(";")]
    server = parts[0].split()[0].lower() if parts and parts[0].split() else ""
    results = []
    for part in parts[1:]:
        match = _RESULT.match(part)
        if match is None:
            continue
        props = {f"{k.lower()}.{p.lower()}": v.lower() for k, p, v in _PROPERTY.findall(part)}
        results.append(AuthResult(match.group(1).lower(), match.group(2).lower(), props))
    return server, tuple(results)


def _aligned(domain: str, other: str) -> bool:
    other = other.rsplit("@", 1)[-1].rstrip(".")
    return domain == other or domain.endswith("." + other) or other.endswith("." + domain)


def _passes(result: AuthResult, domain: str) -> bool:
    """Return whether one result vouches for ``domain``."""
    if result.result != "pass":
        return False
    props = result.properties
    if result.method == "dmarc":
        return props.get("header.from", domain) == domain
    if result.method == "dkim":
        signer = props.get("header.d") or props.get("header.i")
        return signer is not None and _aligned(domain, signer)
    if result.method == "spf":
        envelope = props.get("smtp.mailfrom") or props.get("smtp.helo")
        return envelope is not None and _aligned(domain, envelope)
    return False


def authenticated(domain: str, headers: Iterable[str], trusted_servers: Iterable[str]) -> bool:
    """Return whether a trusted Authentication-Results header vouches for ``domain``."""
    trusted = {s.lower() for s in trusted_servers}
    values = list(headers)
    if not trusted:
        values = values[:1]
    for value in values:
        server, results = parse_authentication_results(value)
        if trusted and server not in trusted:
            continue
        if any(_passes(r, domain.lower()) for r in results):
            return True
    return False


def sender_trust(
    address: str | None, headers: Iterable[str], org: OrganizationInfo
) -> tuple[bool, str]:
    """Return whether the sender is internal, and why, in words."""
    if not address or "@" not in address:
        return False, "the mail has no usable From address"
    domain = address.rsplit("@", 1)[1].lower()
    internal = {d.lower().lstrip("@") for d in org.internal_domains}
    if domain not in internal:
        return False, f"{domain} is not an internal domain"
    if not org.require_authentication:
        return True, f"{domain} is an internal domain"
    if authenticated(domain, headers, org.trusted_authserv_ids):
        return True, f"{domain} is internal and the receiving server authenticated it"
    return False, f"{domain} is internal but no trusted Authentication-Results passed for it"


def sender_is_internal(address: str | None, headers: Iterable[str], org: OrganizationInfo) -> bool:
    """Return whether the sender counts as internal (invariant 9)."""
    return sender_trust(address, headers, org)[0]
