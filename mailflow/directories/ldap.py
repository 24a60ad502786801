"""Read people from LDAP or Active Directory with paged searches (ldap3).

Paged results (RFC 2696) read directories larger than the server's size limit (1,000 entries in
Active Directory). Accounts AD marks disabled (``userAccountControl`` bit 2) come back flagged;
``proxyAddresses`` give a person's other addresses. Any failure before the last page raises
``DirectorySourceError``: half a directory is never returned.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.dn import parse_dn

from mailflow.errors import DirectorySourceError
from mailflow.rulebook.directory_config import LdapSource
from mailflow.rulebook.roster import DirectoryRead, Entry

ACCOUNT_DISABLED = 0x2  # ADS_UF_ACCOUNTDISABLE in userAccountControl
_SMTP_PREFIX = "smtp:"


def read_ldap(config: LdapSource, password: str | None) -> DirectoryRead:
    """Return every person under ``config.base_dn``; raise DirectorySourceError on any failure."""
    where = f"{config.url.rstrip('/')}/{config.base_dn}"
    try:
        with _connect(config, password) as conn:
            entries = tuple(_entries(conn, config))
            groups = _manager_groups(conn, config) if config.managers_from == "groups" else {}
    except LDAPException as e:
        raise DirectorySourceError(f"{where}: {type(e).__name__}: {e}") from e
    except OSError as e:
        raise DirectorySourceError(f"{where}: {e.strerror or e}") from e
    return DirectoryRead(source=where, entries=entries, manager_groups=groups)


def _connect(config: LdapSource, password: str | None) -> Connection:
    url = urlsplit(config.url)
    secure = url.scheme == "ldaps"
    tls = None
    if secure or config.starttls:
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config.cafile)
    server = Server(
        url.hostname or "",
        port=url.port or (636 if secure else 389),
        use_ssl=secure,
        tls=tls,
        get_info=NONE,
        connect_timeout=math.ceil(config.timeout_s),
    )
    conn = Connection(
        server,
        user=config.bind_dn,
        password=password,
        read_only=True,
        raise_exceptions=True,
        receive_timeout=math.ceil(config.timeout_s),
    )
    conn.open()
    if config.starttls:
        conn.start_tls()
    if config.bind_dn:
        conn.bind()
    return conn


def _entries(conn: Connection, config: LdapSource) -> Iterator[Entry]:
    names = config.attributes
    wanted = [
        a
        for a in (
            names.name,
            names.email,
            names.aliases,
            names.department,
            names.manager,
            names.account_control,
            "cn",
        )
        if a
    ]
    pages = conn.extend.standard.paged_search(
        config.base_dn,
        config.filter,
        SUBTREE,
        attributes=wanted,
        paged_size=config.page_size,
        generator=True,
    )
    for found in pages:
        if found.get("type") != "searchResEntry":
            continue
        yield _entry(found["dn"], found.get("attributes", {}), config)


def _entry(dn: str, attrs: Mapping[str, Any], config: LdapSource) -> Entry:
    names = config.attributes
    email = _first(attrs.get(names.email))
    aliases: tuple[str, ...] = ()
    if names.aliases:
        aliases = tuple(_smtp_addresses(_all(attrs.get(names.aliases))))
    if config.departments_from == "ou":
        department = _first_ou(dn)
    else:
        department = _first(attrs.get(names.department))
    control = _first(attrs.get(names.account_control)) if names.account_control else None
    return Entry(
        key=dn,
        name=_first(attrs.get(names.name)) or _first(attrs.get("cn")) or "",
        email=email.strip().lower() if email else None,
        aliases=aliases,
        department=department.strip() if department else None,
        manager=_first(attrs.get(names.manager)),
        disabled=_disabled(control),
    )


def _manager_groups(conn: Connection, config: LdapSource) -> dict[str, tuple[str, ...]]:
    groups: dict[str, tuple[str, ...]] = {}
    for department, group_dn in config.manager_groups.items():
        conn.search(group_dn, "(objectClass=*)", BASE, attributes=["member"])
        members = conn.response[0].get("attributes", {}).get("member", []) if conn.response else []
        groups[department] = tuple(_all(members))
    return groups


def _first(value: Any) -> str | None:
    values = _all(value)
    return values[0] if values else None


def _all(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [_text(v) for v in value if v not in (None, b"", "")]
    return [_text(value)] if value not in (b"", "") else []


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _smtp_addresses(values: Sequence[str]) -> list[str]:
    """Return the SMTP addresses of AD ``proxyAddresses`` (``SMTP:`` main, ``smtp:`` others)."""
    return [
        v[len(_SMTP_PREFIX) :].strip().lower() for v in values if v.lower().startswith(_SMTP_PREFIX)
    ]


def _first_ou(dn: str) -> str | None:
    return next((value for attr, value, _ in parse_dn(dn) if attr.lower() == "ou"), None)


def _disabled(control: str | None) -> bool:
    try:
        return bool(int(control or 0) & ACCOUNT_DISABLED)
    except ValueError:
        return False
