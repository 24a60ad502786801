"""A batch against snapshots: threads joined, merged and started, ledgers opened with the answers
that came first, answers filling lines, 已完成 closing items, all in one ``Changes`` value."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from mailflow.mail.message import parse_message
from mailflow.mail.model import ParseContext
from mailflow.tracking.model import (
    Arrival,
    History,
    KnownMail,
    LedgerLine,
    OpenItem,
    Said,
    Snapshot,
    ThreadState,
)
from mailflow.tracking.tracker import Tracker

CTX = ParseContext(own_addresses=frozenset({"desk@hengtai-pharma.cn"}))
T0 = datetime(2026, 4, 13, 1, 30, tzinfo=UTC)
WANG, ZHAO, QIAN = (
    "wang.min@hengtai-pharma.cn",
    "zhao.lei@hengtai-pharma.cn",
    "qian.yu@hengtai-pharma.cn",
)


def mail(
    pk: int,
    subject: str,
    body: str,
    *,
    sender: str = WANG,
    to: str = f"{ZHAO}, {QIAN}",
    at: datetime = T0,
    reply_to: str | None = None,
) -> Arrival:
    """Return a stored mail of the batch, written as an office would."""
    head = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(at)}",
        f"Message-ID: <m{pk}@hengtai-pharma.cn>",
    ]
    if reply_to:
        head += [f"In-Reply-To: {reply_to}", f"References: {reply_to}"]
    raw = "\r\n".join([*head, "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                       "", body]).encode()  # fmt: skip
    parsed = parse_message(raw, CTX)
    return Arrival(pk, parsed.message_id, at, parsed)


def keys() -> Callable[[str], int]:
    """Return a key source that counts from 500 for every kind of row."""
    counter = itertools.count(500)
    return lambda _kind: next(counter)


def run(snapshot: Snapshot, history: History, *arrivals: Arrival, ledger: bool = True) -> Tracker:
    """Understand ``arrivals`` as ingestion does, without rules."""
    tracker = Tracker(snapshot, arrivals, keys())
    for a in arrivals:
        tracker.assign_thread(a, CTX.own_addresses)
    tracker.learn(history)
    for a in arrivals:
        tracker.record(a, CTX, ledger=ledger, items=True)
        tracker.mark_read(a)
    return tracker


MINUTES = "【会议纪要】生产部+四月安全例会"
STORED = ThreadState(7, "四月安全例会", T0 - timedelta(days=2), T0 - timedelta(days=2))


def test_a_reply_joins_its_parents_thread() -> None:
    """In-Reply-To a stored mail puts the reply in that mail's thread, and moves its end."""
    parent = KnownMail(40, "<m40@hengtai-pharma.cn>", 7)
    snap = Snapshot(known={parent.message_id: parent}, threads=(STORED,))
    reply = mail(1, "回复：" + MINUTES, "已阅", sender=ZHAO, to=WANG, reply_to=parent.message_id)
    changes = run(snap, History(), reply).changes()
    assert changes.assigned == [(1, 7, STORED.subject_key)]
    assert changes.threads == []
    assert changes.thread_times == {7: (STORED.started_at, T0)}


def test_a_subject_joins_only_threads_of_the_same_people() -> None:
    """Same subject and a shared participant join; the same subject between strangers does not."""
    snap = Snapshot(threads=(STORED,), people={7: frozenset({QIAN})})
    ours = mail(1, MINUTES, "补充一点。")
    theirs = mail(2, MINUTES, "补充一点。", sender="li.na@other.cn", to="sun.ye@other.cn")
    changes = run(snap, History(), ours, theirs).changes()
    assert [(pk, tid) for pk, tid, _ in changes.assigned] == [(1, 7), (2, 500)]
    assert [t.id for t in changes.threads] == [500]


