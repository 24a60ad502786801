"""Reading a real OpenLDAP server holding a 5,000-person company the way Active Directory is read."""

from __future__ import annotations

import pytest

from mailflow.directories.ldap import read_ldap
from mailflow.errors import DirectorySourceError
from mailflow.rulebook.directory_config import LdapSource
from mailflow.rulebook.roster import build_roster
from tests.directories.people import DEPARTMENTS, GROUPS_DN, STAFF_DN, company
from tests.servers.slapd import (
    SERVICE_DN,
    SERVICE_PASSWORD,
    SIZE_LIMIT,
    SlapdServer,
)
from tests.servers.tcpcut import cutting_relay

PEOPLE = company(5000)
ENABLED_WITH_MAIL = [p for p in PEOPLE if p.email and not p.disabled]


def _config(server: SlapdServer, **changes: object) -> LdapSource:
    values: dict[str, object] = {
        "url": server.url,
        "starttls": True,
        "cafile": server.cafile,
        "bind_dn": SERVICE_DN,
        "base_dn": STAFF_DN,
        "filter": "(objectClass=inetOrgPerson)",
        "page_size": 400,
    }
    return LdapSource.model_validate({**values, **changes})


def test_paged_read_gets_everyone_past_the_size_limit(slapd_company: SlapdServer) -> None:
    """All 5,000 entries come back through StartTLS although the server stops plain searches
    at 1,000; disabled accounts come back flagged."""
    read = read_ldap(_config(slapd_company), SERVICE_PASSWORD)
    assert len(read.entries) == len(PEOPLE) > SIZE_LIMIT
    disabled = {e.key for e in read.entries if e.disabled}
    assert disabled == {p.dn for p in PEOPLE if p.disabled}


def test_roster_from_ldap_keeps_active_people_with_their_aliases(
    slapd_company: SlapdServer,
) -> None:
    """People are the enabled entries with mail; proxyAddresses give aliases, X500 ones dropped;
    each department's manager is its head; homonyms stay separate people."""
    roster = build_roster(read_ldap(_config(slapd_company), SERVICE_PASSWORD))
    assert len(roster.people) == len(ENABLED_WITH_MAIL)
    by_email = {p.email: p for p in roster.people}
    sample = ENABLED_WITH_MAIL[100]
    assert by_email[sample.email or ""].aliases == [sample.alias]
    assert by_email[sample.email or ""].department == sample.department
    heads = {p.department: p.email for p in PEOPLE if p.manager == 0}
    assert {d: roster.managers[d] for d in DEPARTMENTS} == {d: (heads[d],) for d in DEPARTMENTS}
    names = [p.name for p in roster.people]
    assert names.count("王伟") > 1  # homonyms are different people with different addresses
    assert any("no e-mail address" in s for s in roster.skipped)


def test_departments_from_the_ou_path(slapd_company: SlapdServer) -> None:
    """With departments_from: ou, the first OU of the DN names the department."""
    config = _config(slapd_company, departments_from="ou",
                     attributes={"department": "description"})  # fmt: skip
    read = read_ldap(config, SERVICE_PASSWORD)
    assert {e.department for e in read.entries} == {*DEPARTMENTS, "总经办"}


def test_managers_from_groups(slapd_company: SlapdServer) -> None:
    """With managers_from: groups, each department's group members are its managers."""
    groups = {d: f"cn={d}负责人,{GROUPS_DN}" for d in DEPARTMENTS[:3]}
    config = _config(slapd_company, managers_from="groups", manager_groups=groups)
    roster = build_roster(read_ldap(config, SERVICE_PASSWORD))
    heads = {p.department: p.email for p in PEOPLE if p.manager == 0}
    assert dict(roster.managers) == {d: (heads[d],) for d in DEPARTMENTS[:3]}


@pytest.mark.parametrize(
    ("changes", "password", "words"),
    [
        ({}, "wrong", "invalidCredentials"),
        ({"cafile": None}, SERVICE_PASSWORD, "certificate"),
        ({"base_dn": "ou=Nowhere,dc=example,dc=com"}, SERVICE_PASSWORD, "noSuchObject"),
    ],
)
def test_failures_are_one_clear_error(
    slapd_company: SlapdServer, changes: dict[str, object], password: str, words: str
) -> None:
    """A refused bind, an untrusted certificate or a wrong base DN raise DirectorySourceError
    naming the server, never the password."""
    with pytest.raises(DirectorySourceError) as caught:
        read_ldap(_config(slapd_company, **changes), password)
    message = str(caught.value)
    assert slapd_company.url in message and words.lower() in message.lower()
    assert SERVICE_PASSWORD not in message


def test_a_connection_cut_mid_read_raises_instead_of_returning_part(
    slapd_company: SlapdServer,
) -> None:
    """When the connection drops after the first pages, the read fails as a whole; through
    the same relay left uncut, it succeeds."""
    with cutting_relay(slapd_company.port, cut_after_bytes=10_000_000) as port:
        config = _config(slapd_company, url=f"ldap://127.0.0.1:{port}", starttls=False)
        assert len(read_ldap(config, SERVICE_PASSWORD).entries) == len(PEOPLE)
    with cutting_relay(slapd_company.port, cut_after_bytes=300_000) as port:
        config = _config(slapd_company, url=f"ldap://127.0.0.1:{port}", starttls=False)
        with pytest.raises(DirectorySourceError) as caught:
            read_ldap(config, SERVICE_PASSWORD)
    assert f"127.0.0.1:{port}" in str(caught.value)
