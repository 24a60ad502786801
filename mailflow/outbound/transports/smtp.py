"""The SMTP transport: aiosmtplib behind a synchronous ``send`` (LIBRARIES §3).

Each ``SmtpTransport`` owns one asyncio event loop running in its own daemon thread, started on
first use (after any fork: the Dramatiq CLI forks workers) and restarted if the process id
changes. Callers in any thread, including one that already runs an event loop, submit coroutines
to it and wait with a deadline, so one SMTP connection can outlive a single call: inside
``batch()`` every send reuses it; outside, the session stays open ``keepalive_s`` for the next
send (checked with NOOP first unless the last mail went out less than ``FRESH_S`` ago), then
QUIT. Sends on one instance are serialised (SMTP carries one transaction at a time); for
parallel delivery use one instance per worker thread. TLS is never left to chance: STARTTLS
is required (``start_tls=True``) unless the URL says ``security=none``, and ``smtps://`` is
implicit TLS.

With a ``gate`` (``sessions=``, shared by every worker through the database), a session is
opened only while the gate holds one of the sessions the mailbox allows, and given back when
it closes.

Library exceptions stop here, translated by ``translate_error``. The password lives in one
private attribute and appears in no message or repr; so do OAuth2 access tokens
(``?auth=xoauth2|oauthbearer``, ``smtp_oauth``). Imports nothing of mailflow but ``errors``,
``oauth`` and its own package.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import aiosmtplib

from mailflow.oauth import AccessTokens
from mailflow.outbound.transports.base import RecipientsRefused, SessionGate
from mailflow.outbound.transports.smtp_errors import translate_error
from mailflow.outbound.transports.smtp_oauth import token_login
from mailflow.outbound.transports.url import SmtpUrl
from mailflow.urls import Security

T = TypeVar("T")
# a send is connect + EHLO + STARTTLS + EHLO + AUTH + MAIL + RCPT... + DATA: each is one timeout
_COMMANDS_PER_SEND = 8


class _LoopThread:
    """An event loop in a daemon thread, recreated after fork."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._guard = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        """Run ``coro`` on the loop and return its result; cancel it after ``timeout_s``."""
        future = asyncio.run_coroutine_threadsafe(coro, self._running_loop())
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout_s:.0f} s") from None

    def stop(self) -> None:
        """Stop the loop and its thread (a later ``run`` starts a new one)."""
        with self._guard:
            loop, self._loop = self._loop, None
        if loop is not None and self._pid == os.getpid():
            loop.call_soon_threadsafe(loop.stop)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._guard:
            if self._loop is None or self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                threading.Thread(
                    target=_serve, args=(self._loop,), name=self._name, daemon=True
                ).start()
            return self._loop


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()


# a session left open between sends outside a batch (worker threads send one mail at a time)
KEEPALIVE_S = 30.0
# a session used this recently is reused without a NOOP first (a worker thread sending mail
# after mail): a server that closed it in between is seen as closed; one that drops it at the
# next command is replaced at once, and the mail sent on a fresh session
FRESH_S = 2.0
# a session that holds one of the mailbox's shared sessions (a gate) waits for the next send
# only this long: a delivery thread of another worker may be waiting for it
SHARED_KEEPALIVE_S = 2.0


class SmtpTransport:
    """Sends mail over SMTP with STARTTLS or implicit TLS, AUTH and per-command timeouts."""

    def __init__(
        self,
        url: SmtpUrl,
        password: str | None = None,
        *,
        keepalive_s: float = KEEPALIVE_S,
        tokens: AccessTokens | None = None,
        gate: SessionGate | None = None,
    ) -> None:
        """``keepalive_s``: how long a session stays open after a send outside ``batch()``
        for the next one (checked with NOOP before reuse); 0 closes it after every send.
        ``tokens``: the OAuth2 access tokens of ``?auth=xoauth2|oauthbearer``, asked on every
        connect. ``gate``: holds one of the sessions the mailbox allows across every worker
        (``sessions=``) while this transport's session is open; None: no limit but the
        caller's threads."""
        self.url = url
        self.__password = password
        self._tokens = tokens
        self._client: aiosmtplib.SMTP | None = None
        self._lock = threading.RLock()
        self._depth = 0
        self._loop = _LoopThread(f"smtp {url.name}")
        self._keepalive_s = keepalive_s
        self._idle: asyncio.TimerHandle | None = None
        self._last_sent = float("-inf")  # the event loop's time of the last mail sent
        self._tls = _tls_context(url) if url.security is not Security.NONE else None
        self.connections_opened = 0  # how many SMTP sessions this instance started
        self.gate = gate

    def __repr__(self) -> str:
        return f"SmtpTransport({self.url.name!r})"

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self,
        raw: bytes,
        sender: str,
        recipients: Sequence[str],
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        """Deliver ``raw``; raise TransientSendError, PermanentSendError or RecipientsRefused.
        ``on_accepted`` runs in the event loop's thread as soon as the server's 250 is read
        (no hop to the caller's thread first), when every recipient was accepted."""
        rcpts = list(recipients)
        if not rcpts:
            raise RecipientsRefused("a mail needs at least one recipient", {}, ())
        deadline = self.url.timeout_s * (_COMMANDS_PER_SEND + len(rcpts))
        if self.gate is not None:
            deadline += self.gate.patience_s  # the wait for a session comes first
        with self._lock:
            try:
                refused = self._loop.run(self._send(raw, sender, rcpts, on_accepted), deadline)
            except Exception as e:
                raise translate_error(e, self.url) from e
        if refused:
            accepted = [r for r in rcpts if r not in refused]
            listed = "; ".join(f"{a}: {c} {t}" for a, (c, t) in sorted(refused.items()))
            raise RecipientsRefused(f"{self.url.name} refused {listed}", refused, accepted)

    @contextmanager
    def batch(self) -> Iterator[SmtpTransport]:
        """Return a context in which every send reuses one connection, closed on exit."""
        with self._lock:
            self._depth += 1
        try:
            yield self
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._end_session()

    def close(self) -> None:
        """Say QUIT if connected, then stop the event loop thread; never raises."""
        with self._lock:
            self._end_session()
            self._loop.stop()

    def _end_session(self) -> None:
        if self._idle is not None:
            self._loop.run(self._cancel_idle_async(), self.url.timeout_s)
        if self._client is None:
            return
        try:
            self._loop.run(self._quit(), self.url.timeout_s)
        except Exception:  # QUIT on a dead connection has nothing to report
            self._client = None
            self._leave()

    async def _send(
        self,
        raw: bytes,
        sender: str,
        recipients: list[str],
        on_accepted: Callable[[], None] | None = None,
    ) -> dict[str, tuple[int, str]]:
        self._cancel_idle()
        client, unchecked = await self._usable_client()
        try:
            if self.gate is not None and self.gate.due():
                # the database, from this transport's own loop: nothing else runs on it
                self.gate.enter()
            if client is None:
                client = self._client = await self._connect()
            try:
                errors, _reply = await client.sendmail(sender, recipients, raw)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                if not unchecked:
                    raise
                # the reused session had died unseen: the same mail on a fresh one, once
                client.close()
                client = self._client = None
                client = self._client = await self._connect()
                errors, _reply = await client.sendmail(sender, recipients, raw)
        except BaseException:  # also a cancellation after the caller's deadline
            self._client = None
            if client is not None:
                client.close()
            self._leave()
            raise
        if on_accepted is not None and not errors:
            on_accepted()  # before anything else: the mail is out, the caller records it now
        loop = asyncio.get_running_loop()
        self._last_sent = loop.time()
        if self._depth == 0:
            keepalive_s = self._keepalive_s
            if self.gate is not None:
                keepalive_s = min(keepalive_s, SHARED_KEEPALIVE_S)
            if keepalive_s > 0:
                self._idle = loop.call_later(keepalive_s, self._quit_later)
            else:
                await self._quit()
        return {address: (r.code, r.message) for address, r in errors.items()}

    async def _usable_client(self) -> tuple[aiosmtplib.SMTP | None, bool]:
        """Return the open session, or None when there is none or it no longer answers NOOP;
        and whether it is reused unchecked (inside a batch, or sent on a moment ago)."""
        client = self._client
        if client is None or not client.is_connected:
            return None, False
        if self._depth > 0 or asyncio.get_running_loop().time() - self._last_sent < FRESH_S:
            return client, True
        try:
            await client.noop()
        except (aiosmtplib.SMTPException, OSError):
            self._client = None
            client.close()
            return None, False
        return client, False

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _quit_later(self) -> None:
        self._idle = None
        asyncio.get_running_loop().create_task(self._quit())

    async def _connect(self) -> aiosmtplib.SMTP:
        url = self.url
        client = aiosmtplib.SMTP(
            hostname=url.host,
            port=url.port,
            timeout=url.timeout_s,
            use_tls=url.security is Security.TLS,
            start_tls=url.security is Security.STARTTLS,
            tls_context=self._tls,
        )
        await client.connect()
        self.connections_opened += 1
        try:
            if url.username is not None:
                await client.ehlo()  # after STARTTLS the extensions (AUTH) are announced anew
                if not client.supports_extension("auth"):
                    raise aiosmtplib.SMTPNotSupported("the server offers no AUTH for this user")
                if url.auth.uses_token:
                    assert self._tokens is not None  # open_transport pairs them
                    await token_login(client, url.username, url.auth, self._tokens)
                else:
                    await client.login(url.username, self.__password or "")
        except BaseException:
            client.close()
            raise
        return client

    async def _cancel_idle_async(self) -> None:
        self._cancel_idle()

    async def _quit(self) -> None:
        client, self._client = self._client, None
        try:
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except aiosmtplib.SMTPException:
                    client.close()
        finally:
            self._leave()

    def _leave(self) -> None:
        """Give back the mailbox's session held for the one just closed (if any)."""
        if self.gate is not None:
            self.gate.leave()


def _tls_context(url: SmtpUrl) -> ssl.SSLContext:
    """Return a verifying context, trusting ``cafile`` instead of the system store when given."""
    cafile = str(url.cafile) if url.cafile is not None else None
    return ssl.create_default_context(cafile=cafile)
