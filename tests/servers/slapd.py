"""A real OpenLDAP ``slapd`` for directory tests: generated configuration, loopback port, TLS.

The server holds a generated company (``tests.directories.people``) loaded with ``slapadd``
before it starts, enforces a size limit of 1,000 entries for ordinary binds as Active Directory
does (paged searches may read on), and offers StartTLS with a throwaway CA. The sync binds as a
service account, not as the root DN, so the limits apply to it. Skips when slapd is missing.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.directories.people import BASE_DN, DEPARTMENTS, GROUPS_DN, STAFF_DN, TOP, Staff, company
from tests.servers.dovecot import _free_port, _make_certificates

HOST = "127.0.0.1"
ROOT_DN, ROOT_PASSWORD = f"cn=admin,{BASE_DN}", "root-secret"
SERVICE_DN, SERVICE_PASSWORD = f"cn=mailflow,ou=Service,{BASE_DN}", "service-secret"
SIZE_LIMIT = 1000
STARTUP_TIMEOUT_S = 20.0
SCHEMA = Path(__file__).with_name("ad-attributes.schema")
DEBIAN_SCHEMAS = Path("/etc/ldap/schema")


def slapd_binary() -> str | None:
    """Return the slapd executable, or None when OpenLDAP's server is not installed."""
    return shutil.which("slapd") or (
        "/usr/sbin/slapd" if os.access("/usr/sbin/slapd", os.X_OK) else None
    )


