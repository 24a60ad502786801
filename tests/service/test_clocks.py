"""The clocks on the PRC calendar: time is an argument (`now`), never a sleep.

Scenarios around the 2023 Mid-Autumn and National Day holidays (29 Sep - 6 Oct off, Sat 7 and
Sun 8 Oct working days), a deadline on the last workday before them, and a complaint received
at 17:50 on a workday. Each sweep runs twice: a mail is written once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailflow.rulebook.parse_settings import parse_context
from mailflow.service.clock_mail import ClockMail, sweep_clocks
from mailflow.service.ingest import ingest
from mailflow.service.repair import Who, close_thread
from mailflow.service.runtime import load_rules
from mailflow.settings import load_settings
from mailflow.sources.maildir import MaildirSource
from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.models import OutboxMail
from tests.scenario_mail import at, scenario_mail

REPO = Path(__file__).resolve().parents[2]
SETTINGS = load_settings(rules_dir=REPO / "rules", templates_dir=REPO / "templates")
RULEBOOK, _ = load_rules(SETTINGS)
CTX = parse_context(RULEBOOK.organization, SETTINGS)


def mail(
    n: int, sender: str, to: str, subject: str, body: str, date: str, reply_to: int = 0
) -> bytes:
    return scenario_mail("clock", n, sender, to, subject, body, date, reply_to)


ZHANG, WANG, LIU = (
    "张三 <zhang.san@example.com>",
    "王五 <wang.wu@example.com>",
    "刘洋 <liu.yang@example.com>",
)
CHEN, CUSTOMER = "陈静 <chen.jing@example.com>", "杨明 <yang.ming@kehu-a.com.cn>"
BEFORE_HOLIDAY = mail(
    1,
    LIU,
    f"{WANG}, {ZHANG}",
    "【任务分配】市场部-国庆前物料",
    "任务：提交国庆活动物料；责任人：王五；完成时限：2023-09-28；交付标准：物料终稿\n",
    "2023-09-25 08:30",
)
MINUTES = mail(
    2,
    ZHANG,
    f"{WANG}, {LIU}",
    "【会议纪要】技术部-节前例会",
    "各位好，以下为节前例会纪要，请回复已阅。\n任务：整理节后排期；责任人：张三；完成时限：2023-10-09；交付标准：排期表\n",
    "2023-09-28 17:00",
)
WANG_ACK = mail(
    3, WANG, ZHANG, "Re: 【会议纪要】技术部-节前例会", "已阅。", "2023-09-28 18:00", reply_to=2
)
COMPLAINT = mail(
    4,
    CUSTOMER,
    CHEN,
    "【客户投诉】售后部-设备死机",
    "贵司设备频繁死机，请尽快处理。",
    "2023-10-10 17:50",
)


@pytest.fixture
def sessions(database_url: str, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def deliver(sessions: sessionmaker[Session], tmp_path: Path, *raws: bytes) -> None:
    """Put ``raws`` in a Maildir and ingest them with the default rules."""
    box = tmp_path / "box"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    for n, raw in enumerate(raws):  # delivered in the order given
        (box / "new" / f"{1_700_000_000 + n}.M{abs(hash(raw))}.test").write_bytes(raw)
    ingest(MaildirSource(box), sessions, CTX, rulebook=RULEBOOK)


def sweep(sessions: sessionmaker[Session], when: str, digests: bool = False) -> list[ClockMail]:
    """Sweep twice at ``when``; the second sweep must find nothing new. Weekly digests are left
    out unless asked for (their own test covers them)."""
    first = sweep_clocks(sessions, RULEBOOK, CTX, at(when))
    assert sweep_clocks(sessions, RULEBOOK, CTX, at(when)) == []
    return [m for m in first if digests or m.kind != "weekly_digest"]


def kinds(mails: list[ClockMail]) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((m.kind, m.to) for m in mails)


def test_deadline_before_the_holiday(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Due Thu 28 Sep: reminded 3 workdays ahead and on the day; escalated on Sat 7 Oct, a 调休 workday."""
    deliver(sessions, tmp_path, BEFORE_HOLIDAY)
    wang = ("wang.wu@example.com",)
    assert sweep(sessions, "2023-09-25 08:59") == []
    # 3 business days before Thu 28 Sep is Mon 25 Sep
    assert kinds(sweep(sessions, "2023-09-25 09:00")) == [("deadline_reminder", wang)]
    assert kinds(sweep(sessions, "2023-09-28 09:00")) == [("deadline_reminder", wang)]
    overdue = sweep(sessions, "2023-09-28 18:01")
    assert kinds(overdue) == [("deadline_overdue", wang)]
    assert overdue[0].cc == ("liu.yang@example.com",)  # the initiator
    # one business day after the deadline: the holiday week does not count
    assert sweep(sessions, "2023-10-06 20:00") == []
    assert kinds(sweep(sessions, "2023-10-07 18:00")) == [
        ("deadline_escalation", ("liu.yang@example.com",))
    ]


