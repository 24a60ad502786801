"""A real, throwaway Dovecot IMAP server on loopback for tests and benchmarks.

``running_dovecot(users)`` starts ``dovecot -F`` with a config written to a fresh
``tempfile.mkdtemp()`` directory (never pytest's ``tmp_path``: it is mode 0700 and Dovecot's
unprivileged processes must traverse it), on free ports, and stops it by its own PID. It works
as root (mail as ``nobody``) and as a normal user. Importable without pytest: the fixtures
``dovecot`` (session) and ``imap_user`` (one clean mailbox per test) are at the bottom.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from imapclient import IMAPClient, SocketTimeout

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0
DOVECOT_CANDIDATES = ("dovecot", "/usr/sbin/dovecot")
INSTALL_HINT = "Dovecot is not installed: apt-get install -y dovecot-imapd"
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
INSTANCE = "mailflow-test-{port}"  # Dovecot's processes title themselves dovecot-INSTANCE/…
_INDEX_FILES = ("dovecot-uidlist", "dovecot.index", "dovecot.index.log", "dovecot.index.cache")

CONFIG = """\
# Throwaway Dovecot 2.3 for mailflow tests. Nothing from /etc/dovecot is read.
base_dir = {d}/run
state_dir = {d}/state
instance_name = {instance}
protocols = imap
listen = {host}
log_path = {d}/dovecot.log
default_internal_user = {internal_user}
default_login_user = {login_user}
{internal_group}
first_valid_uid = 1
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={d}/mail/%d/%n
}}
mail_location = maildir:~/Maildir
mailbox_idle_check_interval = 1 secs
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {port_tls}
    ssl = yes
  }}
  {chroot}
}}
service anvil {{
  {chroot}
  # no per-IP penalty after failed logins: wrong-password tests must not slow later tests
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{extra}
"""


def dovecot_binary() -> str | None:
    """Return the path of the ``dovecot`` binary, or None when it is not installed."""
    for candidate in DOVECOT_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


@dataclass
class DovecotServer:
    """A running Dovecot: where to connect, whose mail is where, and setup helpers."""

    host: str
    port: int
    port_tls: int
    cafile: Path
    base_dir: Path
    users: dict[str, str]
    pid: int = 0
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def process_title(self) -> str:
        """How each of this server's processes begins its title (``dovecot-…/imap``, …)."""
        return f"dovecot-{INSTANCE.format(port=self.port)}/"

    def maildir_of(self, user: str) -> Path:
        """Return the Maildir root of ``user`` (``local@domain``) as Dovecot stores it."""
        local, _, domain = user.partition("@")
        return self.base_dir / "mail" / domain / local / "Maildir"

    def source_url(self, user: str, folder: str = "INBOX", **query: str) -> str:
        """Return a ``MAILFLOW_SOURCE`` URL for ``user``: plain (``security=none``) by default,
        ``security="starttls"`` on the same port, ``security="tls"`` for ``imaps://`` on
        ``port_tls``. Pass ``cafile=str(server.cafile)`` to trust the server's certificate.
        """
        options = {"security": "none", **query}
        scheme = "imaps" if options.get("security") == "tls" else "imap"
        if scheme == "imaps":
            del options["security"]
        port = self.port_tls if scheme == "imaps" else self.port
        qs = "&".join(f"{k}={quote(str(v), safe='/:$')}" for k, v in options.items())
        return f"{scheme}://{quote(user, safe='')}@{self.host}:{port}/{quote(folder)}?{qs}"

    def client(self, user: str) -> IMAPClient:
        """Return a logged-in plain-text IMAPClient for test setup; the caller logs out."""
        c = IMAPClient(self.host, self.port, ssl=False, timeout=SocketTimeout(5, 15))
        password = self.users[user]
        if password.isascii():
            c.login(user, password)
        else:  # imaplib sends LOGIN as ASCII; PLAIN carries UTF-8
            c.plain_login(user, password)
        return c

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> int:
        """APPEND ``raw`` to ``folder`` of ``user``; return the UID the server gave it."""
        with self.client(user) as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            response = c.append(folder, raw)
        match = _APPENDUID.search(response)
        if match is None:
            raise RuntimeError(f"APPEND gave no APPENDUID: {response!r}")
        return int(match.group(2))

    def kick(self, user: str) -> None:
        """Disconnect every IMAP session of ``user`` (doveadm kick) and wait until they are gone:
        a session still exiting writes its view of the folder's index files back."""
        conf = str(self.base_dir / "dovecot.conf")
        subprocess.run(["doveadm", "-c", conf, "kick", user], check=False, capture_output=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            who = subprocess.run(
                ["doveadm", "-c", conf, "who", "-1", user], check=False, capture_output=True
            )
            if user.encode() not in who.stdout:
                return
            time.sleep(0.05)  # polling the sessions' end, not timing anything

    def reset_mailbox(self, user: str) -> None:
        """Disconnect ``user`` and delete their Maildir; Dovecot recreates an empty INBOX."""
        self.kick(user)
        shutil.rmtree(self.maildir_of(user).parent, ignore_errors=True)

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        """Return the current UIDVALIDITY of ``folder``."""
        with self.client(user) as c:
            return int(c.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def change_uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        """Give ``folder`` a new UIDVALIDITY, keeping its messages; return the new value.

        Disconnects the user, deletes the folder's ``dovecot-uidlist`` and index files, and
        lets Dovecot rescan: it renumbers the messages under a fresh UIDVALIDITY.
        """
        before = self.uidvalidity(user, folder)
        self.kick(user)
        root = self.maildir_of(user)
        folder_dir = root if folder.upper() == "INBOX" else root / ("." + folder.replace("/", "."))
        for name in _INDEX_FILES:
            (folder_dir / name).unlink(missing_ok=True)
        # Dovecot's fresh UIDVALIDITY is the clock's second, the same as before when the folder
        # was made in this second: an empty uid list naming the next value makes it certain
        uidlist = folder_dir / "dovecot-uidlist"
        uidlist.write_text(f"3 V{before + 1} N1\n")
        if os.geteuid() == 0:  # as root, Dovecot reads and writes the mail as nobody
            shutil.chown(uidlist, "nobody", "nogroup")
        after = self.uidvalidity(user, folder)
        if after == before:
            raise RuntimeError(f"UIDVALIDITY of {folder} stayed {before}")
        return after

    def log(self) -> str:
        """Return Dovecot's log so far (for failure messages)."""
        path = self.base_dir / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        """Start ``dovecot -F`` and wait for its banner; raise RuntimeError with its log."""
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError(INSTALL_HINT)
        self._proc = subprocess.Popen(
            [binary, "-F", "-c", str(self.base_dir / "dovecot.conf")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self._proc.pid
        _wait_for_banner(self.host, self.port, self._proc, self.log)

    def stop(self) -> None:
        """Stop this Dovecot by its own PID (TERM, then KILL) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """Kill this Dovecot and all its children at once (a crash); ``start()`` revives it."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: start_new_session=True
        proc.wait()
        # the master is gone, but its imap-login children may not be yet: until the last holds
        # the listening socket no more, the kernel still accepts (then resets) connections
        for port in (self.port, self.port_tls):
            _wait_for_refusal(self.host, port)


@contextmanager
def running_dovecot(users: dict[str, str], extra_config: str = "") -> Iterator[DovecotServer]:
    """Run a throwaway Dovecot for ``users`` (``local@domain`` → password) until the block ends.

    ``extra_config`` is appended to the generated config (e.g. ``imap_capability = …``).
    """
    base = Path(tempfile.mkdtemp(prefix="mailflow-dovecot-"))
    os.chmod(base, 0o755)
    port, port_tls = _free_port(), _free_port()
    server = DovecotServer(HOST, port, port_tls, base / "ca.pem", base, dict(users))
    try:
        _write_files(server, extra_config)
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _write_files(server: DovecotServer, extra_config: str) -> None:
    d = server.base_dir
    for sub in ("run", "state", "mail"):
        (d / sub).mkdir(mode=0o755)
    _make_certificates(d)
    (d / "users").write_text(
        "".join(f"{user}:{{PLAIN}}{password}::::::\n" for user, password in server.users.items())
    )
    if os.geteuid() == 0:
        names = dict(internal_user="dovecot", login_user="dovenull", internal_group="", chroot="")
        names |= dict(mail_user="nobody", mail_group="nogroup")
        shutil.chown(d / "mail", "nobody", "nogroup")
    else:
        import grp
        import pwd

        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        names = dict(internal_user=user, login_user=user, mail_user=user, mail_group=group)
        names |= dict(internal_group=f"default_internal_group = {group}", chroot="chroot =")
    config = CONFIG.format(
        d=d,
        host=server.host,
        port=server.port,
        port_tls=server.port_tls,
        instance=INSTANCE.format(port=server.port),
        extra=extra_config,
        **names,
    )
    (d / "dovecot.conf").write_text(config)


def _make_certificates(d: Path) -> None:
    """Write a throwaway CA (ca.pem) and a localhost/127.0.0.1 certificate signed by it."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=mailflow test CA")  # fmt: skip
    openssl("req", *ec, "-keyout", "key.pem", "-out", "cert.csr", "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    openssl("x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf")  # fmt: skip
    for name in ("key.pem", "ca.key"):
        os.chmod(d / name, 0o600)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait_for_banner(
    host: str, port: int, proc: subprocess.Popen[bytes], log: Callable[[], str]
) -> None:
    """Wait until the server greets with ``* OK``; raise with Dovecot's output if it exits."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"dovecot exited with {proc.returncode}:\n{output}\n{log()}")
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                if s.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            pass
        time.sleep(0.05)  # polling for a port to open; nothing to wait on instead
    proc.kill()
    raise RuntimeError(f"dovecot did not greet on {host}:{port} in {STARTUP_TIMEOUT_S} s")


def _wait_for_refusal(host: str, port: int) -> None:
    """Wait until nothing listens on ``port`` any more; raise RuntimeError after a deadline."""
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                pass
        except ConnectionRefusedError:
            return
        except OSError:
            pass
        time.sleep(0.01)  # polling for a port to close; nothing to wait on instead
    raise RuntimeError(f"{host}:{port} still accepts connections after the kill")


def ssl_context_for(server: DovecotServer) -> ssl.SSLContext:
    """Return a client SSL context that trusts the server's throwaway CA."""
    return ssl.create_default_context(cafile=str(server.cafile))


# ---- pytest fixtures (pytest imported here so scripts can use running_dovecot without it) ----

import pytest  # noqa: E402

TEST_USERS = {"alice@example.test": "alice-secret", "bob@example.test": "bob-secret"}


@dataclass(frozen=True)
class ImapUser:
    """One test's mailbox on the session Dovecot: a user with a clean Maildir."""

    server: DovecotServer
    name: str
    password: str

    def url(self, folder: str = "INBOX", **query: str) -> str:
        """Return a ``MAILFLOW_SOURCE`` URL for this user (plain loopback unless told)."""
        return self.server.source_url(self.name, folder, **query)

    def append(self, raw: bytes, folder: str = "INBOX") -> int:
        """APPEND ``raw`` to this user's ``folder``; return its UID."""
        return self.server.append(self.name, raw, folder)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A Dovecot for the whole session; fails (not skips) when Dovecot is not installed."""
    if dovecot_binary() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    with running_dovecot(TEST_USERS) as server:
        yield server


@pytest.fixture
def imap_user(dovecot: DovecotServer) -> Iterator[ImapUser]:
    """alice's mailbox, emptied before and after the test."""
    name = "alice@example.test"
    dovecot.reset_mailbox(name)
    yield ImapUser(dovecot, name, dovecot.users[name])
    dovecot.reset_mailbox(name)
