"""Parse ``MAILFLOW_TRANSPORT`` URLs (DESIGN.md §3) into frozen, secret-free values.

Forms understood::

    file:///absolute/dir   file://relative/dir        one .eml file per mail
    smtp://host:port?security=starttls                 STARTTLS, required (the default)
    smtp://host:port?security=none                     plain text: a loopback relay only
    smtps://host:port                                  implicit TLS (port 465 by default)
    smtp://user%40example.com@host:587                 AUTH as user@example.com
    ews://user%40example.com@exchange.example.com/     on-premises Exchange (mailflow.ews.url)

SMTP query options: ``security=``, ``cafile=/path/ca.pem`` (trust this CA bundle instead of the
system's), ``timeout=30`` (seconds per SMTP command), ``auth=password|xoauth2|oauthbearer``
(an OAuth2 access token from the ``MAILFLOW_OAUTH_*`` settings instead of the password) and
``sessions=3`` (how many SMTP sessions the account may hold at once: the mailbox's limit,
shared by every worker process of the database; 3 by default on Microsoft 365, which refuses
a mailbox's fourth. Without it, each process holds up to 4, one per delivery thread).
The password never lives in the URL: it comes from ``MAILFLOW_TRANSPORT_PASSWORD`` or its
``_FILE``; a URL carrying one is refused, and no error message repeats the URL's text. Imports
nothing of mailflow but ``errors``, ``urls`` and ``ews.url``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, quote, unquote, urlsplit

from mailflow.errors import ConfigurationError
from mailflow.ews.url import EwsUrl, parse_ews_url
from mailflow.urls import Auth, Security, auth_of, query_options, security_of

VARIABLE = "MAILFLOW_TRANSPORT"
SUBMISSION_PORT = 587
SMTP_PORT = 25
SMTPS_PORT = 465
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 600.0
# delivery threads, each with its own SMTP session, in one process (``jobs.dispatch``)
DEFAULT_SESSIONS = 4
MAX_SESSIONS = 32
# Exchange Online takes at most three concurrent SMTP AUTH sessions per mailbox, and answers
# a fourth "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"
MICROSOFT_SESSIONS = 3
MICROSOFT_SUBMISSION_HOSTS = frozenset(
    {"smtp.office365.com", "smtp-mail.outlook.com", "smtp.partner.outlook.cn"}
)
_OPTIONS = frozenset({"security", "cafile", "timeout", "auth", "sessions"})


@dataclass(frozen=True)
class FileUrl:
    """A folder that receives one .eml file per mail."""

    path: Path

    @property
    def name(self) -> str:
        """A stable identity for logs."""
        return f"file://{self.path}"


@dataclass(frozen=True)
class SmtpUrl:
    """An SMTP submission server and how to talk to it; holds no secret."""

    host: str
    port: int
    security: Security = Security.STARTTLS
    username: str | None = None
    cafile: Path | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    auth: Auth = field(default=Auth.PASSWORD, repr=False)  # repr: no word 'password'
    sessions: int = DEFAULT_SESSIONS  # SMTP sessions one process holds at once
    # whether ``sessions`` is the account's limit across every worker (given, or Microsoft's)
    shared_sessions: bool = False

    @property
    def name(self) -> str:
        """A stable, secret-free identity for logs and errors: ``smtp://user@host:port``."""
        scheme = "smtps" if self.security is Security.TLS else "smtp"
        user = f"{quote(self.username, safe='')}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"


TransportUrl = FileUrl | SmtpUrl | EwsUrl


def parse_transport_url(url: str) -> TransportUrl:
    """Return the parsed ``MAILFLOW_TRANSPORT``; raise ConfigurationError saying what is wrong."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # urllib validates the port lazily
    except ValueError:  # its message may quote parts of the URL, so it is not repeated
        raise ConfigurationError(f"{VARIABLE}: not a valid URL (check host and port)") from None
    if parts.password is not None:
        raise ConfigurationError(
            f"{VARIABLE} must not contain a password; use {VARIABLE}_PASSWORD"
            f" or {VARIABLE}_PASSWORD_FILE"
        )
    scheme = parts.scheme.lower()
    if scheme == "file":
        return _file(parts)
    if scheme in ("smtp", "smtps"):
        return _smtp(parts)
    if scheme == "ews":
        return parse_ews_url(parts, VARIABLE, source=False)
    raise ConfigurationError(
        f"{VARIABLE}: unknown scheme {scheme!r} (use smtp://, smtps://, ews:// or file://)"
    )


def _file(parts: SplitResult) -> FileUrl:
    if parts.query or parts.username is not None:
        raise ConfigurationError(f"{VARIABLE}: a file:// URL takes only a folder path")
    raw = unquote(parts.netloc + parts.path)  # file://var/outbox puts "var" in the netloc
    if not raw or raw == "/":
        raise ConfigurationError(f"{VARIABLE}: file:// needs a folder path")
    return FileUrl(Path(raw))


def _smtp(parts: SplitResult) -> SmtpUrl:
    if not parts.hostname:
        raise ConfigurationError(f"{VARIABLE}: {parts.scheme}:// needs a host")
    if parts.path not in ("", "/"):
        raise ConfigurationError(f"{VARIABLE}: an SMTP URL takes no path")
    query = query_options(parts, VARIABLE, _OPTIONS)
    security = security_of(
        query.get("security"), "smtps", parts.scheme.lower() == "smtps", VARIABLE
    )
    default_port = {
        Security.TLS: SMTPS_PORT,
        Security.STARTTLS: SUBMISSION_PORT,
        Security.NONE: SMTP_PORT,
    }[security]
    return SmtpUrl(
        host=parts.hostname,
        port=parts.port or default_port,
        security=security,
        username=unquote(parts.username) if parts.username else None,
        cafile=Path(query["cafile"]) if query.get("cafile") else None,
        timeout_s=_timeout(query.get("timeout")),
        auth=_auth(query.get("auth"), parts),
        sessions=_sessions(query.get("sessions"), parts.hostname),
        shared_sessions="sessions" in query or _microsoft(parts.hostname),
    )


def _auth(value: str | None, parts: SplitResult) -> Auth:
    auth = auth_of(value, VARIABLE)
    if auth.uses_token and not parts.username:
        raise ConfigurationError(
            f"{VARIABLE}: auth={auth.value} needs the mailbox as user (smtp://user%40domain@host)"
        )
    return auth


def _microsoft(host: str) -> bool:
    return host.lower() in MICROSOFT_SUBMISSION_HOSTS


def _sessions(value: str | None, host: str) -> int:
    if value is None:
        return MICROSOFT_SESSIONS if _microsoft(host) else DEFAULT_SESSIONS
    if not value.isdigit() or not 1 <= int(value) <= MAX_SESSIONS:
        raise ConfigurationError(f"{VARIABLE}: sessions={value!r}; use 1 to {MAX_SESSIONS}")
    return int(value)


def _timeout(value: str | None) -> float:
    if value is None:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= MAX_TIMEOUT_S:
        raise ConfigurationError(f"{VARIABLE}: timeout={value!r}; use 1 to {MAX_TIMEOUT_S:.0f}")
    return seconds
