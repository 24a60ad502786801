"""Parse ``MAILFLOW_SOURCE`` URLs (DESIGN.md §3) into frozen, secret-free values.

Forms understood::

    maildir:///absolute/path          maildir://relative/path
    imap://user@host:port/INBOX?security=starttls   (default for imap://)
    imap://user@host:port/INBOX?security=none       (plain text, for a loopback server)
    imaps://user@host:port/INBOX                    (implicit TLS)
    ews://user@host/[EWS/Exchange.asmx]?options     (on-premises Exchange; see mailflow.ews.url)

A user name containing ``@`` is percent-encoded (``alice%40example.com``). IMAP query options:

``batch=N``
    messages per FETCH batch (default 200).
``processed=flag`` | ``processed=move:Folder`` | ``processed=none``
    how a committed message is marked: the keyword ``$MailflowProcessed`` (default; never
    ``\\Seen``), a move into ``Folder`` (created when missing), or nothing (the UID
    checkpoint alone).
``cafile=/path/ca.pem``
    trust this CA bundle instead of the system's (private CA, tests).
``idle=no``
    never use IDLE; poll with NOOP instead.
``auth=password`` | ``auth=xoauth2`` | ``auth=oauthbearer``
    log in with the password (default), or with an OAuth2 access token from the
    ``MAILFLOW_OAUTH_*`` settings (Microsoft 365, Gmail).

Passwords never live in the URL: they come from ``MAILFLOW_SOURCE_PASSWORD`` or its ``_FILE``.
A URL carrying one is refused, and no error message repeats it. Imports nothing of mailflow but
``errors``, ``urls`` and ``ews.url``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, quote, unquote, urlsplit

from mailflow.errors import ConfigurationError
from mailflow.ews.url import EwsUrl, parse_ews_url
from mailflow.urls import Auth, Security, auth_of, query_options, security_of

DEFAULT_FOLDER = "INBOX"
DEFAULT_BATCH = 200
MAX_BATCH = 5000
PROCESSED_KEYWORD = "$MailflowProcessed"
IMAP_PORT = 143
IMAPS_PORT = 993
VARIABLE = "MAILFLOW_SOURCE"
_IMAP_OPTIONS = frozenset({"security", "batch", "processed", "cafile", "idle", "auth"})
_YES = {"yes", "true", "1", "on"}
_NO = {"no", "false", "0", "off"}


class Processed(enum.Enum):
    """How a committed message is marked in the mailbox."""

    FLAG = "flag"
    MOVE = "move"
    NONE = "none"


@dataclass(frozen=True)
class MaildirUrl:
    """A Maildir folder on this machine."""

    path: Path

    @property
    def name(self) -> str:
        """A stable identity for checkpoints and logs."""
        return f"maildir://{self.path}"


@dataclass(frozen=True)
class ImapUrl:
    """An IMAP mailbox folder and how to talk to it; holds no secret."""

    host: str
    port: int
    username: str
    folder: str = DEFAULT_FOLDER
    security: Security = Security.STARTTLS
    batch: int = DEFAULT_BATCH
    processed: Processed = Processed.FLAG
    processed_folder: str | None = None  # the target of processed=move:Folder
    cafile: Path | None = None
    idle: bool = True
    auth: Auth = field(default=Auth.PASSWORD, repr=False)  # repr: no word 'password'

    @property
    def name(self) -> str:
        """A stable identity for checkpoints, leases and logs: ``imap://user@host:port/folder``."""
        scheme = "imaps" if self.security is Security.TLS else "imap"
        user = quote(self.username, safe="")
        return f"{scheme}://{user}@{_netloc_host(self.host)}:{self.port}/{quote(self.folder)}"


SourceUrl = MaildirUrl | ImapUrl | EwsUrl


