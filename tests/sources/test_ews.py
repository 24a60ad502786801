"""``EwsSource`` with exchangelib against a local EWS endpoint (tests/servers/ews.py): the SOAP
requests it sends, paging by sync state, marking, waiting, failures, and the sync state
committed with its batch in a real database. Protocol-level: no Exchange server is involved."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import SourceAuthenticationError, SourceConnectionError
from mailflow.ews import EwsUrl
from mailflow.mail.model import ParseContext
from mailflow.service.ingest import IngestReport, ingest
from mailflow.settings import DEFAULT_BATCH_BYTES, load_settings
from mailflow.sources.ews import EwsSource
from mailflow.sources.url import parse_source_url
from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.models import MailboxSyncState, Message
from mailflow.store.service_state import MAILBOX_STATE, state
from tests.servers.ews import EwsServer, running_ews
from tests.servers.smtp import free_port
from tests.sources.test_imap import DictCursor

USER, PASSWORD = "coord@corp.example.cn", "Exchange-密码-2026"
NTLM_USER = "CORP\\coord"
TRADES = [
    "华东仓盘点安排",
    "注塑车间设备保养",
    "门店春节排班",
    "供应商对账单确认",
    "新版质检标准培训",
]


class Cursor(DictCursor):
    """A SourceCursor over dicts that also keeps EWS sync states, as the ingest service does."""

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[str, str] = {}

    def sync_state(self, folder: str) -> str | None:
        """Return the committed sync state of ``folder``."""
        return self.states.get(folder)


def mail(n: int, trade: str = "") -> bytes:
    """Return a realistic internal notice numbered ``n``."""
    message = EmailMessage()
    message["From"] = "刘洋 <liu.yang@corp.example.cn>"
    message["To"] = USER
    message["Subject"] = f"【通知】运营部-{trade or TRADES[n % len(TRADES)]}"
    message["Message-ID"] = f"<ews-{n}@corp.example.cn>"
    message["Date"] = "Mon, 07 Dec 2026 09:30:00 +0800"
    message.set_content(f"各位：\n第{n}项安排见附件说明，请各部门负责人周五前确认。\n")
    return bytes(message)


@pytest.fixture(scope="module")
def _server() -> Iterator[EwsServer]:
    with running_ews(USER, PASSWORD) as server:
        yield server


@pytest.fixture
def server(_server: EwsServer) -> EwsServer:
    """The HTTPS EWS endpoint with an empty mailbox and no requests recorded."""
    _server.reset()
    _server.ntlm = False
    return _server


def source_url(server: EwsServer, **options: str) -> EwsUrl:
    """Return the ``MAILFLOW_SOURCE`` for the server: Basic auth, its CA trusted."""
    port = server.url.split(":")[2].split("/")[0]
    query = "&".join(
        f"{k}={v}" for k, v in ({"auth": "basic", "cafile": str(server.cafile)} | options).items()
    )
    url = parse_source_url(
        f"ews://{USER.replace('@', '%40')}@127.0.0.1:{port}/EWS/Exchange.asmx?{query}"
    )
    assert isinstance(url, EwsUrl)
    return url


@pytest.fixture
def open_source(server: EwsServer) -> Iterator[object]:
    """A factory of EwsSources for the server; closes them all."""
    opened: list[EwsSource] = []

    def factory(
        password: str = PASSWORD, batch_bytes: int = DEFAULT_BATCH_BYTES, **options: str
    ) -> EwsSource:
        source = EwsSource(source_url(server, **options), password, batch_bytes=batch_bytes)
        opened.append(source)
        return source

    yield factory
    for source in opened:
        source.close()


def drain(source: EwsSource, cursor: Cursor, acknowledge: bool = True) -> list[list[str]]:
    """Fetch like the ingest service: commit each batch's state, then acknowledge."""
    batches = []
    for batch in source.fetch(cursor):
        cursor.states[batch[0].folder] = batch[0].sync_state or ""
        if acknowledge:
            source.acknowledge(batch)
        batches.append(
            [m.raw.split(b"Message-ID: ")[1].split(b"\n")[0].strip().decode() for m in batch]
        )
    return batches


