"""Growth benchmark: the scheduler's sweep over many open items and ledgers, and ``thread``.

Run from the repository root, with PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres;
``MAILFLOW_TEST_POSTGRES_URL`` points elsewhere)::

    .venv/bin/python benchmarks/sweep.py                   # 10^6 items, 10^5 ledgers
    .venv/bin/python benchmarks/sweep.py --items 2000 --ledgers 200 --thread 50 --explain

What it does:

1. Creates a fresh PostgreSQL database, runs the migrations and fills it with SQL
   (``generate_series``, no Python per row): ``--items`` open action items on one message per
   ten items, their owners the 16 people of ``rules/organization.yaml``, deadlines spread evenly
   from a year ago to a year ahead (so a pass finds some of them due, never all); ``--ledgers``
   minutes messages, each with a confirmation ledger of four lines among the staff who manage no
   department (two pending, one ack, one ack or, for one ledger in fifty, an objection) and a
   deadline from a year ago to a week ahead; one
   customer complaint per hundred ledgers; and one thread of ``--thread`` messages.
2. Runs the scheduler's clocks (``sweep_clocks``, what ``mailflow scheduler`` runs every five
   seconds, and the outbox sweep ``due_outbox``) at instants a few seconds, an hour and a day
   apart. The first pass catches up with a year of mail nobody was reminded of (it writes every
   reminder still inside ``clocks.stale_after``); the later ones are what a running scheduler does.
   Between passes the new outbox rows are marked sent (delivery is not measured here).
3. For each pass prints the seconds, the rows the database returned to Python ("rows looked at",
   every SELECT counted) and the mails decided (outbox rows written). The raw baseline is the
   same pass's smallest honest read: one ``SELECT count(*)`` over the open items and ledger lines
   the clocks' windows cover, in plain psycopg.
4. Times ``mailflow thread`` (the CLI's query and rendering, in process) on the long thread,
   against a raw psycopg read of the same rows.

``--explain`` prints the EXPLAIN (ANALYZE, BUFFERS) of every query of one steady pass.
See ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

# a Monday morning in Shanghai (01:30 UTC), away from PRC holidays
START = datetime(2026, 3, 16, 1, 30, tzinfo=UTC)
PEOPLE = [
    "li.si", "zhang.san", "zheng.hao", "liu.yang", "wang.wu", "sun.li", "zhao.liu", "zhou.qiang",
    "chen.jing", "he.jun", "wu.min", "ma.li", "qian.lei", "huang.ting", "gao.jie", "luo.hong",
]  # fmt: skip
# the people of the example directory who manage no department: most of a company
STAFF = ["zhang.san", "zheng.hao", "wang.wu", "zhao.liu", "chen.jing", "wu.min"]
STAFF_NAMES = ["张三", "郑浩", "王五", "赵六", "陈静", "吴敏"]
NAMES = [
    "李四", "张三", "郑浩", "刘洋", "王五", "孙丽", "赵六", "周强",
    "陈静", "何军", "吴敏", "马丽", "钱磊", "黄婷", "高洁", "罗红",
]  # fmt: skip
ITEMS_PER_MESSAGE = 10
YEAR_MIN = 365 * 24 * 60


@dataclass
class Sizes:
    items: int
    ledgers: int
    thread: int

    @property
    def item_mail(self) -> int:
        return max(1, (self.items + ITEMS_PER_MESSAGE - 1) // ITEMS_PER_MESSAGE)

    @property
    def complaints(self) -> int:
        return max(1, self.ledgers // 100)


def _array(values: list[str]) -> str:
    return "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"


def fill(dsn: str, sizes: Sizes) -> float:
    """Fill the migrated database at ``dsn``; return the seconds it took."""
    import psycopg

    started = time.perf_counter()
    m_items, m_ledgers, m_complaints = sizes.item_mail, sizes.ledgers, sizes.complaints
    first_minutes = m_items + 1
    first_complaint = first_minutes + m_ledgers
    first_thread_mail = first_complaint + m_complaints
    long_thread = first_thread_mail  # its id, as a thread id too
    people, names = _array(PEOPLE), _array(NAMES)
    staff, staff_names = _array(STAFF), _array(STAFF_NAMES)
    now = f"'{START.isoformat()}'::timestamptz"
    with psycopg.connect(dsn, autocommit=True) as db:
        # one thread per mail (the long thread's messages share the first one's)
        total = first_thread_mail - 1 + 1
        db.execute(
            f"""INSERT INTO threads (id, subject_key, started_at, last_message_at)
            SELECT g, 'subject ' || g, {now} - interval '400 days', {now} - interval '400 days'
            FROM generate_series(1, {total}) g"""
        )
        mail_columns = (
            "id, message_id, status, source, folder, source_key, received_at, date, subject,"
            " from_name, from_address, automated, subject_reason, department, conforms,"
            " body_text, thread_id, subject_key"
        )
        db.execute(
            f"""INSERT INTO messages ({mail_columns})
            SELECT g, '<item-' || g || '@bench>', 'stored', 'bench', 'INBOX', g::text,
                {now} - interval '400 days', {now} - interval '400 days',
                '【任务分配】技术部-任务 ' || g,
                ({names})[1 + g % 16], ({people})[1 + g % 16] || '@example.com', false,
                '任务分配', '技术部', true, '任务', g, 'subject ' || g
            FROM generate_series(1, {m_items}) g"""
        )
        db.execute(
            f"""INSERT INTO messages ({mail_columns})
            SELECT g, '<minutes-' || g || '@bench>', 'stored', 'bench', 'INBOX', g::text,
                {now} - interval '380 days', {now} - interval '380 days',
                '【会议纪要】技术部-例会 ' || g,
                ({names})[1 + g % 16], ({people})[1 + g % 16] || '@example.com', false,
                '会议纪要', '技术部', true, '纪要', g, 'subject ' || g
            FROM generate_series({first_minutes}, {first_complaint - 1}) g"""
        )
        db.execute(
            f"""INSERT INTO messages ({mail_columns})
            SELECT g, '<complaint-' || g || '@bench>', 'stored', 'bench', 'INBOX', g::text,
                {now} - make_interval(mins => ((g::bigint * 7919) % {YEAR_MIN})::int),
                {now} - make_interval(mins => ((g::bigint * 7919) % {YEAR_MIN})::int),
                '【客户投诉】售后部-设备死机 ' || g, '杨明', 'yang.ming@kehu-a.com.cn', false,
                '客户投诉', '售后部', true, '设备死机', g, 'subject ' || g
            FROM generate_series({first_complaint}, {first_thread_mail - 1}) g"""
        )
        db.execute(
            f"""INSERT INTO messages ({mail_columns}, in_reply_to)
            SELECT g, '<thread-' || g || '@bench>', 'stored', 'bench', 'INBOX', g::text,
                {now} - make_interval(mins => {sizes.thread} - (g - {long_thread})),
                {now} - make_interval(mins => {sizes.thread} - (g - {long_thread})),
                'Re: 【工作联系】技术部-长线程', ({names})[1 + g % 16],
                ({people})[1 + g % 16] || '@example.com', false, '工作联系', '技术部', true,
                '第 ' || g || ' 封回复', {long_thread}, 'subject {long_thread}',
                CASE WHEN g > {long_thread} THEN '<thread-' || (g - 1) || '@bench>' END
            FROM generate_series({long_thread}, {long_thread + sizes.thread - 1}) g"""
        )
        db.execute(
            f"""INSERT INTO message_addresses (message_pk, role, name, address)
            SELECT g, r.role, ({names})[1 + (g + r.k) % 16],
                ({people})[1 + (g + r.k) % 16] || '@example.com'
            FROM generate_series({long_thread}, {long_thread + sizes.thread - 1}) g,
                (VALUES ('from', 0), ('to', 1), ('cc', 2)) AS r(role, k)"""
        )
        # deadlines from a year ago to a year ahead, in an order unrelated to the ids
        db.execute(
            f"""INSERT INTO action_items (message_pk, thread_id, position, task, owner, owner_email,
                deadline, due_at, deliverable, missing, status, created_at)
            SELECT m, m, p, '整理第 ' || g || ' 项材料', ({names})[1 + g % 16],
                ({people})[1 + g % 16] || '@example.com', to_char(d, 'YYYY-MM-DD'), d,
                '材料终稿', '[]', 'open', {now} - interval '400 days'
            FROM generate_series(0, {sizes.items - 1}) g,
                LATERAL (SELECT 1 + g / {ITEMS_PER_MESSAGE} AS m, 1 + g % {ITEMS_PER_MESSAGE} AS p,
                    {now} + make_interval(mins =>
                        ((g::bigint * 7919) % (2 * {YEAR_MIN}) - {YEAR_MIN})::int) AS d
                ) x"""
        )
        db.execute(
            f"""INSERT INTO confirmation_requests (id, message_pk, thread_id, requested_at, due_at)
            SELECT g - {first_minutes} + 1, g, g, {now} - interval '380 days',
                {now} + make_interval(mins =>
                    ((g::bigint * 7919) % ({YEAR_MIN} + 7 * 1440) - {YEAR_MIN})::int)
            FROM generate_series({first_minutes}, {first_complaint - 1}) g"""
        )
        db.execute(
            f"""INSERT INTO confirmation_answers (request_id, address, name, role, status,
                answered_at, answer_text)
            SELECT r, ({staff})[1 + (r + k) % 6] || '@example.com',
                ({staff_names})[1 + (r + k) % 6],
                CASE WHEN k = 0 THEN 'to' ELSE 'cc' END,
                CASE WHEN k < 2 THEN 'pending'
                     WHEN k = 3 AND r % 50 = 0 THEN 'objection' ELSE 'ack' END,
                CASE WHEN k < 2 THEN NULL
                     ELSE {now} - make_interval(mins => ((r::bigint * 7919) % {YEAR_MIN})::int) END,
                CASE WHEN k = 3 AND r % 50 = 0 THEN '时间不对，请改期' END
            FROM generate_series(1, {m_ledgers}) r, generate_series(0, 3) k"""
        )
        db.execute(
            """UPDATE threads t SET started_at = m.date, last_message_at = m.date
            FROM messages m WHERE m.id = t.id"""
        )
        db.execute(f"UPDATE threads SET last_message_at = {now} WHERE id = {long_thread}")
        for table in ("threads", "messages", "action_items", "confirmation_requests",
                      "confirmation_answers", "message_addresses"):  # fmt: skip
            db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        db.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


class Counter:
    """Counts the statements and the rows they returned, from SQLAlchemy's cursor events."""

    def __init__(self) -> None:
        self.statements = self.rows = 0
        self.explain: list[tuple[str, Any]] | None = None

    def __call__(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        self.statements += 1
        if cursor.description is not None and cursor.rowcount > 0:
            self.rows += cursor.rowcount
        if self.explain is not None and statement.lstrip().upper().startswith("SELECT"):
            self.explain.append((statement, params))


@dataclass
class Pass:
    label: str
    seconds: float
    raw_seconds: float
    statements: int
    rows: int
    mails: int
    due: int


def raw_read(dsn: str, now: datetime) -> float:
    """The smallest honest read of a pass: count what the clocks' windows cover."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(dsn) as db:
        db.execute(
            "SELECT count(*) FROM action_items WHERE status = 'open' AND due_at BETWEEN %s AND %s",
            (now - timedelta(days=12), now + timedelta(days=8)),
        ).fetchone()
        db.execute(
            "SELECT count(*) FROM confirmation_requests r JOIN confirmation_answers a"
            " ON a.request_id = r.id AND a.status = 'pending'"
            " WHERE r.due_at BETWEEN %s AND %s",
            (now - timedelta(days=12), now),
        ).fetchone()
    return time.perf_counter() - started


def delivered(dsn: str, now: datetime) -> None:
    """Mark the pass's mail sent, as the delivery workers would have before the next pass."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(
            "UPDATE outbox SET status = 'sent', sent_at = %s WHERE status = 'pending'", (now,)
        )


