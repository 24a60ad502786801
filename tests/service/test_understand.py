"""Threads, action items and the confirmation ledger as stored messages build them up."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.model import (
    ACK,
    DONE,
    OBJECTION,
    ActionItem,
    Address,
    Confirmation,
    ParseContext,
    ParsedMessage,
    Subject,
    to_contract,
)
from mailflow.service import understand
from mailflow.service.queries import list_items, thread_view
from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.messages import add_message
from mailflow.store.models import Message

TZ = ZoneInfo("Asia/Shanghai")
CTX = ParseContext(timezone=TZ, own_addresses=frozenset({"coord@example.com"}))
ZHANG = Address("张三", "zhang.san@example.com")
LI = Address("李四", "li.si@example.com")
WANG = Address("王五", "wang.wu@example.com")
LIU = Address("刘洋", "liu.yang@example.com")
COORD = Address("协调台", "coord@example.com")
T0 = datetime(2023, 10, 8, 17, 30, tzinfo=TZ)


def subject(raw: str, reason: str | None, topic: str, prefixes: tuple[str, ...] = ()) -> Subject:
    return Subject(raw, prefixes, bool(reason), reason, "技术部", topic, ())


MINUTES = ParsedMessage(
    message_id="<minutes@example.com>",
    message_id_generated=False,
    date=T0,
    from_=ZHANG,
    to=(LI, WANG, LIU),
    cc=(COORD,),
    reply_to=(),
    in_reply_to=None,
    references=(),
    automated=False,
    automated_reason=None,
    subject=subject("【会议纪要】技术部-Q4同步", "会议纪要", "Q4同步"),
    body_text="纪要",
    attachments=(),
    new_text="纪要",
    action_items=(
        ActionItem(
            "完成接口联调", "张三", "zhang.san@example.com", date(2023, 10, 16), "联调报告", ()
        ),
        ActionItem("准备宣传物料", "王五", "wang.wu@example.com", None, "物料初稿", ("deadline",)),
    ),
)


def reply(
    n: int, sender: Address, kind: str | None, text: str = "", **changes: object
) -> ParsedMessage:
    """A reply to the minutes from ``sender`` saying ``kind``."""
    base = dataclasses.replace(
        MINUTES,
        message_id=f"<reply-{n}@example.com>",
        date=T0 + timedelta(hours=n),
        from_=sender,
        to=(ZHANG,),
        cc=(COORD,),
        in_reply_to="<minutes@example.com>",
        references=("<minutes@example.com>",),
        subject=subject("Re: 【会议纪要】技术部-Q4同步", "会议纪要", "Q4同步", ("Re",)),
        new_text=text,
        action_items=(),
        confirmation=Confirmation(kind, text) if kind else None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def store(sessions: sessionmaker[Session], parsed: ParsedMessage) -> None:
    """Store one message row and let `understand` thread and record it, in one transaction."""
    with sessions() as s, s.begin():
        m = Message(
            message_id=parsed.message_id,
            status="stored",
            source="test",
            folder="INBOX",
            source_key=parsed.message_id,
            received_at=datetime.now(UTC),
            date=parsed.date,
            subject=parsed.subject.raw,
            from_address=parsed.from_.address if parsed.from_ else None,
            from_name=parsed.from_.name if parsed.from_ else None,
            in_reply_to=parsed.in_reply_to,
            automated=parsed.automated,
            conforms=parsed.subject.conforms,
            parsed=to_contract(parsed),
        )
        people = [("from", parsed.from_)] if parsed.from_ else []
        people += [("to", a) for a in parsed.to] + [("cc", a) for a in parsed.cc]
        add_message(
            s,
            message=m,
            raw=b"",
            sha256="0" * 64,
            addresses=[(role, a.name, a.address) for role, a in people],
        )
        s.flush()
        understand.understand(s, [(m, parsed)], CTX, None, datetime.now(UTC))


def ledger(sessions: sessionmaker[Session]) -> dict[str, str]:
    view = thread_view(sessions, "<minutes@example.com>")
    assert view is not None
    return {a["address"]: a["status"] for a in view["confirmations"][0]["answers"]}


def test_minutes_ask_every_recipient_but_sender_and_shared_address(sessions) -> None:  # type: ignore[no-untyped-def]
    """The ledger of minutes lists To and Cc, not the sender nor coord@, all pending."""
    store(sessions, MINUTES)
    assert ledger(sessions) == {
        "li.si@example.com": "pending",
        "wang.wu@example.com": "pending",
        "liu.yang@example.com": "pending",
    }


def test_answers_fill_the_ledger(sessions) -> None:  # type: ignore[no-untyped-def]
    """已阅 from one, an objection from another, silence from the third: the ledger says so."""
    store(sessions, MINUTES)
    store(sessions, reply(1, LI, ACK, "已阅"))
    store(sessions, reply(2, WANG, OBJECTION, "有异议：第2项时间太紧"))
    assert ledger(sessions) == {
        "li.si@example.com": ACK,
        "wang.wu@example.com": OBJECTION,
        "liu.yang@example.com": "pending",
    }


def test_reply_threads_by_in_reply_to_and_subject(sessions) -> None:  # type: ignore[no-untyped-def]
    """A reply with In-Reply-To joins the thread; one without it joins by subject and people."""
    store(sessions, MINUTES)
    store(sessions, reply(1, LI, None))
    store(sessions, reply(2, WANG, None, in_reply_to=None, references=()))
    view = thread_view(sessions, "<minutes@example.com>")
    assert view is not None
    assert [m["message_id"] for m in view["messages"]] == [
        "<minutes@example.com>",
        "<reply-1@example.com>",
        "<reply-2@example.com>",
    ]


def test_reply_stored_before_its_original_is_merged_into_its_thread(sessions) -> None:  # type: ignore[no-untyped-def]
    """Mail that arrives out of order ends up in one thread all the same."""
    store(sessions, reply(1, LI, None, subject=subject("Re: 别的标题", None, "别的标题", ("Re",))))
    store(sessions, MINUTES)
    view = thread_view(sessions, "<reply-1@example.com>")
    assert view is not None
    assert len(view["messages"]) == 2


def test_items_are_stored_with_due_instants(sessions) -> None:  # type: ignore[no-untyped-def]
    """Items keep the parsed deadline; a bare day is due at the end of the working day."""
    store(sessions, MINUTES)
    rows = list_items(sessions, None, now=T0)
    assert [(r["task"], r["deadline"], r["status"], r["missing"]) for r in rows] == [
        ("完成接口联调", "2023-10-16", "open", []),
        ("准备宣传物料", None, "open", ["deadline"]),
    ]
    overdue = list_items(sessions, "overdue", now=datetime(2023, 10, 16, 18, 1, tzinfo=TZ))
    assert [r["task"] for r in overdue] == ["完成接口联调"]
    assert list_items(sessions, "overdue", now=datetime(2023, 10, 16, 17, 59, tzinfo=TZ)) == []


def test_done_reply_from_the_owner_closes_the_item(sessions) -> None:  # type: ignore[no-untyped-def]
    """已完成 from an item's owner marks that item done with the reply's time; others stay open."""
    store(sessions, MINUTES)
    store(sessions, reply(3, ZHANG, DONE, "接口联调已完成，报告见附件"))
    rows = {r["task"]: r for r in list_items(sessions, None, now=T0)}
    assert rows["完成接口联调"]["status"] == "done"
    assert rows["完成接口联调"]["completed_at"] is not None
    assert datetime.fromisoformat(rows["完成接口联调"]["completed_at"]) == T0 + timedelta(hours=3)
    assert rows["准备宣传物料"]["status"] == "open"


def test_done_from_someone_else_closes_nothing(sessions) -> None:  # type: ignore[no-untyped-def]
    """Only the owner's done reply closes an item."""
    store(sessions, MINUTES)
    store(sessions, reply(3, LI, DONE, "已完成"))
    assert {r["status"] for r in list_items(sessions, None, now=T0)} == {"open"}