def test_pages_by_sync_state_and_fetches_mime(server: EwsServer, open_source) -> None:  # type: ignore[no-untyped-def]
    """Five mails with batch=2 come as three batches; each request carries the last state."""
    for n in range(5):
        server.deliver(mail(n))
    batches = drain(open_source(batch="2", notify="poll"), Cursor())
    assert batches == [["<ews-0@corp.example.cn>", "<ews-1@corp.example.cn>"],
                       ["<ews-2@corp.example.cn>", "<ews-3@corp.example.cn>"], ["<ews-4@corp.example.cn>"]]  # fmt: skip
    syncs = server.of("SyncFolderItems")
    assert syncs[0].find("m:SyncState") is None  # the first sync asks for everything
    assert [s.find("m:SyncState").text for s in syncs[1:]] == ["s2", "s4"]  # type: ignore[union-attr]
    assert {s.find("m:MaxChangesReturned").text for s in syncs} == {"2"}  # type: ignore[union-attr]
    assert (
        syncs[0].find("m:SyncFolderId/t:DistinguishedFolderId") is not None
        or syncs[0].find("m:SyncFolderId/t:FolderId") is not None
    )
    shapes = [g.find("m:ItemShape/t:AdditionalProperties") for g in server.of("GetItem")]
    assert all(s is not None and "item:MimeContent" in ET_text(s) for s in shapes)


def ET_text(element: object) -> str:
    """Return the serialised XML of an element."""
    from xml.etree import ElementTree as ET

    return ET.tostring(element, encoding="unicode")  # type: ignore[arg-type]


def test_category_mark_keeps_existing_categories(server: EwsServer, open_source) -> None:  # type: ignore[no-untyped-def]
    """Acknowledging adds the category with UpdateItem and keeps what people had set."""
    server.deliver(mail(1), categories=("客户A",))
    server.deliver(mail(2))
    drain(open_source(notify="poll"), Cursor())
    assert [i.categories for i in server.in_folder("Inbox")] == [
        ["客户A", "mailflow"],
        ["mailflow"],
    ]
    update = server.of("UpdateItem")
    assert len(update) == 1  # one UpdateItem with both changes
    fields = update[0].findall("m:ItemChanges/t:ItemChange/t:Updates/t:SetItemField/t:FieldURI")
    assert [f.get("FieldURI") for f in fields] == ["item:Categories", "item:Categories"]
    assert update[0].body.get("ConflictResolution") == "AutoResolve"


def test_move_mark_creates_the_folder_and_moves(server: EwsServer, open_source) -> None:  # type: ignore[no-untyped-def]
    """processed=move:已处理 creates the folder once and moves committed mail there."""
    for n in range(3):
        server.deliver(mail(n))
    source, cursor = open_source(notify="poll", processed="move:已处理"), Cursor()
    drain(source, cursor)
    server.deliver(mail(3))
    drain(source, cursor)
    assert server.in_folder("Inbox") == []
    assert len(server.in_folder("已处理")) == 4
    assert server.operations().count("CreateFolder") == 1
    target = server.of("MoveItem")[0].find("m:ToFolderId/t:FolderId")
    assert target is not None and server.folders[target.get("Id", "")][1] == "已处理"


def test_a_committed_state_resumes_and_an_uncommitted_batch_is_read_again(
    server: EwsServer,
    open_source,  # type: ignore[no-untyped-def]
) -> None:
    """The cursor's state decides where reading starts; a batch never committed comes again."""
    for n in range(4):
        server.deliver(mail(n))
    cursor = Cursor()
    source = open_source(batch="2", notify="poll")
    batches = source.fetch(cursor)
    first = next(batches)
    cursor.states["Inbox"] = first[0].sync_state or ""
    second = next(batches)  # crash: this batch is never committed
    batches.close()
    again = open_source(batch="2", notify="poll")
    assert [m.key for m in next(again.fetch(cursor))] == [m.key for m in second]


def test_refused_sync_state_reads_the_inbox_anew(server: EwsServer, open_source) -> None:  # type: ignore[no-untyped-def]
    """ErrorInvalidSyncStateData: the source starts over without a state instead of failing."""
    for n in range(2):
        server.deliver(mail(n))
    cursor = Cursor()
    cursor.states["Inbox"] = "s-expired"
    server.fail_next.append("ErrorInvalidSyncStateData")  # the first request is the sync
    assert drain(open_source(notify="poll", processed="none"), cursor) == [
        ["<ews-0@corp.example.cn>", "<ews-1@corp.example.cn>"]
    ]


def test_wrong_password_is_an_authentication_error(server: EwsServer, open_source) -> None:  # type: ignore[no-untyped-def]
    """A refused login is SourceAuthenticationError without the password in it."""
    with pytest.raises(SourceAuthenticationError) as raised:
        drain(open_source(password="not-the-password", notify="poll"), Cursor())
    assert "not-the-password" not in str(raised.value)


def test_unreachable_server_is_a_connection_error() -> None:
    """Nothing listening is SourceConnectionError (worth a retry)."""
    url = parse_source_url(
        f"ews://coord%40corp.example.cn@127.0.0.1:{free_port()}/?auth=basic&notify=poll"
    )
    assert isinstance(url, EwsUrl)
    source = EwsSource(url, PASSWORD)
    with pytest.raises(SourceConnectionError):
        list(source.fetch(Cursor()))
    source.close()


