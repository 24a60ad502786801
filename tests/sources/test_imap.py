"""``ImapSource`` against a real Dovecot: reading, checkpoints, marking, TLS, IDLE, failures."""

from __future__ import annotations

import email
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from mailflow.errors import SourceAuthenticationError, SourceConnectionError
from mailflow.settings import DEFAULT_BATCH_BYTES, load_settings
from mailflow.sources.base import Checkpoint, FetchedMail
from mailflow.sources.imap import ImapSource
from mailflow.sources.imap_session import IMAPLIB_LOGGER, connect, shutdown
from mailflow.sources.url import PROCESSED_KEYWORD, ImapUrl, parse_source_url
from tests.servers.dovecot import DovecotServer, ImapUser, running_dovecot

pytestmark = pytest.mark.dovecot

KEYWORD = PROCESSED_KEYWORD.encode()
SEEN = rb"\Seen"
DEADLINE_S = 10.0  # bound for anything that should happen "soon"; waits end on events, not sleeps
MINIMAL_CAPABILITIES = "imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE UNSELECT UIDPLUS"
USER, PASSWORD = "carol@example.test", "carol-secret"


class DictCursor:
    """A SourceCursor over dicts: what an ingest service would have committed."""

    def __init__(self) -> None:
        self.checkpoints: dict[str, Checkpoint] = {}
        self.keys: dict[str, set[str]] = {}
        self.message_ids: set[str] = set()

    def checkpoint(self, folder: str) -> Checkpoint | None:
        """Return the committed checkpoint of ``folder``."""
        return self.checkpoints.get(folder)

    def seen_keys(self, folder: str) -> set[str]:
        """Return the committed keys of ``folder``."""
        return set(self.keys.get(folder, set()))

    def known_message_ids(self, message_ids: Iterable[str]) -> set[str]:
        """Return which of ``message_ids`` are committed."""
        return set(message_ids) & self.message_ids

    def stores_any(self) -> bool:
        """Return whether any message is committed."""
        return bool(self.message_ids)

    def commit(self, batch: Sequence[FetchedMail]) -> None:
        """Record ``batch`` as committed, advancing the checkpoint like the ingest service."""
        for mail in batch:
            self.message_ids.add(message_id(mail))
            self.keys.setdefault(mail.folder, set()).add(mail.key)
            assert mail.uid is not None and mail.uidvalidity is not None
            old = self.checkpoints.get(mail.folder)
            last = old.last_uid if old and old.uidvalidity == mail.uidvalidity else 0
            self.checkpoints[mail.folder] = Checkpoint(mail.uidvalidity, max(last, mail.uid))