def parse_source_url(url: str) -> SourceUrl:
    """Return the parsed ``MAILFLOW_SOURCE``; raise ConfigurationError saying what is wrong."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # urllib validates the port lazily
    except ValueError:  # its message may quote parts of the URL, so it is not repeated
        raise ConfigurationError("MAILFLOW_SOURCE: not a valid URL (check host and port)") from None
    if parts.password is not None:
        raise ConfigurationError(
            "MAILFLOW_SOURCE must not contain a password; use MAILFLOW_SOURCE_PASSWORD"
            " or MAILFLOW_SOURCE_PASSWORD_FILE"
        )
    scheme = parts.scheme.lower()
    if scheme == "maildir":
        return _maildir(parts)
    if scheme in ("imap", "imaps"):
        return _imap(parts)
    if scheme == "ews":
        return parse_ews_url(parts, VARIABLE, source=True)
    raise ConfigurationError(
        f"MAILFLOW_SOURCE: unknown scheme {scheme!r} (use maildir://, imap://, imaps:// or ews://)"
    )


def _maildir(parts: SplitResult) -> MaildirUrl:
    if parts.query or parts.username is not None:
        raise ConfigurationError("MAILFLOW_SOURCE: a maildir:// URL takes only a path")
    raw = unquote(parts.netloc + parts.path)  # maildir://rel/path puts "rel" in the netloc
    if not raw or raw == "/":
        raise ConfigurationError("MAILFLOW_SOURCE: maildir:// needs a folder path")
    return MaildirUrl(Path(raw))


def _imap(parts: SplitResult) -> ImapUrl:
    query = query_options(parts, VARIABLE, _IMAP_OPTIONS)
    implicit_tls = parts.scheme.lower() == "imaps"
    security = security_of(query.get("security"), "imaps", implicit_tls, VARIABLE)
    processed, processed_folder = _processed(query.get("processed", Processed.FLAG.value))
    folder = unquote(parts.path.lstrip("/")) or DEFAULT_FOLDER
    cafile = Path(query["cafile"]) if query.get("cafile") else None
    return ImapUrl(
        host=_host(parts),
        port=parts.port or (IMAPS_PORT if implicit_tls else IMAP_PORT),
        username=_username(parts),
        folder=folder,
        security=security,
        batch=_batch(query.get("batch")),
        processed=processed,
        processed_folder=processed_folder,
        cafile=cafile,
        idle=_flag("idle", query.get("idle", "yes")),
        auth=auth_of(query.get("auth"), VARIABLE),
    )


def _processed(value: str) -> tuple[Processed, str | None]:
    kind, _, folder = value.partition(":")
    if kind == Processed.MOVE.value and folder:
        return Processed.MOVE, folder
    if kind in (Processed.FLAG.value, Processed.NONE.value) and not folder:
        return Processed(kind), None
    raise ConfigurationError(
        f"MAILFLOW_SOURCE: processed={value!r}; use flag, none or move:FolderName"
    )


def _batch(value: str | None) -> int:
    if value is None:
        return DEFAULT_BATCH
    if not value.isdigit() or not 1 <= int(value) <= MAX_BATCH:
        raise ConfigurationError(f"MAILFLOW_SOURCE: batch={value!r}; use 1 to {MAX_BATCH}")
    return int(value)


def _flag(name: str, value: str) -> bool:
    if value.lower() in _YES:
        return True
    if value.lower() in _NO:
        return False
    raise ConfigurationError(f"MAILFLOW_SOURCE: {name}={value!r}; use yes or no")


def _username(parts: SplitResult) -> str:
    if not parts.username:
        raise ConfigurationError(
            f"MAILFLOW_SOURCE: {parts.scheme}:// needs a user name (user%40domain@host)"
        )
    return unquote(parts.username)


def _host(parts: SplitResult) -> str:
    if not parts.hostname:
        raise ConfigurationError(f"MAILFLOW_SOURCE: {parts.scheme}:// needs a host")
    return parts.hostname


def _netloc_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