def test_ntlm_handshake_with_a_domain_user(server: EwsServer) -> None:
    """auth=ntlm runs NTLM's negotiate/challenge/authenticate with DOMAIN\\user and reads mail."""
    server.ntlm, server.user = True, NTLM_USER
    try:
        server.deliver(mail(7))
        url = parse_source_url(
            f"ews://CORP%5Ccoord@127.0.0.1:{server.url.split(':')[2].split('/')[0]}/"
            f"?cafile={server.cafile}&notify=poll&mailbox=coord%40corp.example.cn"
        )
        assert isinstance(url, EwsUrl) and url.mailbox == USER
        source = EwsSource(url, PASSWORD)
        try:
            assert drain(source, Cursor()) == [["<ews-7@corp.example.cn>"]]
        finally:
            source.close()
        assert all(r.authorization.startswith("NTLM ") for r in server.requests)
    finally:
        server.user = USER


def test_pull_subscription_wakes_the_wait(
    server: EwsServer,
    open_source,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """With notify=pull, mail delivered during the wait ends it long before its timeout."""
    monkeypatch.setattr("mailflow.sources.ews.PULL_EVERY_S", 0.05)
    source = open_source()
    cursor = Cursor()
    drain(source, cursor)
    subscribed = [r for r in server.requests if r.operation == "Subscribe"]
    assert subscribed and subscribed[0].find("m:PullSubscriptionRequest") is not None
    delivered = threading.Event()

    def deliver_soon() -> None:
        server.deliver(mail(5))
        delivered.set()

    subscribed_now = threading.Event()
    monkeypatch.setattr(server, "_GetEvents", _noting(server._GetEvents, subscribed_now))
    threading.Thread(target=lambda: subscribed_now.wait(10) and deliver_soon(), daemon=True).start()
    started = time.monotonic()
    source.wait_for_mail(30)
    assert time.monotonic() - started < 10 and delivered.is_set()
    assert drain(source, cursor) == [["<ews-5@corp.example.cn>"]]


def _noting(answer: Callable[[object], str], event: threading.Event) -> Callable[[object], str]:
    """Wrap a server handler so that ``event`` is set once it has answered."""

    def wrapped(request: object) -> str:
        try:
            return answer(request)
        finally:
            event.set()

    return wrapped


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a migrated database (SQLite and PostgreSQL)."""
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_ingest_commits_the_sync_state_with_the_batch(
    server: EwsServer, sessions: sessionmaker[Session]
) -> None:
    """Through the ingest service: mail and sync state are stored together; a second poll
    after new mail stores only the new one, and nothing twice."""
    for n in range(3):
        server.deliver(mail(n))
    url = source_url(server, notify="poll", batch="2")
    settings = load_settings(source_password=PASSWORD)
    first = EwsSource.from_settings(settings, url)
    report = ingest(first, sessions, ParseContext())
    first.close()
    server.deliver(mail(3))
    second = EwsSource.from_settings(settings, url)
    ingest(second, sessions, ParseContext())
    second.close()
    with sessions() as s:
        stored = sorted(s.scalars(select(Message.message_id)))
        states = list(s.scalars(select(MailboxSyncState.state)))
    assert report.stored == 3
    assert stored == [f"<ews-{n}@corp.example.cn>" for n in range(4)]
    assert states == [f"s{server.in_folder('Inbox')[-1].sequence}"]  # the last page's state


def test_backlog_is_more_uncounted_until_the_last_page(
    server: EwsServer, sessions: sessionmaker[Session]
) -> None:
    """Exchange says only whether more pages follow: while they do the recorded backlog is
    None (more, not counted), never an invented number; after the last page it is 0."""
    for n in range(5):
        server.deliver(mail(n))
    source = EwsSource.from_settings(
        load_settings(source_password=PASSWORD), source_url(server, notify="poll", batch="2")
    )
    recorded: list[int | None] = []

    def after_batch(report: IngestReport) -> None:
        with sessions() as s:
            recorded.append((state(s, MAILBOX_STATE + source.name) or {}).get("backlog", -1))

    report = ingest(source, sessions, ParseContext(), on_batch=after_batch)
    source.close()
    assert report.stored == 5 and report.mailbox_backlog == 0
    assert recorded == [None, None, 0]


@pytest.mark.parametrize("processed", ["category:已录入", "move:已处理"])
def test_marks_a_crash_left_undone_are_caught_up(
    server: EwsServer,
    open_source,
    processed: str,  # type: ignore[no-untyped-def]
) -> None:
    """Mail committed but never marked (a crash before acknowledge) is marked on the next
    connection; mail that was never stored is left for the sync to bring."""
    for n in range(3):
        server.deliver(mail(n))
    cursor = Cursor()
    crashed = open_source(notify="poll", processed=processed)
    for batch in crashed.fetch(cursor):  # committed, then the process died: no acknowledge
        cursor.states["Inbox"] = batch[0].sync_state or ""
        cursor.message_ids |= {f"<ews-{n}@corp.example.cn>" for n in range(3)}
    server.deliver(mail(3), categories=("客户B",))  # arrived later: not stored yet
    restarted = open_source(notify="poll", processed=processed)
    assert drain(restarted, cursor) == [["<ews-3@corp.example.cn>"]]
    assert "FindItem" in server.operations()
    if processed.startswith("move"):
        assert server.in_folder("Inbox") == [] and len(server.in_folder("已处理")) == 4
    else:
        assert [i.categories for i in server.in_folder("Inbox")] == [["已录入"]] * 3 + [
            ["客户B", "已录入"]
        ]


def test_an_expired_pull_subscription_is_renewed(
    server: EwsServer,
    open_source,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """A subscription the server forgot ends the wait (mail may have come) and a new one is made;
    the connection is kept."""
    monkeypatch.setattr("mailflow.sources.ews.PULL_EVERY_S", 0.05)
    source, cursor = open_source(), Cursor()
    drain(source, cursor)
    server._subscriptions.clear()  # the server restarted or the subscription timed out
    server.deliver(mail(6))
    source.wait_for_mail(30)
    assert drain(source, cursor) == [["<ews-6@corp.example.cn>"]]
    assert server.operations().count("Subscribe") == 2
    assert server.operations().count("GetFolder") == 2  # no reconnect: root and inbox once


def sized(n: int, size: int) -> bytes:
    """Return ``mail(n)`` padded with a header to ``size`` bytes."""
    raw = mail(n)
    pad = size - len(raw) - len("X-Pad: \n")
    assert pad >= 0
    return b"X-Pad: " + b"p" * pad + b"\n" + raw


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ([3000, 3000, 3000, 3000], [[0, 1], [2, 3]]),
        ([3000, 9000, 3000], [[0], [1], [2]]),  # one mail over the budget comes alone
        ([7000, 3000, 4000, 3000], [[0], [1, 2], [3]]),  # exactly the budget fits
    ],
)
def test_a_page_is_cut_into_batches_by_bytes(
    server: EwsServer,
    open_source,  # type: ignore[no-untyped-def]
    sizes: list[int],
    expected: list[list[int]],
) -> None:
    """One sync page of mail bigger than the byte budget comes as several batches, each
    fetched by its own GetItem; only the page's last batch carries the page's new state."""
    for n, size in enumerate(sizes):
        server.deliver(sized(n, size))
    source, cursor = open_source(batch_bytes=7000, notify="poll"), Cursor()
    states, batches = [], []
    for batch in source.fetch(cursor):
        states.append(batch[0].sync_state)
        assert len(batch) == 1 or sum(len(m.raw) for m in batch) <= 7000
        batches.append([int(m.raw.split(b"<ews-")[1].split(b"@")[0]) for m in batch])
        cursor.states["Inbox"] = batch[0].sync_state or ""
    assert batches == expected  # nothing lost, doubled or reordered
    assert states == [""] * (len(expected) - 1) + [f"s{server.in_folder('Inbox')[-1].sequence}"]
    asked = [len(g.findall("m:ItemIds/t:ItemId")) for g in server.of("GetItem")]
    assert asked == [len(b) for b in expected]
    sync = server.of("SyncFolderItems")[0]
    assert "item:Size" in ET_text(sync.find("m:ItemShape/t:AdditionalProperties"))


def test_a_crash_between_batches_of_a_page_loses_and_doubles_nothing(
    server: EwsServer, sessions: sessionmaker[Session]
) -> None:
    """Through the ingest service: the first batch of a page is committed, the process dies
    before the second; the next poll reads the page again and stores each mail once."""
    for n, size in enumerate([5000, 5000, 5000]):
        server.deliver(sized(n, size))
    url = source_url(server, notify="poll")
    crashed = EwsSource(url, PASSWORD, batch_bytes=7000)

    def die(report: object) -> None:  # after the first batch's commit
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest(crashed, sessions, ParseContext(), on_batch=die)
    crashed.close()
    with sessions() as s:
        assert len(s.scalars(select(Message.message_id)).all()) == 1
        assert list(s.scalars(select(MailboxSyncState.state))) == [""]  # the page's old state
    restarted = EwsSource(url, PASSWORD, batch_bytes=7000)
    report = ingest(restarted, sessions, ParseContext())
    restarted.close()
    with sessions() as s:
        stored = sorted(s.scalars(select(Message.message_id)))
        states = list(s.scalars(select(MailboxSyncState.state)))
    assert stored == [f"<ews-{n}@corp.example.cn>" for n in range(3)]
    assert (report.stored, report.duplicates) == (2, 1)
    assert states == [f"s{server.in_folder('Inbox')[-1].sequence}"]
