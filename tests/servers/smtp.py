"""A real aiosmtpd SMTP server on loopback with STARTTLS (or implicit TLS) and AUTH.

``running_smtp()`` makes a self-signed certificate for 127.0.0.1 with ``openssl``, starts an
aiosmtpd ``Controller`` on a free port and yields an ``SmtpServer``: its ``sink`` captures every
accepted mail (envelope and exact bytes, parsed too) and every TCP session that sent MAIL, and
takes programmed failures (``fail_next(3, "421 …")``, ``refuse("x@…", "550 …")``) and, like
Exchange Online, may refuse sessions beyond a number open at once (``Sink(max_sessions=3)``). Importable
without pytest, for benchmarks; the fixtures ``smtp_server`` and ``smtps_server`` are at the bottom
and fail (never skip) when something is missing.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
USER = "coord@example.com"
PASSWORD = "s3cret-不要外传"
OK = "250 OK"
# what Exchange Online answers a mailbox's fourth concurrent SMTP AUTH session
SESSION_LIMIT = "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"
INSTALL_HINT = "openssl is not installed: apt-get install -y openssl"


@dataclass(frozen=True)
class Received:
    """One mail the server accepted: envelope, exact bytes and the parsed message."""

    peer: tuple[str, int]
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    # time.monotonic() when the server accepted the DATA (benchmarks measure latency with it)
    accepted_monotonic_s: float = field(default_factory=time.monotonic, compare=False)
    # time.time() of the same moment, to compare with times other processes wrote down
    accepted_wall_s: float = field(default_factory=time.time, compare=False)

    @property
    def message(self) -> EmailMessage:
        """The mail parsed with the modern policy."""
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Sink:
    """aiosmtpd handler: records mail and sessions, and replies with programmed failures."""

    received: list[Received] = field(default_factory=list)
    sessions: list[tuple[str, int]] = field(default_factory=list)
    refusals: dict[str, str] = field(default_factory=dict)
    # None: any number of sessions; else MAIL on a session beyond this many open ones that
    # have sent MAIL is answered SESSION_LIMIT, as Exchange Online does
    max_sessions: int | None = None
    busy_refusals: int = 0  # MAIL commands answered SESSION_LIMIT
    most_sessions: int = 0  # the most sessions that had sent MAIL and were open at once
    _active: set[int] = field(default_factory=set)  # open sessions that sent MAIL
    _admitted: set[int] = field(default_factory=set)  # of those, the ones within the limit
    _failures: list[str] = field(default_factory=list)
    _drops: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _arrival: threading.Condition = field(default_factory=threading.Condition)

    def wait_for_count(self, count: int, timeout_s: float) -> bool:
        """Wait until at least ``count`` mails were received; return False at the timeout."""
        with self._arrival:
            return self._arrival.wait_for(lambda: len(self.received) >= count, timeout_s)

    def fail_next(self, times: int, reply: str = "421 4.3.2 Service busy, try later") -> None:
        """Answer the next ``times`` MAIL commands with ``reply`` instead of 250."""
        with self._lock:
            self._failures.extend([reply] * times)

    def drop_next(self, times: int) -> None:
        """Close the connection, unanswered, on the next ``times`` MAIL commands (a session
        that died between two mails without the client seeing it)."""
        with self._lock:
            self._drops += times

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        """Answer RCPT TO for ``address`` with ``reply`` from now on."""
        self.refusals[address.lower()] = reply

    def reset(self) -> None:
        """Forget mail, sessions and programmed failures."""
        with self._lock:
            self.received.clear()
            self.sessions.clear()
            self.refusals.clear()
            self._failures.clear()
            self._drops = 0
            self.busy_refusals = self.most_sessions = 0

    def closed(self, server: SMTP) -> None:
        """A session ended (its connection was lost or closed)."""
        with self._lock:
            self._active.discard(id(server))
            self._admitted.discard(id(server))

    def _over_limit(self, server: SMTP) -> bool:
        """Count ``server``'s session as active; return whether it is beyond the limit."""
        self._active.add(id(server))
        self.most_sessions = max(self.most_sessions, len(self._active))
        if self.max_sessions is None or id(server) in self._admitted:
            return False
        if len(self._admitted) >= self.max_sessions:
            self.busy_refusals += 1
            return True
        self._admitted.add(id(server))
        return False

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self._lock:
            if self._drops:
                self._drops -= 1
                server.transport.close()
                return OK  # never written: the connection is closed
            if self._failures:
                return self._failures.pop(0)
            if self._over_limit(server):
                return SESSION_LIMIT
            if session.peer not in self.sessions:
                self.sessions.append(session.peer)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = self.refusals.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        mail = Received(session.peer, str(envelope.mail_from), tuple(envelope.rcpt_tos), content)
        with self._lock:
            self.received.append(mail)
        with self._arrival:
            self._arrival.notify_all()
        return "250 2.0.0 Message accepted for delivery"


