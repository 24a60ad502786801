"""Connection-level IMAP helpers for ``ImapSource``: connect, translate errors, wait for mail.

Everything here works on one ``IMAPClient`` and keeps no state of its own. ``guarded`` is the one
place where imapclient, imaplib, socket and ssl exceptions become mailflow's
``SourceConnectionError`` / ``SourceAuthenticationError``, token errors included. Imports
nothing of mailflow but ``errors``, ``oauth`` and ``sources.url``.
"""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import LoginError

from mailflow import __version__
from mailflow.errors import (
    SourceAuthenticationError,
    SourceConnectionError,
    TokenRefused,
    TokenUnavailable,
)
from mailflow.oauth import AccessTokens
from mailflow.sources.url import ImapUrl
from mailflow.urls import Auth, Security

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0
READ_TIMEOUT_S = 60.0
IDLE_RENEW_S = 600.0  # imapclient's advice; RFC 2177 allows 29 min
# idle_check returning [] this early, twice in a row, means the peer closed (imapclient#565)
EOF_FRACTION = 0.5
EOF_STRIKES = 2
EXISTS = b"EXISTS"
BYE = b"BYE"
UNAVAILABLE = "[UNAVAILABLE]"  # RFC 5530: a temporary login failure, worth a retry
CAP_PLAIN = "AUTH=PLAIN"
CAP_NO_LOGIN = "LOGINDISABLED"
CAP_ID = "ID"
IMAPLIB_LOGGER = "imapclient.imaplib"  # where imapclient sends imaplib's debug messages
CLIENT_NAME = "mailflow"

# imaplib.IMAP4.error covers imapclient's IMAPClientError, LoginError and abort; OSError
# covers socket.timeout and ssl.SSLError.
CONNECTION_ERRORS = (imaplib.IMAP4.error, OSError)


class ConnectionLost(imaplib.IMAP4.abort):
    """Raised when the server closed the connection while we were idling."""


def connect(url: ImapUrl, password: str | None, tokens: AccessTokens | None = None) -> IMAPClient:
    """Return a logged-in client for ``url``: with ``password``, or with an access token from
    ``tokens`` for ``?auth=xoauth2|oauthbearer``; raise the library's exceptions and token
    errors (see ``guarded``)."""
    context = None
    if url.security is not Security.NONE:
        context = ssl.create_default_context(cafile=str(url.cafile) if url.cafile else None)
    timeout = SocketTimeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S)
    implicit = url.security is Security.TLS
    client = IMAPClient(url.host, url.port, ssl=implicit, ssl_context=context, timeout=timeout)
    quiet_imaplib(client)
    try:
        if url.security is Security.STARTTLS:
            client.starttls(context)  # raises when the server does not offer it: no downgrade
        if url.auth.uses_token:
            assert tokens is not None  # ImapSource pairs a token login with its tokens
            token_login(client, url, tokens)
        else:
            login(client, url, password or "")
        identify(client, url)
    except BaseException:
        shutdown(client)
        raise
    return client


def quiet_imaplib(client: IMAPClient) -> None:
    """Stop imaplib formatting what it reads for a log line nobody will see.

    imapclient sets imaplib's debug level to 5 so that imaplib's own messages reach the
    ``imapclient.imaplib`` logger, and imaplib builds each message before that logger can drop
    it: the ``repr`` of every mail of a FETCH answer, and of the whole answer once more. That was
    1.1 of the 1.3 s of CPU that fetching 5,000 mails took (docs/benchmarks.md). The level stays
    at 5 when that logger shows DEBUG records, so ``-v``-style debugging still sees them.
    """
    if not logging.getLogger(IMAPLIB_LOGGER).isEnabledFor(logging.DEBUG):
        client._imap.debug = 0