def test_done_with_item_number_picks_that_item(sessions) -> None:  # type: ignore[no-untyped-def]
    """An owner with two open items closes the one the reply numbers (第2项)."""
    two = dataclasses.replace(
        MINUTES,
        action_items=(
            ActionItem("写方案", "王五", "wang.wu@example.com", None, "方案", ("deadline",)),
            ActionItem("做预算", "王五", "wang.wu@example.com", None, "预算", ("deadline",)),
        ),
    )
    store(sessions, two)
    store(sessions, reply(4, WANG, DONE, "第2项已完成"))
    status = {r["task"]: r["status"] for r in list_items(sessions, None, now=T0)}
    assert status == {"写方案": "open", "做预算": "done"}


def test_automated_mail_neither_answers_nor_assigns(sessions) -> None:  # type: ignore[no-untyped-def]
    """An out-of-office reply saying 已阅 in its text does not confirm anything."""
    store(sessions, MINUTES)
    store(sessions, reply(1, LI, ACK, "已阅", automated=True, automated_reason="out-of-office"))
    assert ledger(sessions)["li.si@example.com"] == "pending"
    with sessions() as s:
        assert len(list(s.scalars(select(Message)))) == 2


def test_answers_read_before_the_minutes_count_for_them_only(sessions) -> None:  # type: ignore[no-untyped-def]
    """Mail read out of order: an answer replying to the minutes, or replying to nothing and
    written after them, confirms them; an 已阅 to last week's minutes in the same thread does
    not (in a weekly thread it would confirm every minutes to come)."""
    last_week = dataclasses.replace(
        MINUTES, message_id="<last-week@example.com>", date=T0 - timedelta(days=7)
    )
    store(sessions, last_week)
    old_ack = reply(1, LIU, ACK, "已阅", in_reply_to="<last-week@example.com>")
    store(sessions, dataclasses.replace(old_ack, date=T0 - timedelta(days=6)))
    store(sessions, reply(2, LI, ACK, "已阅"))  # replies to the minutes, read before them
    store(sessions, reply(3, WANG, OBJECTION, "有异议", in_reply_to=None, references=()))
    store(sessions, MINUTES)
    view = thread_view(sessions, "<minutes@example.com>")
    assert view is not None
    ledgers = {c["message_id"]: c["answers"] for c in view["confirmations"]}
    assert {a["address"]: a["status"] for a in ledgers["<minutes@example.com>"]} == {
        "li.si@example.com": ACK,
        "wang.wu@example.com": OBJECTION,
        "liu.yang@example.com": "pending",
    }
    # 李四's answer waited for the minutes it names; 王五's names none, so when it was read it
    # went to the newest ledger of the thread that asked him (all that could be known then)
    assert {a["address"]: a["status"] for a in ledgers["<last-week@example.com>"]} == {
        "li.si@example.com": "pending",
        "wang.wu@example.com": OBJECTION,
        "liu.yang@example.com": ACK,
    }