def test_deadline_on_the_friday_before_new_year(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Due Fri 29 Dec 2023 (New Year off 30 Dec - 1 Jan): escalated on Tue 2 Jan, not over the holiday."""
    task = mail(
        9,
        LIU,
        WANG,
        "【任务分配】市场部-年终总结",
        "任务：提交年终总结；责任人：王五；完成时限：2023-12-29 18:00；交付标准：总结报告\n",
        "2023-12-20 09:00",
    )
    deliver(sessions, tmp_path, task)
    wang = ("wang.wu@example.com",)
    # 3 business days before Fri 29 Dec: Tue 26 Dec, 09:00
    assert sweep(sessions, "2023-12-26 08:59") == []
    assert kinds(sweep(sessions, "2023-12-26 09:00")) == [("deadline_reminder", wang)]
    assert kinds(sweep(sessions, "2023-12-29 09:00")) == [("deadline_reminder", wang)]
    assert kinds(sweep(sessions, "2023-12-29 18:00")) == [("deadline_overdue", wang)]
    assert sweep(sessions, "2024-01-01 23:59") == []
    assert kinds(sweep(sessions, "2024-01-02 18:00")) == [
        ("deadline_escalation", ("liu.yang@example.com",))
    ]


def test_minutes_unconfirmed_over_the_holiday(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Silence after 24 h gets one reminder; managers hear one business day later, after the holiday."""
    deliver(sessions, tmp_path, MINUTES, WANG_ACK)
    assert [
        m for m in sweep(sessions, "2023-09-29 16:59") if m.kind.startswith("confirmation")
    ] == []
    due = sweep(sessions, "2023-09-29 17:00")
    assert kinds([m for m in due if m.kind.startswith("confirmation")]) == [
        ("confirmation_reminder", ("liu.yang@example.com",))
    ]
    assert [
        m for m in sweep(sessions, "2023-10-06 23:00") if m.kind.startswith("confirmation")
    ] == []
    late = [m for m in sweep(sessions, "2023-10-07 17:00") if m.kind.startswith("confirmation")]
    assert kinds(late) == [("confirmation_escalation", ("li.si@example.com",))]


def test_complaint_at_1750_escalates_after_48_hours(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """No staff answer by Thu 12 Oct 17:50: the 售后部 manager is told, once."""
    deliver(sessions, tmp_path, COMPLAINT)
    assert sweep(sessions, "2023-10-12 17:49") == []
    assert kinds(sweep(sessions, "2023-10-12 17:50")) == [
        ("complaint_escalation", ("zhou.qiang@example.com",))
    ]


def test_answered_complaint_gets_a_revisit_not_an_escalation(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A staff reply in time means no escalation; the reply that resolves it starts the 3-day revisit."""
    answer = mail(
        5,
        CHEN,
        CUSTOMER,
        "回复：【客户投诉】售后部-设备死机",
        "问题处理方案如下……",
        "2023-10-11 10:00",
        reply_to=4,
    )
    solved = mail(
        6,
        CHEN,
        CUSTOMER,
        "回复：【客户投诉】售后部-设备死机",
        "故障已修复，设备已恢复正常。",
        "2023-10-12 15:00",
        reply_to=5,
    )
    deliver(sessions, tmp_path, COMPLAINT, answer, solved)
    assert sweep(sessions, "2023-10-13 09:00") == []
    assert sweep(sessions, "2023-10-15 14:59") == []
    assert kinds(sweep(sessions, "2023-10-15 15:00")) == [
        ("revisit_reminder", ("chen.jing@example.com",))
    ]


def test_closed_thread_and_done_items_get_nothing(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Closing the thread stops every reminder about it; a done item is never chased."""
    done = mail(
        7,
        WANG,
        LIU,
        "回复：【任务分配】市场部-国庆前物料",
        "物料已提交，已完成。",
        "2023-09-27 10:00",
        reply_to=1,
    )
    deliver(sessions, tmp_path, BEFORE_HOLIDAY, done)
    assert sweep(sessions, "2023-09-28 18:01") == []
    deliver(sessions, tmp_path, MINUTES)
    close_thread(sessions, "<clock-2@example.com>", Who("张经理", None, at("2023-09-29 10:00")))
    assert sweep(sessions, "2023-10-09 18:01") == []


def test_objection_notifies_the_organiser_at_once(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An objection to minutes is a mail to their sender as soon as it is read."""
    objection = mail(
        8,
        LIU,
        ZHANG,
        "回复：【会议纪要】技术部-节前例会",
        "有异议：排期时间太紧。",
        "2023-09-28 19:00",
        reply_to=2,
    )
    deliver(sessions, tmp_path, MINUTES, objection)
    assert kinds(sweep(sessions, "2023-09-28 19:01")) == [
        ("objection_notice", ("zhang.san@example.com",))
    ]


def test_answer_that_arrives_before_the_minutes_counts(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Mail read out of order: a 已阅 stored before its minutes still confirms them."""
    deliver(sessions, tmp_path, WANG_ACK, MINUTES)
    due = [m for m in sweep(sessions, "2023-09-29 17:00") if m.kind == "confirmation_reminder"]
    assert kinds(due) == [("confirmation_reminder", ("liu.yang@example.com",))]


def test_weekly_record_moves_off_a_holiday(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Friday 6 Oct 2023 is a holiday: the week's record goes on Saturday 7 Oct, a 调休 workday."""
    deliver(sessions, tmp_path, BEFORE_HOLIDAY)
    assert sweep(sessions, "2023-10-06 17:30", digests=True) == []
    sent = [
        m for m in sweep(sessions, "2023-10-07 17:00", digests=True) if m.kind == "weekly_digest"
    ]
    assert kinds(sent) == [("weekly_digest", ("liu.yang@example.com",))]


def test_stale_reminders_are_dropped(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Importing old mail does not send reminders that missed their moment by weeks."""
    deliver(sessions, tmp_path, BEFORE_HOLIDAY)
    assert sweep(sessions, "2023-12-01 09:00") == []


def test_two_schedulers_at_once_write_each_mail_once(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Two concurrent sweeps at the same instant write each reminder once between them."""
    deliver(sessions, tmp_path, BEFORE_HOLIDAY, MINUTES)
    results: list[list[ClockMail]] = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        results.append(sweep_clocks(sessions, RULEBOOK, CTX, at("2023-09-29 17:00")))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    written = [m for r in results for m in r]
    with sessions() as s:
        total = s.scalar(
            select(func.count()).select_from(OutboxMail).where(OutboxMail.rule.like("clock:%"))
        )
    assert len(written) == total == len({(m.kind, m.to) for m in written}) > 0


AGENCY = "赵磊 <zhao.lei@huizhan-events.cn>"
AGENCY_MINUTES = mail(
    20,
    AGENCY,
    f"{WANG}, 钱峰 <qian.feng@dajia-print.com>, 孙倩 <sun.qian@huizhan-events.cn>",
    "【会议纪要】市场部-秋季展会筹备对接",
    "各位好，今天展会筹备对接会纪要如下，请回复已阅确认：\n"
    "1. 任务：提交展台设计稿；责任人：王五；完成时限：2023-09-28；交付标准：设计稿终版\n"
    "2. 任务：确认印刷打样；责任人：孙倩；完成时限：2023-09-28；交付标准：打样照片\n",
    "2023-09-25 08:30",
)


def test_an_outsiders_minutes_set_clocks_for_staff_only(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An event agency's minutes: only 王五 is chased and reminded; neither the agency nor the
    printer it copied ever hears from the clocks."""
    deliver(sessions, tmp_path, AGENCY_MINUTES)
    wang = ("wang.wu@example.com",)
    outsiders = {"zhao.lei@huizhan-events.cn", "qian.feng@dajia-print.com"}
    outsiders.add("sun.qian@huizhan-events.cn")
    sent = [
        *sweep(sessions, "2023-09-25 09:00"),
        *sweep(sessions, "2023-09-26 09:00"),
        *sweep(sessions, "2023-09-28 18:01"),
        *sweep(sessions, "2023-10-07 18:00"),
    ]
    assert ("confirmation_reminder", wang) in kinds(sent)
    assert ("deadline_overdue", wang) in kinds(sent)
    assert all(not outsiders & {*m.to, *m.cc} for m in sent), kinds(sent)


def test_no_earlier_stage_after_a_later_one(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Once the overdue notice went out, a sweep for an earlier instant (``scheduler --once
    --now``) sends neither the day's reminder nor the one before it."""
    deliver(sessions, tmp_path, BEFORE_HOLIDAY)
    assert kinds(sweep(sessions, "2023-09-28 18:01")) == [
        ("deadline_overdue", ("wang.wu@example.com",))
    ]
    assert sweep(sessions, "2023-09-28 09:00") == []
    assert sweep(sessions, "2023-09-25 09:00") == []
    # the escalation comes after the overdue notice, as it should
    assert kinds(sweep(sessions, "2023-10-07 18:00")) == [
        ("deadline_escalation", ("liu.yang@example.com",))
    ]