def login(client: IMAPClient, url: ImapUrl, password: str) -> None:
    """Log in with LOGIN, or with AUTHENTICATE PLAIN in UTF-8 (RFC 4616) when a credential is
    not ASCII or the server disables LOGIN: imaplib sends LOGIN's arguments as ASCII and would
    raise UnicodeEncodeError.

    Raises LoginError when refused, SourceAuthenticationError when no mechanism can carry the
    credentials."""
    plain_needed = not (url.username.isascii() and password.isascii())
    if not plain_needed and not client.has_capability(CAP_NO_LOGIN):
        client.login(url.username, password)
        return
    if not client.has_capability(CAP_PLAIN):
        why = "the user name or password is not ASCII" if plain_needed else "LOGIN is disabled"
        raise SourceAuthenticationError(
            f"{url.name}: {why} and the server offers no AUTHENTICATE PLAIN"
        )
    client.plain_login(url.username, password)


def identify(client: IMAPClient, url: ImapUrl) -> None:
    """Send ID (RFC 2971) when the server offers it: NetEase refuses to open folders for a
    client that did not say who it is ("Unsafe Login"). A refused ID is only logged."""
    if not client.has_capability(CAP_ID):
        return
    try:
        client.id_({"name": CLIENT_NAME, "version": __version__})
    except imaplib.IMAP4.error as e:
        log.debug("%s: the server did not take ID: %s", url.name, describe(e))


def token_login(client: IMAPClient, url: ImapUrl, tokens: AccessTokens) -> None:
    """Log in with an access token (XOAUTH2 or OAUTHBEARER); a refused token is renewed once
    and tried again (it may have been revoked or expired early). Raises LoginError."""
    mechanism = url.auth.value.upper()
    if not client.has_capability(f"AUTH={mechanism}"):
        raise SourceAuthenticationError(
            f"{url.name}: the server offers no AUTHENTICATE {mechanism}"
        )
    token = tokens.token()
    try:
        _send_token(client, url, token)
    except LoginError:
        log.info("%s: the server refused the access token; asking for a new one", url.name)
        _send_token(client, url, tokens.renew(token))


def _send_token(client: IMAPClient, url: ImapUrl, token: str) -> None:
    if url.auth is Auth.OAUTHBEARER:
        client.oauthbearer_login(url.username, token)
    else:
        client.oauth2_login(url.username, token)


@contextmanager
def guarded(name: str, action: str, drop: Callable[[], None]) -> Iterator[None]:
    """Translate library errors raised in the block, calling ``drop()`` first.

    Raises SourceAuthenticationError when the login is refused, SourceConnectionError for
    everything else that went wrong with the connection or a command.
    """
    try:
        yield
    except TokenRefused as e:
        drop()
        raise SourceAuthenticationError(f"{name}: {e}") from e
    except TokenUnavailable as e:
        drop()
        raise SourceConnectionError(f"{name}: {e}") from e
    except LoginError as e:
        drop()
        if UNAVAILABLE in str(e):
            raise SourceConnectionError(f"{name}: login temporarily unavailable") from e
        raise SourceAuthenticationError(f"{name}: the server refused the login") from e
    except CONNECTION_ERRORS as e:
        drop()
        raise SourceConnectionError(f"{name}: {action} failed: {describe(e)}") from e
    except BaseException:
        drop()  # e.g. interrupted while IDLE: the connection state is unknown
        raise