def run_passes(url: str, dsn: str, explain: bool) -> tuple[list[Pass], list[str]]:
    """Run the sweep at a few instants; return each pass and (``explain``) the plans."""
    from sqlalchemy import event

    from mailflow.rulebook.parse_settings import parse_context
    from mailflow.service.clock_mail import sweep_clocks
    from mailflow.service.runtime import load_rules
    from mailflow.service.sweep import due_outbox
    from mailflow.settings import load_settings
    from mailflow.store.db import make_engine, make_session_factory

    settings = load_settings(rules_dir=ROOT / "rules", templates_dir=ROOT / "templates")
    rulebook, _ = load_rules(settings)
    ctx = parse_context(rulebook.organization, settings)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    counter = Counter()
    event.listen(engine, "after_cursor_execute", counter)
    steps = [
        ("first (catch-up)", timedelta(0)),
        ("+5 s", timedelta(seconds=5)),
        ("+10 s", timedelta(seconds=10)),
        ("+1 h", timedelta(hours=1)),
        ("+1 h 5 s", timedelta(hours=1, seconds=5)),
        ("+1 day (a day at once)", timedelta(days=1)),
        ("+1 day 5 s", timedelta(days=1, seconds=5)),
    ]
    passes, plans = [], []
    for label, offset in steps:
        now = START + offset
        capture = explain and label == "+1 day 5 s"
        counter.statements = counter.rows = 0
        counter.explain = [] if capture else None
        started = time.perf_counter()
        mails = sweep_clocks(sessions, rulebook, ctx, now)
        due = due_outbox(sessions, now)
        seconds = time.perf_counter() - started
        statements, rows = counter.statements, counter.rows
        if capture and counter.explain is not None:
            plans = _plans(engine, counter.explain)
        counter.explain = None
        passes.append(
            Pass(label, seconds, raw_read(dsn, now), statements, rows, len(mails), len(due))
        )
        delivered(dsn, now)
    engine.dispose()
    return passes, plans