def raw_mail(n: int, size: int = 0) -> bytes:
    """Return a small message numbered ``n`` (Message-ID ``<n@test>``), padded to ``size``."""
    body = f"第 {n} 封邮件\r\n" + "x" * size
    return (
        f"Message-ID: <{n}@test>\r\nFrom: a@example.test\r\nTo: coord@example.test\r\n"
        f"Subject: 【通知】技术部-测试{n}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def message_id(mail: FetchedMail) -> str:
    """Return the Message-ID of a fetched mail."""
    return str(email.message_from_bytes(mail.raw)["Message-ID"]).strip()


def ingest(source: ImapSource, cursor: DictCursor, acknowledge: bool = True) -> list[str]:
    """Fetch, commit and (optionally) acknowledge like the service; return the Message-IDs."""
    got: list[str] = []
    for batch in source.fetch(cursor):
        cursor.commit(batch)
        if acknowledge:
            source.acknowledge(batch)
        got += [message_id(m) for m in batch]
    return got


def flags(server: DovecotServer, user: str, folder: str = "INBOX") -> dict[str, tuple[bytes, ...]]:
    """Return Message-ID → flags of every message in ``folder``, read without side effects."""
    with server.client(user) as c:
        c.select_folder(folder, readonly=True)
        data = c.fetch(c.search(["ALL"]), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    return {
        d[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().split(":", 1)[1].strip(): d[b"FLAGS"]
        for d in data.values()
    }


@pytest.fixture
def open_source() -> Iterator[Callable[..., ImapSource]]:
    """A factory of ImapSources for a URL (or an ImapUser plus query options); closes them all."""
    opened: list[ImapSource] = []

    def factory(
        where: ImapUser | str,
        password: str | None = None,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        **options: str,
    ) -> ImapSource:
        url = where if isinstance(where, str) else where.url(**options)
        parsed = parse_source_url(url)
        assert isinstance(parsed, ImapUrl)
        secret = password or (where.password if isinstance(where, ImapUser) else PASSWORD)
        source = ImapSource(parsed, secret, noop_interval_s=0.2, batch_bytes=batch_bytes)
        opened.append(source)
        return source

    yield factory
    for source in opened:
        source.close()


@pytest.fixture(scope="module")
def minimal_dovecot() -> Iterator[DovecotServer]:
    """A second Dovecot that offers neither IDLE nor MOVE after login."""
    with running_dovecot({USER: PASSWORD}, extra_config=MINIMAL_CAPABILITIES) as server:
        yield server


@contextmanager
def logged(text: str, then: Callable[[], object] | None = None) -> Iterator[threading.Event]:
    """Yield an Event set as soon as a mailflow.sources record containing ``text`` is logged;
    ``then`` runs at that moment in the logging thread, before the logging call returns."""
    seen = threading.Event()

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if text in record.getMessage():
                seen.set()
                if then is not None:
                    then()

    logger = logging.getLogger("mailflow.sources")
    handler, level = Handler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def after(event: threading.Event, action: Callable[[], object]) -> threading.Thread:
    """Start a thread that runs ``action`` once ``event`` is set (within DEADLINE_S)."""
    thread = threading.Thread(target=lambda: event.wait(DEADLINE_S) and action(), daemon=True)
    thread.start()
    return thread


# ---- reading ----


def test_fetch_peeks_without_setting_seen(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """Fetching returns the raw bytes and leaves \\Seen unset on the server."""
    uid = imap_user.append(raw_mail(1))
    batches = list(open_source(imap_user).fetch(DictCursor()))
    assert [[(m.folder, m.key, m.uid, m.raw) for m in b] for b in batches] == [
        [("INBOX", str(uid), uid, raw_mail(1))]
    ]
    assert batches[0][0].uidvalidity == imap_user.server.uidvalidity(imap_user.name)
    assert SEEN not in flags(imap_user.server, imap_user.name)["<1@test>"]


@pytest.mark.parametrize("debugging", [False, True], ids=["quiet", "debug-log"])
def test_imaplib_formats_what_it_reads_only_for_a_debug_log(
    imap_user: ImapUser, caplog: pytest.LogCaptureFixture, debugging: bool
) -> None:
    """imapclient has imaplib format every response it reads (each mail's bytes) for the
    ``imapclient.imaplib`` logger, which drops it below DEBUG: mailflow turns that formatting off
    unless the logger shows DEBUG records, and then the records still carry what was read."""
    imap_user.append(raw_mail(1))
    url = parse_source_url(imap_user.url())
    assert isinstance(url, ImapUrl)
    with caplog.at_level(logging.DEBUG if debugging else logging.INFO, logger=IMAPLIB_LOGGER):
        client = connect(url, imap_user.password)
        try:
            client.select_folder("INBOX", readonly=True)
            assert client.fetch(client.search("ALL"), ["BODY.PEEK[]"])
            formatting = client._imap.debug > 0
        finally:
            shutdown(client)
    assert formatting is debugging
    read = [r for r in caplog.records if r.name == IMAPLIB_LOGGER and "<1@test>" in r.getMessage()]
    assert bool(read) is debugging


def test_fetch_yields_batches_of_the_configured_size(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """batch=2 over five messages yields batches of 2, 2 and 1, oldest first."""
    for n in range(1, 6):
        imap_user.append(raw_mail(n))
    batches = list(open_source(imap_user, batch="2").fetch(DictCursor()))
    assert [[message_id(m) for m in b] for b in batches] == [
        ["<1@test>", "<2@test>"],
        ["<3@test>", "<4@test>"],
        ["<5@test>"],
    ]


def test_large_mail_cuts_batches_by_bytes(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """Batches are also cut by RFC822.SIZE so one FETCH never carries too many bytes."""
    for n in (1, 2, 3, 4):
        imap_user.append(raw_mail(n, size=2000 if n < 4 else 6000))
    batches = list(open_source(imap_user, batch_bytes=5000).fetch(DictCursor()))
    assert [[message_id(m) for m in b] for b in batches] == [
        ["<1@test>", "<2@test>"],
        ["<3@test>"],
        ["<4@test>"],  # over the limit alone: fetched by itself, never skipped
    ]


def test_checkpoint_hides_committed_mail_despite_the_n_star_trap(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """After a commit nothing comes back, although UID SEARCH last+1:* returns the last UID."""
    for n in (1, 2, 3):
        imap_user.append(raw_mail(n))
    source, cursor = open_source(imap_user, processed="none"), DictCursor()
    assert ingest(source, cursor) == ["<1@test>", "<2@test>", "<3@test>"]
    with imap_user.server.client(imap_user.name) as c:
        c.select_folder("INBOX")
        assert c.search(["UID", "4:*"]) == [3]  # the trap is real on this server
    assert ingest(source, cursor) == []
    imap_user.append(raw_mail(4))
    assert ingest(source, cursor) == ["<4@test>"]


def test_first_fetch_skips_message_ids_already_stored(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """Without a checkpoint, mail whose Message-ID is stored is marked, not fetched again."""
    for n in (1, 2):
        imap_user.append(raw_mail(n))
    cursor = DictCursor()
    cursor.message_ids.add("<1@test>")
    assert ingest(open_source(imap_user), cursor) == ["<2@test>"]
    assert all(KEYWORD in f for f in flags(imap_user.server, imap_user.name).values())


def test_message_without_body_is_skipped(
    imap_user: ImapUser, open_source: Callable[..., ImapSource], caplog: pytest.LogCaptureFixture
) -> None:
    """A message the server returns no body for is logged and skipped; the rest still come."""
    uids = [imap_user.append(raw_mail(n)) for n in (1, 2, 3)]
    batches = open_source(imap_user, batch="1").fetch(DictCursor())
    assert [message_id(m) for m in next(batches)] == ["<1@test>"]
    maildir = imap_user.server.maildir_of(imap_user.name)
    (victim,) = [p for p in maildir.glob("*/*") if p.is_file() and b"<2@test>" in p.read_bytes()]
    victim.unlink()  # Dovecot still lists UID 2 in this session but has no body for it
    with caplog.at_level(logging.WARNING, logger="mailflow.sources"):
        rest = [message_id(m) for b in batches for m in b]
    assert rest == ["<3@test>"]
    assert f"no body for UID {uids[1]}" in caplog.text


# ---- marking ----


def test_acknowledge_adds_keyword_never_seen(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """The default processed=flag adds $MailflowProcessed and leaves \\Seen alone."""
    for n in (1, 2):
        imap_user.append(raw_mail(n))
    ingest(open_source(imap_user), DictCursor())
    marked = flags(imap_user.server, imap_user.name)
    assert len(marked) == 2, marked
    for got in marked.values():
        assert KEYWORD in got and SEEN not in got


def test_acknowledge_moves_into_a_created_folder(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """processed=move:Folder creates the folder and MOVEs committed mail there."""
    for n in (1, 2):
        imap_user.append(raw_mail(n))
    source, cursor = open_source(imap_user, processed="move:已处理/Done"), DictCursor()
    assert ingest(source, cursor) == ["<1@test>", "<2@test>"]
    assert flags(imap_user.server, imap_user.name) == {}
    assert set(flags(imap_user.server, imap_user.name, "已处理/Done")) == {"<1@test>", "<2@test>"}
    imap_user.append(raw_mail(3))
    assert ingest(source, cursor) == ["<3@test>"]


def test_move_without_move_capability_spares_others_deleted_mail(
    minimal_dovecot: DovecotServer, open_source: Callable[..., ImapSource]
) -> None:
    """Without MOVE, COPY + UID EXPUNGE moves our mail and leaves another client's \\Deleted mail."""
    minimal_dovecot.reset_mailbox(USER)
    with minimal_dovecot.client(USER) as c:
        assert not c.has_capability("MOVE")
    other = minimal_dovecot.append(USER, raw_mail(1))
    with minimal_dovecot.client(USER) as c:
        c.select_folder("INBOX")
        c.add_flags([other], [rb"\Deleted"])
    cursor = DictCursor()
    cursor.message_ids.add("<1@test>")  # stored already: resync marks (moves) it too...
    minimal_dovecot.append(USER, raw_mail(2))
    source = open_source(minimal_dovecot.source_url(USER, processed="move:Done"))
    assert ingest(source, cursor) == ["<2@test>"]
    assert set(flags(minimal_dovecot, USER, "Done")) == {"<1@test>", "<2@test>"}
    # ...but the original, \Deleted by "another client", was not expunged by a plain EXPUNGE
    assert list(flags(minimal_dovecot, USER)) == []


def test_catch_up_marks_committed_mail_left_unmarked(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """Committed mail a crash left unmarked is marked on the next connection; unknown mail is not."""
    for n in (1, 2, 3):
        imap_user.append(raw_mail(n))
    cursor = DictCursor()
    crashed = open_source(imap_user)
    ingest(crashed, cursor, acknowledge=False)  # "crash" between commit and acknowledge
    crashed.close()
    cursor.message_ids.discard("<2@test>")  # as if UID 2 had been skipped, never stored
    assert ingest(open_source(imap_user), cursor) == []
    got = flags(imap_user.server, imap_user.name)
    assert [KEYWORD in got[f"<{n}@test>"] for n in (1, 2, 3)] == [True, False, True]


# ---- connecting ----


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_with_the_fixture_ca(
    imap_user: ImapUser, open_source: Callable[..., ImapSource], security: str
) -> None:
    """STARTTLS and implicit TLS (imaps://) work when the URL names the server's CA."""
    imap_user.append(raw_mail(1))
    source = open_source(imap_user, security=security, cafile=str(imap_user.server.cafile))
    assert ingest(source, DictCursor()) == ["<1@test>"]


def test_tls_refuses_an_untrusted_certificate(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """Without the CA the certificate does not verify, which is a SourceConnectionError."""
    with pytest.raises(SourceConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        list(open_source(imap_user, security="starttls").fetch(DictCursor()))


def test_wrong_password_is_an_authentication_error(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """A refused login raises SourceAuthenticationError without showing the password."""
    source = open_source(imap_user, password="not-the-password")
    with pytest.raises(SourceAuthenticationError) as raised:
        list(source.fetch(DictCursor()))
    assert "not-the-password" not in str(raised.value) and "not-the-password" not in repr(source)


def test_password_from_a_file(imap_user: ImapUser, tmp_path: Path) -> None:
    """ImapSource.from_settings reads the secret from MAILFLOW_SOURCE_PASSWORD_FILE."""
    secret = tmp_path / "imap-password"
    secret.write_text(imap_user.password + "\n")
    imap_user.append(raw_mail(1))
    settings = load_settings(source=imap_user.url(), source_password_file=secret)
    source = ImapSource.from_settings(settings)
    try:
        assert ingest(source, DictCursor()) == ["<1@test>"]
    finally:
        source.close()


# ---- waiting ----


def test_append_wakes_idle_long_before_the_timeout(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """An APPEND from another connection while the source IDLEs ends wait_for_mail early."""
    source, cursor = open_source(imap_user), DictCursor()
    assert ingest(source, cursor) == []
    with logged("idling") as idling:
        appender = after(idling, lambda: imap_user.append(raw_mail(1)))
        started = time.monotonic()
        source.wait_for_mail(60)
        elapsed = time.monotonic() - started
    appender.join(DEADLINE_S)
    assert idling.is_set() and elapsed < DEADLINE_S
    assert ingest(source, cursor) == ["<1@test>"]


def test_mail_that_arrived_after_fetch_returns_at_once(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """Mail delivered between fetch and wait_for_mail ends the wait before any IDLE."""
    source, cursor = open_source(imap_user), DictCursor()
    ingest(source, cursor)
    imap_user.append(raw_mail(1))
    with logged("idling") as idling:
        source.wait_for_mail(60)
    assert not idling.is_set()


@contextmanager
def appended_before(
    command: str, user: ImapUser
) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Yield (armed, fired): once ``armed`` is set, mail is APPENDed from another connection
    just before the source next sends a command containing ``command``; ``fired`` tells it was.
    imapclient and imaplib log each command in the sending thread before they send it, imaplib
    only for a client that connected while its logger showed DEBUG records (``quiet_imaplib``):
    so connect the source inside this block."""
    armed, fired = threading.Event(), threading.Event()

    class AppendBefore(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if armed.is_set() and not fired.is_set() and command in record.getMessage():
                fired.set()
                user.append(raw_mail(1))

    protocol = logging.getLogger("imapclient")  # imapclient.imapclient and imapclient.imaplib
    handler, level = AppendBefore(), protocol.level
    protocol.addHandler(handler)
    protocol.setLevel(logging.DEBUG)
    try:
        yield armed, fired
    finally:
        protocol.removeHandler(handler)
        protocol.setLevel(level)


def test_mail_told_in_the_answer_to_the_last_check_before_idle_ends_the_wait(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """Mail delivered after the NOOP that precedes IDLE and before the SEARCH for new UIDs is
    not in that SEARCH's answer: Dovecot tells it with an EXISTS after it, and says nothing
    more once IDLE starts. The wait must end there, not at the next lease renewal (20 s)."""
    with appended_before("SEARCH UID", imap_user) as (armed, fired), logged("idling") as idling:
        source, cursor = open_source(imap_user), DictCursor()
        assert ingest(source, cursor) == []
        armed.set()
        source.wait_for_mail(3)
    assert fired.is_set() and not idling.is_set()
    assert ingest(source, cursor) == ["<1@test>"]


@pytest.mark.parametrize("security", ["none", "tls"])
def test_mail_told_with_the_idle_continuation_ends_the_wait(
    imap_user: ImapUser,
    open_source: Callable[..., ImapSource],
    caplog: pytest.LogCaptureFixture,
    security: str,
) -> None:
    """Mail delivered just before IDLE is told by Dovecot right after its "+ idling", often in
    the same packet, which imaplib (or TLS) reads whole into its buffer: that EXISTS ends the
    wait too, though the socket has nothing more to read."""
    with (
        appended_before(" IDLE", imap_user) as (armed, fired),
        caplog.at_level(logging.DEBUG, logger="mailflow.sources"),
    ):
        cafile = str(imap_user.server.cafile)
        source = open_source(imap_user, security=security, cafile=cafile)
        cursor = DictCursor()
        assert ingest(source, cursor) == []
        armed.set()
        source.wait_for_mail(3)
    assert fired.is_set() and "new mail" in caplog.text
    assert ingest(source, cursor) == ["<1@test>"]


def test_mail_told_while_idle_is_renewed_ends_the_wait(
    imap_user: ImapUser,
    open_source: Callable[..., ImapSource],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Mail delivered just before the NOOP between two IDLEs is told in the NOOP's answer, and
    not again once IDLE restarts: the wait ends at that renewal."""
    monkeypatch.setattr("mailflow.sources.imap_session.IDLE_RENEW_S", 0.2)
    with (
        appended_before("NOOP", imap_user) as (armed, fired),
        caplog.at_level(logging.DEBUG, logger="mailflow.sources"),
        logged("renewing IDLE", then=armed.set),
    ):
        source, cursor = open_source(imap_user), DictCursor()
        assert ingest(source, cursor) == []
        source.wait_for_mail(3)
    assert fired.is_set() and caplog.text.count("renewing IDLE") == 1
    assert ingest(source, cursor) == ["<1@test>"]


def test_wait_without_mail_lasts_its_timeout(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """With no new mail, wait_for_mail returns after about its timeout, not in a busy loop."""
    source = open_source(imap_user)
    ingest(source, DictCursor())
    started = time.monotonic()
    source.wait_for_mail(0.5)
    assert 0.5 <= time.monotonic() - started < DEADLINE_S
    assert ingest(source, DictCursor()) == []  # the connection is usable after IDLE


def test_idle_is_renewed_during_a_long_wait(
    imap_user: ImapUser,
    open_source: Callable[..., ImapSource],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A wait longer than the renewal period leaves and re-enters IDLE and still ends on time."""
    monkeypatch.setattr("mailflow.sources.imap_session.IDLE_RENEW_S", 0.2)
    source = open_source(imap_user)
    ingest(source, DictCursor())
    with caplog.at_level(logging.DEBUG, logger="mailflow.sources"):
        started = time.monotonic()
        source.wait_for_mail(0.9)
    assert 0.9 <= time.monotonic() - started < DEADLINE_S
    assert 2 <= caplog.text.count("renewing IDLE") <= 4
    imap_user.append(raw_mail(1))
    assert ingest(source, DictCursor()) == ["<1@test>"]


def test_noop_polling_without_idle(
    minimal_dovecot: DovecotServer, open_source: Callable[..., ImapSource]
) -> None:
    """A server without IDLE is polled with NOOP, and an APPEND still ends the wait early."""
    minimal_dovecot.reset_mailbox(USER)
    source, cursor = open_source(minimal_dovecot.source_url(USER)), DictCursor()
    assert ingest(source, cursor) == []
    with logged("polling with NOOP") as polling:
        appender = after(polling, lambda: minimal_dovecot.append(USER, raw_mail(1)))
        started = time.monotonic()
        source.wait_for_mail(60)
        elapsed = time.monotonic() - started
    appender.join(DEADLINE_S)
    assert polling.is_set() and elapsed < DEADLINE_S
    assert ingest(source, cursor) == ["<1@test>"]


def test_kicked_while_idle_is_a_connection_error(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """A server that says BYE during IDLE raises SourceConnectionError; the next call reconnects."""
    source = open_source(imap_user)
    ingest(source, DictCursor())
    with logged("idling") as idling:
        after(idling, lambda: imap_user.server.kick(imap_user.name))
        with pytest.raises(SourceConnectionError):
            source.wait_for_mail(60)
    imap_user.append(raw_mail(1))
    assert ingest(source, DictCursor()) == ["<1@test>"]


def test_interrupt_ends_idle_at_once(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """Shutting down interrupts an IDLE from another thread; the next call reconnects."""
    source = open_source(imap_user)
    ingest(source, DictCursor())
    with logged("idling") as idling:
        after(idling, source.interrupt)
        started = time.monotonic()
        with pytest.raises(SourceConnectionError):
            source.wait_for_mail(60)
    assert time.monotonic() - started < DEADLINE_S
    imap_user.append(raw_mail(1))
    assert ingest(source, DictCursor()) == ["<1@test>"]


def test_interrupt_just_before_the_idle_read_ends_it(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """An interrupt that lands after IDLE began but before its first read (the socket's file
    already closed) still ends the wait with SourceConnectionError, never imaplib's ValueError."""
    source = open_source(imap_user)
    ingest(source, DictCursor())
    # ``then`` runs in the waiting thread, between IDLE's start and its first read
    with logged("idling", then=source.interrupt), pytest.raises(SourceConnectionError):
        source.wait_for_mail(60)
    imap_user.append(raw_mail(1))
    assert ingest(source, DictCursor()) == ["<1@test>"]


def test_dovecot_killed_and_restarted() -> None:
    """Killing Dovecot mid-IDLE raises SourceConnectionError quickly; after a restart sources work."""
    with running_dovecot({USER: PASSWORD}) as server:
        url = parse_source_url(server.source_url(USER))
        assert isinstance(url, ImapUrl)
        source, cursor = ImapSource(url, PASSWORD), DictCursor()
        try:
            server.append(USER, raw_mail(1))
            assert ingest(source, cursor) == ["<1@test>"]
            with logged("idling") as idling:
                killer = after(idling, server.kill)
                started = time.monotonic()
                with pytest.raises(SourceConnectionError):
                    source.wait_for_mail(60)
            assert time.monotonic() - started < DEADLINE_S
            killer.join(DEADLINE_S)  # kill() returns once nothing listens any more
            with pytest.raises(SourceConnectionError, match="Connection refused"):
                ingest(source, cursor)
            server.start()
            server.append(USER, raw_mail(2))
            fresh = ImapSource(url, PASSWORD)
            try:
                assert ingest(fresh, cursor) == ["<2@test>"]
            finally:
                fresh.close()
            server.append(USER, raw_mail(3))
            assert ingest(source, cursor) == ["<3@test>"]  # the old one reconnected lazily
        finally:
            source.close()


# ---- UIDVALIDITY ----


def test_uidvalidity_change_resyncs_by_message_id(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """After a UIDVALIDITY change, stored mail is marked, not returned; only the rest is fetched."""
    for n in (1, 2, 3):
        imap_user.append(raw_mail(n))
    cursor = DictCursor()
    first = open_source(imap_user, batch="2")
    batches = first.fetch(cursor)
    cursor.commit(next(batches))  # <1> and <2> stored, never marked; <3> not stored
    first.close()
    server, user = imap_user.server, imap_user.name
    old = cursor.checkpoints["INBOX"].uidvalidity
    new = server.change_uidvalidity(user)
    assert new != old and set(flags(server, user)) == {"<1@test>", "<2@test>", "<3@test>"}
    imap_user.append(raw_mail(4))
    source = open_source(imap_user)
    fetched = [m for b in source.fetch(cursor) for m in b]
    assert [message_id(m) for m in fetched] == ["<3@test>", "<4@test>"]
    assert {m.uidvalidity for m in fetched} == {new}
    got = flags(server, user)
    assert [KEYWORD in got[f"<{n}@test>"] for n in (1, 2, 3, 4)] == [True, True, False, False]
    cursor.commit(fetched)
    source.acknowledge(fetched)
    assert ingest(source, cursor) == []
    assert all(KEYWORD in f for f in flags(server, user).values())


class _CountingCursor(DictCursor):
    """A DictCursor that counts the Message-IDs it is asked about."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def known_message_ids(self, message_ids: Iterable[str]) -> set[str]:
        ids = set(message_ids)
        self.asked += len(ids)
        return super().known_message_ids(ids)


def test_first_read_into_an_empty_database_skips_the_message_id_scan(
    imap_user: ImapUser, open_source: Callable[..., ImapSource]
) -> None:
    """With nothing stored there is nothing to resync: the first start on a big mailbox does not
    read every Message-ID first. Once something is stored, a UIDVALIDITY change still does."""
    for n in (1, 2, 3):
        imap_user.append(raw_mail(n))
    cursor = _CountingCursor()
    source = open_source(imap_user)
    fetched = [m for b in source.fetch(cursor) for m in b]
    assert [message_id(m) for m in fetched] == ["<1@test>", "<2@test>", "<3@test>"]
    assert cursor.asked == 0
    cursor.commit(fetched)
    source.close()
    imap_user.server.change_uidvalidity(imap_user.name)
    again = open_source(imap_user)
    assert [m for b in again.fetch(cursor) for m in b] == []
    assert cursor.asked == 3