def idle_until(client: IMAPClient, deadline: float, name: str) -> None:
    """IDLE until new mail (EXISTS) or ``deadline`` (monotonic); leave IDLE before returning.

    Renews IDLE every IDLE_RENEW_S with a NOOP in between, which fails within READ_TIMEOUT_S
    on a dead connection; other news (a flag changed, ``* OK Still here``) does not end the
    wait. Raises ConnectionLost on BYE or on idle_check's EOF busy loop.
    """
    responses = start_idle(client)
    log.debug("%s: idling", name)
    renew_at, strikes = time.monotonic() + IDLE_RENEW_S, 0
    while True:
        if strikes >= EOF_STRIKES or any(r and r[0] == BYE for r in responses):
            raise ConnectionLost("the server closed the connection during IDLE")
        if has_new_mail(responses):
            log.debug("%s: new mail", name)
            break
        now = time.monotonic()
        if now >= deadline:
            break
        if now >= renew_at:
            log.debug("%s: renewing IDLE", name)
            _, told = client.idle_done()
            _, more = client.noop()
            if has_new_mail([*told, *more]):  # told now, so not again once IDLE restarts
                log.debug("%s: new mail", name)
                return
            responses, renew_at = start_idle(client), time.monotonic() + IDLE_RENEW_S
            continue
        wait_s = min(deadline, renew_at) - now
        responses = client.idle_check(timeout=wait_s)
        strikes = strikes + 1 if _early_empty(responses, now, wait_s) else 0
    client.idle_done()


def start_idle(client: IMAPClient) -> list[tuple[Any, ...]]:
    """Enter IDLE; return the untagged responses the server sent along with its "+ idling".

    Dovecot, for one, tells the changes it has not told yet as soon as IDLE starts, often in
    the same packet as the continuation. imaplib reads that packet whole into its buffer, where
    ``idle_check``, which waits on the socket, would not see it until the next packet came."""
    client.idle()
    return read_ahead(client)


def read_ahead(client: IMAPClient) -> list[tuple[Any, ...]]:
    """Return the untagged responses imaplib (or TLS) has read ahead into its buffer, without
    waiting for more from the server."""
    responses: list[tuple[Any, ...]] = []
    while _buffered(client):
        line = client._imap._get_line()  # a whole line: the server sends them so
        if line.startswith(b"* "):
            words = line[2:].split(b" ", 2)
            responses.append(tuple(int(w) if w.isdigit() else w for w in words))
    return responses


def _buffered(client: IMAPClient) -> bool:
    """Return whether bytes wait in the client's read buffer (a peek that never blocks)."""
    sock = client.socket()
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        return bool(client._imap.file.peek(1))
    except OSError:  # nothing buffered, and the socket has nothing either (TLS says so)
        return False
    finally:
        sock.settimeout(timeout)


def poll_until(client: IMAPClient, deadline: float, interval_s: float, name: str) -> None:
    """NOOP every ``interval_s`` until new mail (EXISTS) or ``deadline`` (monotonic)."""
    log.debug("%s: polling with NOOP", name)
    while True:
        _, responses = client.noop()
        remaining = deadline - time.monotonic()
        if has_new_mail(responses) or remaining <= 0:
            return
        time.sleep(min(remaining, interval_s))


def has_new_mail(responses: Iterable[tuple[Any, ...]]) -> bool:
    """Return whether untagged ``responses`` announce a new message count (EXISTS)."""
    return any(len(r) >= 2 and r[1] == EXISTS for r in responses)


def _early_empty(responses: list[tuple[Any, ...]], started: float, timeout_s: float) -> bool:
    """Return whether idle_check gave nothing long before its timeout: a readable EOF."""
    return not responses and time.monotonic() - started < timeout_s * EOF_FRACTION


def describe(error: BaseException) -> str:
    """Return ``Type: message`` for a log line or an error message."""
    return f"{type(error).__name__}: {error}"


def wake(client: IMAPClient) -> None:
    """Make a read on ``client`` blocked in another thread return now; never raises.

    Only the socket is shut down: its reader sees end-of-file and fails through the usual
    connection-error path, which drops the client. Closing the file here instead would race
    with that reader (imaplib raising ValueError on a closed file).
    """
    try:
        client.socket().shutdown(socket.SHUT_RDWR)
    except OSError as e:  # already closed or never connected: nothing is blocked on it
        log.debug("wake: %s", describe(e))


def shutdown(client: IMAPClient) -> None:
    """Close the socket without a LOGOUT round trip; never raises."""
    try:
        client.shutdown()
    except Exception as e:  # already closed; nothing to release
        log.debug("shutdown: %s", describe(e))