@dataclass
class SlapdServer:
    """A running slapd and what a test needs to reach and change it."""

    folder: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://{HOST}:{self.port}"

    @property
    def cafile(self) -> str:
        return str(self.folder / "ca.pem")

    def start(self) -> None:
        """Start slapd in the foreground of a child process and wait until it answers."""
        self.proc = subprocess.Popen(
            [slapd_binary() or "slapd", "-d", "0", "-h", f"{self.url}/",
             "-f", str(self.folder / "slapd.conf")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait_for_port(self.port, self.proc)

    def stop(self) -> None:
        """Stop slapd and wait for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def ldapmodify(self, ldif: str) -> None:
        """Apply an LDIF change as the root DN; raise with the tool's output on failure."""
        done = subprocess.run(
            ["ldapmodify", "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PASSWORD],
            input=ldif.encode(), capture_output=True,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(done.stderr.decode(errors="replace") or done.stdout.decode())


def running_slapd(people: list[Staff]) -> Iterator[SlapdServer]:
    """Start a slapd holding ``people``; stop it and remove its files afterwards."""
    if slapd_binary() is None:
        pytest.skip("slapd is not installed (scripts/test.sh installs Debian's slapd package)")
    folder = Path(tempfile.mkdtemp(prefix="mailflow-slapd-"))
    server = SlapdServer(folder, _free_port())
    try:
        _make_certificates(folder)
        (folder / "db").mkdir()
        (folder / "slapd.conf").write_text(_config(folder))
        (folder / "data.ldif").write_text(company_ldif(people), encoding="utf-8")
        subprocess.run(
            ["slapadd", "-q", "-f", str(folder / "slapd.conf"), "-l", str(folder / "data.ldif")],
            check=True, capture_output=True,
        )  # fmt: skip
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _config(folder: Path) -> str:
    schemas = [DEBIAN_SCHEMAS / f"{n}.schema" for n in ("core", "cosine", "inetorgperson")]
    includes = "".join(f"include {p}\n" for p in [*schemas, SCHEMA])
    return (
        f"{includes}"
        "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
        f"pidfile {folder}/slapd.pid\nargsfile {folder}/slapd.args\n"
        f"TLSCACertificateFile {folder}/ca.pem\n"
        f"TLSCertificateFile {folder}/cert.pem\nTLSCertificateKeyFile {folder}/key.pem\n"
        "database mdb\n"
        f'suffix "{BASE_DN}"\nrootdn "{ROOT_DN}"\nrootpw {ROOT_PASSWORD}\n'
        f"directory {folder}/db\nmaxsize 268435456\n"
        f"limits users size.soft={SIZE_LIMIT} size.hard={SIZE_LIMIT} size.prtotal=unlimited\n"
        "access to attrs=userPassword by anonymous auth by * none\n"
        "access to * by * read\n"
    )


def company_ldif(people: list[Staff]) -> str:
    """Return the LDIF of the base, the service account, ``people`` and manager groups."""
    parts = [
        _entry(
            BASE_DN,
            [
                ("objectClass", "dcObject"),
                ("objectClass", "organization"),
                ("o", "示例科技"),
                ("dc", "example"),
            ],
        ),
        _entry(f"ou=Service,{BASE_DN}", [("objectClass", "organizationalUnit"), ("ou", "Service")]),
        _entry(
            SERVICE_DN,
            [
                ("objectClass", "person"),
                ("objectClass", "simpleSecurityObject"),
                ("cn", "mailflow"),
                ("sn", "mailflow"),
                ("userPassword", SERVICE_PASSWORD),
            ],
        ),
        _entry(STAFF_DN, [("objectClass", "organizationalUnit"), ("ou", "Staff")]),
        _entry(GROUPS_DN, [("objectClass", "organizationalUnit"), ("ou", "Groups")]),
    ]
    for dept in (TOP, *DEPARTMENTS):
        parts.append(
            _entry(f"ou={dept},{STAFF_DN}", [("objectClass", "organizationalUnit"), ("ou", dept)])
        )
    index = {p.n: p for p in people}
    for person in people:
        parts.append(_entry(person.dn, person_attributes(person, index)))
    for dept in DEPARTMENTS:
        head = next(p for p in people if p.department == dept and p.manager == 0)
        parts.append(
            _entry(
                f"cn={dept}负责人,{GROUPS_DN}",
                [("objectClass", "groupOfNames"), ("cn", f"{dept}负责人"), ("member", head.dn)],
            )
        )
    return "\n".join(parts)


def person_attributes(person: Staff, index: dict[int, Staff]) -> list[tuple[str, str]]:
    """Return the LDAP attributes of one generated person, AD-style."""
    attrs = [("objectClass", "inetOrgPerson"), ("objectClass", "mailflowTestAdUser"),
             ("uid", person.uid), ("cn", person.name), ("sn", person.name[0]),
             ("displayName", person.name), ("department", person.department),
             ("sAMAccountName", person.uid),
             ("userAccountControl", "514" if person.disabled else "512")]  # fmt: skip
    if person.email:
        attrs += [("mail", person.email), ("proxyAddresses", f"SMTP:{person.email}"),
                  ("proxyAddresses", f"smtp:{person.alias}"),
                  ("proxyAddresses", f"X500:/o=Example/cn={person.uid}")]  # fmt: skip
    if person.manager is not None:
        attrs.append(("manager", index[person.manager].dn))
    return attrs


def _entry(dn: str, attrs: list[tuple[str, str]]) -> str:
    lines = [_line("dn", dn)] + [_line(k, v) for k, v in attrs]
    return "\n".join(lines) + "\n"


def _line(key: str, value: str) -> str:
    if value.isascii() and not value.startswith((" ", ":", "<")):
        return f"{key}: {value}"
    return f"{key}:: {base64.b64encode(value.encode()).decode()}"


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"slapd exited with {proc.returncode}:\n{output}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)  # polling for a port to open; nothing to wait on instead
    proc.kill()
    raise RuntimeError(f"slapd did not listen on {HOST}:{port} in {STARTUP_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def slapd_company() -> Iterator[SlapdServer]:
    """A slapd holding the 5,000-person generated company, shared by a test module."""
    yield from running_slapd(company(5000))


@pytest.fixture
def small_slapd() -> Iterator[SlapdServer]:
    """A slapd of its own holding a 60-person company, for tests that change the directory."""
    yield from running_slapd(company(60))