def _plans(engine: Any, statements: list[tuple[str, Any]]) -> list[str]:
    """Return the EXPLAIN (ANALYZE, BUFFERS) of each distinct SELECT seen in a pass."""
    seen: dict[str, Any] = {}
    for statement, params in statements:
        seen.setdefault(statement, params)
    out = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, params in seen.items():
            if isinstance(params, list | tuple) and params and isinstance(params[0], dict):
                params = params[0]
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            out.append(f"{' '.join(statement.split())}\n{plan}")
        raw.rollback()
    finally:
        raw.close()
    return out


def time_thread(url: str, dsn: str, sizes: Sizes, repeat: int = 3) -> tuple[float, float, int]:
    """Return the best seconds of ``mailflow thread`` and of a raw read of the same rows, and
    the length of the text the command printed."""
    import psycopg

    from mailflow.cli import app

    message_id = f"<thread-{sizes.item_mail + sizes.ledgers + sizes.complaints + 1}@bench>"
    best, out_len = float("inf"), 0
    env = {"MAILFLOW_DATABASE_URL": url}
    with _environment(env):
        for _ in range(repeat):
            buffer = io.StringIO()
            started = time.perf_counter()
            with redirect_stdout(buffer):
                app(["thread", message_id], standalone_mode=False)
            best = min(best, time.perf_counter() - started)
            out_len = len(buffer.getvalue())
    raw_best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        with psycopg.connect(dsn) as db:
            db.execute(
                "SELECT m.*, (SELECT json_agg(a) FROM message_addresses a"
                " WHERE a.message_pk = m.id) FROM messages m WHERE m.thread_id ="
                " (SELECT thread_id FROM messages WHERE message_id = %s) ORDER BY m.date",
                (message_id,),
            ).fetchall()
        raw_best = min(raw_best, time.perf_counter() - started)
    return best, raw_best, out_len


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=1_000_000, help="open action items (10^6)")
    p.add_argument("--ledgers", type=int, default=100_000, help="open ledgers (10^5)")
    p.add_argument("--thread", type=int, default=1000, help="messages in the long thread (1000)")
    p.add_argument("--explain", action="store_true", help="print the plans of a steady pass")
    args = p.parse_args()
    sizes = Sizes(max(1, args.items), max(1, args.ledgers), max(1, args.thread))

    from mailflow.store.migrate import upgrade
    from tests.servers.databases import fresh_postgres

    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"sweep benchmark: {sizes.items} open items, {sizes.ledgers} ledgers, "
          f"a thread of {sizes.thread}; load average {' '.join(load)}")  # fmt: skip
    with fresh_postgres() as url:
        upgrade(url)
        dsn = _libpq(url)
        print(f"filled in {fill(dsn, sizes):.1f} s")
        passes, plans = run_passes(url, dsn, args.explain)
        thread_s, thread_raw_s, printed = time_thread(url, dsn, sizes)
    print()
    print(f"{'pass':<22} {'seconds':>8} {'raw s':>7} {'ratio':>6} {'queries':>8} "
          f"{'rows looked at':>15} {'mails decided':>14} {'outbox due':>11}")  # fmt: skip
    for x in passes:
        ratio = x.seconds / x.raw_seconds if x.raw_seconds else float("nan")
        print(f"{x.label:<22} {x.seconds:>8.3f} {x.raw_seconds:>7.3f} {ratio:>6.1f} "
              f"{x.statements:>8} {x.rows:>15} {x.mails:>14} {x.due:>11}")  # fmt: skip
    steady = [x.seconds for x in passes[1:] if "at once" not in x.label]
    print(f"\nslowest pass a running scheduler makes (every 5 s): {max(steady, default=0):.3f} s"
          " (goal: under 1 s)")  # fmt: skip
    print(f"\n{'thread':<18} {'seconds':>8} {'raw s':>7} {'ratio':>6} {'messages':>9} {'chars':>8}")
    print(f"{'mailflow thread':<18} {thread_s:>8.3f} {thread_raw_s:>7.3f} "
          f"{thread_s / thread_raw_s:>6.1f} {sizes.thread:>9} {printed:>8}")  # fmt: skip
    print("(goal: under 0.5 s)")
    if plans:
        print("\nEXPLAIN (ANALYZE, BUFFERS) of each query of the '+1 day 5 s' pass:\n")
        for plan in plans:
            print(plan, end="\n\n")
    with open("/proc/loadavg") as f:
        print("load average after:", " ".join(f.read().split()[:3]))


if __name__ == "__main__":
    main()