def test_a_reply_stored_before_its_parent_is_merged_in() -> None:
    """A parent arriving after its reply pulls the reply's thread into its own."""
    early = KnownMail(40, "<early@hengtai-pharma.cn>", 7, "<m1@hengtai-pharma.cn>")
    snap = Snapshot(replies={"<m1@hengtai-pharma.cn>": (early,)}, threads=(STORED,))
    parent = mail(1, "【通知】行政部+五一值班安排", "各位好，值班表见附件。")
    tracker = run(snap, History(), parent)
    changes = tracker.changes()
    assert changes.merges == [(500, 7)]
    assert tracker.thread_of(40) == 500
    assert changes.threads[0].started_at == STORED.started_at


def test_a_ledger_counts_the_answers_that_came_first() -> None:
    """A 已阅 replying to the minutes fills its line; last week's headerless 已阅 does not."""
    snap = Snapshot(
        replied={"<m1@hengtai-pharma.cn>": (Said(41, ZHAO, T0 - timedelta(minutes=5), "ack"),)},
        threads=(STORED,),
        people={7: frozenset({ZHAO, QIAN})},
    )
    history = History(said=((7, Said(39, QIAN, T0 - timedelta(days=6), "ack")),))
    minutes = mail(1, MINUTES, "会议纪要如下，请各位确认。\n一、本周完成消防通道清理。")
    changes = run(snap, history, minutes).changes()
    assert [r.message_pk for r in changes.requests] == [1]
    answers = {x.address: (x.answer.status, x.answer.answer_message_pk) for x in changes.lines}
    assert answers == {ZHAO: ("ack", 41), QIAN: ("pending", None)}


def test_an_answer_fills_the_line_of_the_request_it_replies_to() -> None:
    """Replying to last week's minutes fills last week's line, not this week's."""
    old = KnownMail(30, "<week14@hengtai-pharma.cn>", 7)
    snap = Snapshot(known={old.message_id: old}, threads=(STORED,))
    lines = (
        LedgerLine(60, 7, ZHAO, "pending", 30, T0 - timedelta(days=7)),
        LedgerLine(61, 7, ZHAO, "pending", 35, T0 - timedelta(days=1)),
    )
    answer = mail(1, "回复：" + MINUTES, "有异议：第二条的时间不对。", sender=ZHAO, to=WANG,
                  reply_to=old.message_id)  # fmt: skip
    tracker = Tracker(snap, [answer], keys())
    tracker.assign_thread(answer, CTX.own_addresses)
    wanted = tracker.wanted()
    assert (wanted.line_pairs, wanted.replied) == (((7, ZHAO),), (30,))
    tracker.learn(History(lines=lines))
    tracker.record(answer, CTX, ledger=True, items=True)
    changes = tracker.changes()
    assert list(changes.answers) == [60]
    assert changes.answers[60].status == "objection"


def test_a_done_reply_closes_the_items_it_numbers() -> None:
    """已完成 naming 第十一项 closes item 11 of the replier's open items, and no other."""
    parent = KnownMail(40, "<task@hengtai-pharma.cn>", 7)
    snap = Snapshot(known={parent.message_id: parent}, threads=(STORED,))
    items = tuple(OpenItem(80 + n, 7, ZHAO, 40, n, f"任务{n}：整理批记录") for n in (1, 2, 11))
    done = mail(1, "回复：任务分配", "第十一项已完成，记录已归档。", sender=ZHAO, to=WANG,
                reply_to=parent.message_id)  # fmt: skip
    changes = run(snap, History(items=items), done).changes()
    assert list(changes.closed) == [91]
    assert changes.closed[91].completed_by_pk == 1


def test_an_answer_to_mail_later_in_the_batch_waits_for_it() -> None:
    """An 已阅 read before the minutes it replies to fills the minutes' line when they open, and
    no older line meanwhile."""
    answer = mail(2, "回复：" + MINUTES, "已阅", sender=ZHAO, to=WANG,
                  at=T0 + timedelta(minutes=3), reply_to="<m1@hengtai-pharma.cn>")  # fmt: skip
    minutes = mail(1, MINUTES, "会议纪要如下，请确认。")
    changes = run(Snapshot(), History(), answer, minutes).changes()
    lines = {x.address: (x.answer.status, x.answer.answer_message_pk) for x in changes.lines}
    assert lines == {ZHAO: ("ack", 2), QIAN: ("pending", None)}
    assert changes.answers == {}
