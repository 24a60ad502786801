"""Invariant 9: is a sender internal? Its domain, and what the receiving server said about it.

A sender counts as internal only when its From domain is one of the organisation's internal
domains. Only ``Authentication-Results`` (RFC 8601) written by the organisation's own receiving
server are read: those whose authserv-id is ``authserv_id`` (or one of ``trusted_authserv_ids``)
in ``organization.yaml``; every other one may have been written by anybody on the way, the
sender included, and is ignored (RFC 8601 §5).

- A failing verdict makes an internal-domain sender external, whatever the other settings:
  ``dmarc=fail`` for the domain, or ``spf=fail`` for it with no aligned ``dkim=pass`` in the
  same header. Any trusted header failing is enough: a forged failure only hurts its forger.
- With ``require_authentication``, the sender must also pass: the topmost trusted header (the
  receiving server prepends its own; one below it may be the sender's forgery) says
  ``dmarc=pass`` for the domain, or ``dkim=pass`` / ``spf=pass`` for a domain aligned with it
  (relaxed alignment: equal, or one a subdomain of the other).

Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mailflow.rulebook.organization import OrganizationInfo

_COMMENT = re.compile(r"\([^()]*\)")
_PROPERTY = re.compile(r"([a-z]+)\.([a-z-]+)=\"?([^\s\";]+)\"?", re.IGNORECASE)
_RESULT = re.compile(r"^\s*([a-z0-9-]+)\s*=\s*([a-z]+)", re.IGNORECASE)
PASS, FAIL = "pass", "fail"


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


def _concerns(result: AuthResult, domain: str) -> bool:
    """Return whether ``result`` speaks about ``domain`` (a result naming no domain does)."""
    props = result.properties
    if result.method == "dmarc":
        return props.get("header.from", domain) == domain
    if result.method == "dkim":
        signer = props.get("header.d") or props.get("header.i")
        return signer is not None and _aligned(domain, signer)
    if result.method == "spf":
        envelope = props.get("smtp.mailfrom") or props.get("smtp.helo")
        return envelope is None or _aligned(domain, envelope)
    return False


def _passes(result: AuthResult, domain: str) -> bool:
    """Return whether one result vouches for ``domain``."""
    if result.result != PASS or not _concerns(result, domain):
        return False
    if result.method == "spf":  # a pass must name what it checked
        props = result.properties
        return bool(props.get("smtp.mailfrom") or props.get("smtp.helo"))
    return result.method in ("dmarc", "dkim")


def failing_verdict(results: Iterable[AuthResult], domain: str) -> str | None:
    """Return the failing verdict of one header for ``domain`` in words, or None.

    ``dmarc=fail``, or ``spf=fail`` without a ``dkim=pass`` aligned with the domain."""
    found = [r for r in results if _concerns(r, domain)]
    if any(r.method == "dmarc" and r.result == FAIL for r in found):
        return "dmarc=fail"
    dkim_pass = any(r.method == "dkim" and r.result == PASS for r in found)
    if not dkim_pass and any(r.method == "spf" and r.result == FAIL for r in found):
        return "spf=fail and no dkim=pass"
    return None


def _trusted(headers: Iterable[str], servers: Iterable[str]) -> list[tuple[AuthResult, ...]]:
    """Return the results of the headers written by ``servers``, topmost first."""
    wanted = {s.lower() for s in servers}
    found = []
    for value in headers:
        server, results = parse_authentication_results(value)
        if server in wanted:
            found.append(results)
    return found


def authenticated(domain: str, headers: Iterable[str], trusted_servers: Iterable[str]) -> bool:
    """Return whether the topmost trusted Authentication-Results header vouches for ``domain``."""
    trusted = _trusted(headers, trusted_servers)
    return bool(trusted) and any(_passes(r, domain.lower()) for r in trusted[0])


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
    headers = list(headers)
    servers = org.authserv_ids()
    for results in _trusted(headers, servers):
        verdict = failing_verdict(results, domain)
        if verdict is not None:
            return False, f"{domain} is internal, but the receiving server says {verdict}"
    if not org.require_authentication:
        return True, f"{domain} is an internal domain"
    if authenticated(domain, headers, servers):
        return True, f"{domain} is internal and the receiving server authenticated it"
    return False, f"{domain} is internal but no Authentication-Results of ours passed for it"


def forged_verdict(
    address: str | None, headers: Iterable[str], org: OrganizationInfo
) -> str | None:
    """Return our receiving server's failing verdict when the sender claims an internal
    address that failed (dmarc=fail, or spf=fail without dkim=pass), else None.

    Such a From is forged: any answer "to the sender" would reach the real owner of the
    address, so the mail gets no automatic answer at all.
    """
    if not address or "@" not in address:
        return None
    domain = address.rsplit("@", 1)[1].lower()
    if domain not in {d.lower().lstrip("@") for d in org.internal_domains}:
        return None
    for results in _trusted(list(headers), org.authserv_ids()):
        verdict = failing_verdict(results, domain)
        if verdict is not None:
            return verdict
    return None


def sender_is_internal(address: str | None, headers: Iterable[str], org: OrganizationInfo) -> bool:
    """Return whether the sender counts as internal (invariant 9)."""
    return sender_trust(address, headers, org)[0]