@dataclass
class Authenticator:
    """Accepts exactly one user and password over PLAIN or LOGIN."""

    users: dict[str, str]
    failures: int = 0

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            login, password = data.login.decode(), data.password.decode()
            if self.users.get(login) == password:
                return AuthResult(success=True, auth_data=login)
        self.failures += 1
        # handled=False makes aiosmtpd answer 535; the default (True) sends nothing and the
        # client hangs until its read timeout (LIBRARIES §7.2)
        return AuthResult(success=False, handled=False)


@dataclass
class SmtpServer:
    """A running server: where it listens, how to trust it, and what it received."""

    host: str
    port: int
    implicit_tls: bool
    cafile: Path
    sink: Sink
    authenticator: Authenticator

    def url(self, user: str | None = USER) -> str:
        """Return the ``MAILFLOW_TRANSPORT`` URL for this server, trusting its certificate."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        who = f"{quote(user, safe='')}@" if user else ""
        security = "" if self.implicit_tls else "security=starttls&"
        return f"{scheme}://{who}{self.host}:{self.port}?{security}cafile={self.cafile}&timeout=5"


def free_port() -> int:
    """Return a TCP port on loopback that nobody listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1/localhost; return (cert, key) paths."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError(INSTALL_HINT)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class _TellingSMTP(SMTP):  # type: ignore[misc]
    """aiosmtpd's server, telling its Sink when a session's connection ends."""

    def connection_lost(self, error: Exception | None) -> None:
        if isinstance(self.event_handler, Sink):
            self.event_handler.closed(self)
        super().connection_lost(error)


class _QuietController(Controller):  # type: ignore[misc]
    """A Controller that silences aiosmtpd's AUTH-without-STARTTLS warning for implicit TLS."""

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return _TellingSMTP(self.handler, **self.SMTP_kwargs)


@contextmanager
def running_smtp(
    *, implicit_tls: bool = False, users: dict[str, str] | None = None, sink: Sink | None = None
) -> Iterator[SmtpServer]:
    """Start an SMTP server (STARTTLS required, or implicit TLS) with AUTH; stop it on exit.
    ``sink`` may be a Sink subclass with ``auth_<MECH>`` methods (more SASL mechanisms)."""
    with tempfile.TemporaryDirectory(prefix="mailflow-smtp-") as tmp:
        cert, key = make_certificate(Path(tmp))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        sink = sink if sink is not None else Sink()
        authenticator = Authenticator(dict(users or {USER: PASSWORD}))
        port = free_port()
        tls: dict[str, Any] = (
            {"ssl_context": context}
            if implicit_tls
            else {"tls_context": context, "require_starttls": True}
        )
        controller = _QuietController(
            sink, hostname=HOST, port=port, server_hostname="smtp.test",
            authenticator=authenticator, auth_required=True, **tls,
            # aiosmtpd sees only STARTTLS as TLS; an implicit-TLS session is encrypted anyway
            auth_require_tls=not implicit_tls,
        )  # fmt: skip
        controller.start()
        try:
            yield SmtpServer(HOST, port, implicit_tls, cert, sink, authenticator)
        finally:
            controller.stop()


try:
    import pytest
except ImportError:  # used from a script without pytest: the fixtures are not needed
    pass
else:

    @pytest.fixture(scope="session")
    def _smtp_starttls() -> Iterator[SmtpServer]:
        with running_smtp() as server:
            yield server

    @pytest.fixture(scope="session")
    def _smtp_implicit_tls() -> Iterator[SmtpServer]:
        with running_smtp(implicit_tls=True) as server:
            yield server

    @pytest.fixture
    def smtp_server(_smtp_starttls: SmtpServer) -> SmtpServer:
        """A STARTTLS + AUTH server with an empty sink, no programmed failures and no failed
        logins counted (the server lives for the session; a test may log in wrongly)."""
        _smtp_starttls.sink.reset()
        _smtp_starttls.authenticator.failures = 0
        return _smtp_starttls

    @pytest.fixture
    def smtps_server(_smtp_implicit_tls: SmtpServer) -> SmtpServer:
        """An implicit-TLS + AUTH server with an empty sink, no programmed failures and no
        failed logins counted."""
        _smtp_implicit_tls.sink.reset()
        _smtp_implicit_tls.authenticator.failures = 0
        return _smtp_implicit_tls
