"""Parse ``ews://`` URLs (on-premises Exchange Web Services) into frozen, secret-free values.

Forms understood::

    ews://coord%40corp.example.cn@mail.corp.example.cn/
    ews://CORP%5Ccoord@mail.corp.example.cn/EWS/Exchange.asmx?auth=ntlm&processed=move:已处理

The path is the service endpoint (``/EWS/Exchange.asmx`` when absent): mailflow never needs
autodiscover, which is only tried with ``?autodiscover=yes``. Options:

``auth=ntlm`` (default) | ``auth=basic``
    how the password (``MAILFLOW_SOURCE_PASSWORD`` / ``MAILFLOW_TRANSPORT_PASSWORD``) is sent.
``security=none``
    plain HTTP, for a server on loopback only (HTTPS otherwise).
``cafile=/path/ca.pem``
    trust this CA bundle (a company CA) instead of the system's.
``version=2013|2016|2019``
    the Exchange version, so no request is spent probing it (default 2016).
``processed=category:Name`` | ``processed=move:Folder`` | ``processed=none``
    source only: how committed mail is marked: a category people see in Outlook (default
    ``category:mailflow``), or a move into a folder under the mailbox root, created when missing.
``mailbox=coord%40corp.example.cn``
    the mailbox's SMTP address, needed when the login is ``DOMAIN\\user``.
``batch=N``
    source only: changes per SyncFolderItems page (default 100).
``notify=pull`` (default) | ``notify=poll``
    source only: wait for new mail with a pull subscription (GetEvents) or by syncing every
    ``MAILFLOW_POLL_INTERVAL_S``.

Imports nothing of mailflow but ``errors`` and ``urls``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, quote, unquote

from mailflow.errors import ConfigurationError
from mailflow.urls import query_options

DEFAULT_PATH = "/EWS/Exchange.asmx"
DEFAULT_CATEGORY = "mailflow"
DEFAULT_BATCH = 100
MAX_BATCH = 512  # EWS caps MaxChangesReturned at 512
VERSIONS = {"2013": (15, 0), "2016": (15, 1), "2019": (15, 2)}
_COMMON = {"auth", "security", "cafile", "version", "autodiscover", "mailbox"}
SOURCE_OPTIONS = frozenset(_COMMON | {"processed", "batch", "notify"})
TRANSPORT_OPTIONS = frozenset(_COMMON)


class EwsAuth(enum.Enum):
    """How the password goes to Exchange."""

    NTLM = "ntlm"
    BASIC = "basic"


class EwsMark(enum.Enum):
    """How a committed message is marked in the mailbox."""

    CATEGORY = "category"
    MOVE = "move"
    NONE = "none"


@dataclass(frozen=True)
class EwsUrl:
    """An Exchange mailbox reached over EWS; holds no secret."""

    username: str
    host: str
    port: int | None = None
    path: str = DEFAULT_PATH
    auth: EwsAuth = EwsAuth.NTLM
    tls: bool = True
    cafile: Path | None = None
    version: tuple[int, int] = VERSIONS["2016"]
    autodiscover: bool = False
    mark: EwsMark = EwsMark.CATEGORY
    mark_target: str | None = field(default=DEFAULT_CATEGORY)  # the category or folder name
    batch: int = DEFAULT_BATCH
    pull: bool = True
    mailbox_address: str | None = None  # ?mailbox= when the user name is DOMAIN\user

    @property
    def name(self) -> str:
        """A stable identity for checkpoints, leases and logs: ``ews://user@host/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ews://{quote(self.username, safe='')}@{host}/"

    @property
    def endpoint(self) -> str:
        """The service endpoint: ``https://host[:port]/EWS/Exchange.asmx``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else ""
        return f"{'https' if self.tls else 'http'}://{host}{port}{self.path}"

    @property
    def mailbox(self) -> str:
        """The SMTP address of the mailbox: ``?mailbox=``, else the user name."""
        return self.mailbox_address or self.username


def parse_ews_url(parts: SplitResult, variable: str, *, source: bool) -> EwsUrl:
    """Return the parsed ``ews://`` URL of ``variable``; raise ConfigurationError."""
    query = query_options(parts, variable, SOURCE_OPTIONS if source else TRANSPORT_OPTIONS)
    if not parts.username:
        raise ConfigurationError(f"{variable}: ews:// needs a user name (user%40domain@host)")
    if not parts.hostname:
        raise ConfigurationError(f"{variable}: ews:// needs a host")
    mark, target = _mark(query.get("processed"), variable)
    username, mailbox = unquote(parts.username), query.get("mailbox")
    if "@" not in (mailbox or username):
        raise ConfigurationError(
            f"{variable}: a DOMAIN\\user login needs the mailbox's address: ?mailbox=user%40domain"
        )
    return EwsUrl(
        username=username,
        mailbox_address=mailbox,
        host=parts.hostname,
        port=parts.port,
        path=unquote(parts.path) if parts.path not in ("", "/") else DEFAULT_PATH,
        auth=_choice(EwsAuth, query.get("auth", "ntlm"), "auth", variable),
        tls=_security(query.get("security"), variable),
        cafile=Path(query["cafile"]) if query.get("cafile") else None,
        version=_version(query.get("version", "2016"), variable),
        autodiscover=_yes(query.get("autodiscover", "no"), "autodiscover", variable),
        mark=mark,
        mark_target=target,
        batch=_batch(query.get("batch"), variable),
        pull=_choice_str(query.get("notify", "pull"), ("pull", "poll"), "notify", variable)
        == "pull",
    )


def _mark(value: str | None, variable: str) -> tuple[EwsMark, str | None]:
    if value is None:
        return EwsMark.CATEGORY, DEFAULT_CATEGORY
    kind, _, target = value.partition(":")
    if kind in (EwsMark.CATEGORY.value, EwsMark.MOVE.value) and target:
        return EwsMark(kind), target
    if kind == EwsMark.NONE.value and not target:
        return EwsMark.NONE, None
    raise ConfigurationError(
        f"{variable}: processed={value!r}; use category:Name, move:Folder or none"
    )


def _choice(kind: type[EwsAuth], value: str, name: str, variable: str) -> EwsAuth:
    try:
        return kind(value.lower())
    except ValueError:
        known = ", ".join(k.value for k in kind)
        raise ConfigurationError(f"{variable}: {name}={value!r}; use {known}") from None


def _choice_str(value: str, known: tuple[str, ...], name: str, variable: str) -> str:
    if value.lower() not in known:
        raise ConfigurationError(f"{variable}: {name}={value!r}; use {' or '.join(known)}")
    return value.lower()


def _security(value: str | None, variable: str) -> bool:
    if value in (None, "tls"):
        return True
    if value == "none":
        return False
    raise ConfigurationError(
        f"{variable}: security={value!r}; ews:// is HTTPS, or none on loopback"
    )


def _version(value: str, variable: str) -> tuple[int, int]:
    if value not in VERSIONS:
        raise ConfigurationError(f"{variable}: version={value!r}; use {', '.join(VERSIONS)}")
    return VERSIONS[value]


def _yes(value: str, name: str, variable: str) -> bool:
    return _choice_str(value, ("yes", "no"), name, variable) == "yes"


def _batch(value: str | None, variable: str) -> int:
    if value is None:
        return DEFAULT_BATCH
    if not value.isdigit() or not 1 <= int(value) <= MAX_BATCH:
        raise ConfigurationError(f"{variable}: batch={value!r}; use 1 to {MAX_BATCH}")
    return int(value)
