"""Parsing in worker processes gives exactly what parsing in the poller gives, and what ingest
stores from it is the same either way."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.budget import TOO_MUCH_WORK
from mailflow.rulebook.parse_settings import parse_context
from mailflow.service.ingest import IngestReport, ingest
from mailflow.service.parsing import (
    ALONE_ATTEMPTS,
    PARSER_DIED,
    POOL_MIN,
    STUCK_EXIT,
    WORKER_NICENESS,
    BatchParser,
    Parsed,
    parse_one,
)
from mailflow.service.processes import process_exists
from mailflow.service.runtime import load_rules
from mailflow.settings import load_settings
from mailflow.sources.maildir import MaildirSource
from mailflow.store.db import make_engine, make_session_factory
from mailflow.store.models import ActionItemRecord, ConfirmationAnswer, Message, OutboxMail
from tests.corpus import varied_mail
from tests.scenario_mail import scenario_mail

REPO = Path(__file__).resolve().parents[2]
SETTINGS = load_settings(rules_dir=REPO / "rules", templates_dir=REPO / "templates")
RULEBOOK, _ = load_rules(SETTINGS)
CTX = parse_context(RULEBOOK.organization, SETTINGS)
_SECONDS = re.compile(r"\d+(?:\.\d+)? s\b")


def test_workers_parse_the_corpus_exactly_like_the_poller() -> None:
    """Every corpus mail (or, without the corpus, the examples and made-up mail), parsed in two
    worker processes, equals its in-process parse, in order; bytes that are not mail are
    rejected with the same reason."""
    raws = [*varied_mail(POOL_MIN), b"", b"\x00\xff" * 100]
    assert len(raws) >= POOL_MIN
    with BatchParser(CTX, workers=2) as parser:
        pooled = parser.submit(raws)()
        assert parser.pooled_batches == 1
    assert [_steady(p) for p in pooled] == [_steady(parse_one(raw, CTX)) for raw in raws]
    assert any(p.reason for p in pooled) and any(p.message for p in pooled)


def _steady(parsed: Parsed) -> Parsed:
    """Return ``parsed`` with the CPU seconds a 'too much work' reason measured left out: two
    processes measure the same verdict a little differently."""
    if parsed.reason and parsed.reason.startswith(TOO_MUCH_WORK):
        return replace(parsed, reason=_SECONDS.sub("… s", parsed.reason))
    return parsed


def test_a_small_batch_is_parsed_in_the_poller() -> None:
    """Live mail (a batch below POOL_MIN) never waits for a worker process."""
    raws = varied_mail(POOL_MIN)[: POOL_MIN - 1]
    with BatchParser(CTX, workers=2) as parser:
        assert parser.submit(raws)() == [parse_one(raw, CTX) for raw in raws]
        assert parser.pooled_batches == 0


# a mail whose first step (the MIME parse of 800,000 lines) takes far longer than this budget
_LONG_STEP = b"From: a@example.com\r\nSubject: log\r\n\r\n" + b"ok\n" * 800_000
_TIGHT = replace(CTX, limits=replace(CTX.limits, max_parse_cpu_s=0.05))


def _on_a_thread(work: Callable[[], list[Parsed]]) -> list[Parsed]:
    """Run ``work`` on a thread of its own, as a long-running service's poller does."""
    done: list[list[Parsed]] = []
    thread = threading.Thread(target=lambda: done.append(work()))
    thread.start()
    thread.join()
    return done[0]


def test_live_mail_on_the_pollers_thread_is_parsed_where_a_step_can_be_stopped() -> None:
    """Off the main thread a small batch goes to a worker process, where the budget stops a
    step that runs away inside it, not only once it ends; its result is the poller's own."""
    raws = varied_mail(POOL_MIN)[:3]
    with BatchParser(CTX, workers=2) as parser:
        assert _on_a_thread(lambda: parser.submit(raws)()) == [parse_one(r, CTX) for r in raws]
        assert (parser.isolated_batches, parser.pooled_batches) == (1, 0)
    with BatchParser(_TIGHT, workers=1) as parser:
        [stopped] = _on_a_thread(lambda: parser.submit([_LONG_STEP])())
    assert stopped.message is None and stopped.reason is not None
    assert stopped.reason.startswith(TOO_MUCH_WORK)
    assert "was stopped while reading the MIME structure" in stopped.reason


def test_without_workers_live_mail_is_parsed_in_the_poller_on_any_thread() -> None:
    """``MAILFLOW_PARSE_WORKERS=0`` parses everything in the poller: the budget then stops a
    parse between its steps only."""
    with BatchParser(_TIGHT, workers=0) as parser:
        [late] = _on_a_thread(lambda: parser.submit([_LONG_STEP])())
        assert parser.isolated_batches == 0
    assert late.reason is not None and "by the end of" in late.reason


def _forkserver_children() -> set[int]:
    """Return this process's parse workers: the forkserver's children, from /proc."""
    from multiprocessing import forkserver

    server = forkserver._forkserver._forkserver_pid
    return _descendants(server) if server else set()


def test_a_parse_worker_killed_mid_batch_loses_nothing() -> None:
    """Workers killed while they parse (as the OOM killer would) cost the poller nothing: the
    mails they had are read again one at a time, each in a process of its own, and come out
    as the poller's own parse would have them."""
    raws = [*varied_mail(POOL_MIN)[: POOL_MIN - 1], _LONG_STEP]
    with BatchParser(CTX, workers=2) as parser:
        results = parser.submit(raws)
        deadline = time.monotonic() + 60
        while not (workers := _forkserver_children()) and time.monotonic() < deadline:
            time.sleep(0.005)  # until the pool has started its workers: a wait, not a timing
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        parsed = results()
        assert 0 < parser.reread <= len(raws)
    assert workers
    assert [_steady(p) for p in parsed] == [_steady(parse_one(raw, CTX)) for raw in raws]


def _small_mail(count: int) -> list[bytes]:
    """Return ``count`` varied mails under 20 KB: each parses in a few milliseconds of CPU,
    far below what ``_kill_busy_workers`` kills at, even on a slow machine."""
    return [raw for raw in varied_mail(count * 2) if len(raw) < 20_000][:count]


def _kill_busy_workers(stop: threading.Event, cpu_s: float) -> None:
    """Until ``stop``, kill every parse worker that has spent more than ``cpu_s`` of CPU time:
    whatever reads ``_LONG_STEP`` (0.7 s of CPU), not a worker that starts or reads less."""
    ticks = os.sysconf("SC_CLK_TCK")
    while not stop.is_set():
        for pid in _forkserver_children():
            fields = _stat(pid)
            if fields is not None and (int(fields[11]) + int(fields[12])) / ticks > cpu_s:
                os.kill(pid, signal.SIGKILL)
        stop.wait(0.005)


def test_workers_killed_between_the_batches_of_a_backlog_lose_nothing() -> None:
    """Workers killed while idle between two batches leave a pool that refuses the next one:
    that batch goes to a new pool, and the batch submitted after it (as ingest does, before
    the one in hand is read) is not cancelled when a broken pool is let go."""
    mail = _small_mail(3 * POOL_MIN)
    batches = [mail[i : i + POOL_MIN] for i in range(0, len(mail), POOL_MIN)]
    with BatchParser(CTX, workers=2) as parser:
        parsed = parser.submit(batches[0])()
        workers, broken = _forkserver_children(), parser._pool
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while not broken._broken and time.monotonic() < deadline:
            time.sleep(0.005)  # until the pool has seen its workers die: a wait, not a timing
        second = parser.submit(batches[1])
        third = parser.submit(batches[2])
        parsed += second() + third()
        assert parser.pooled_batches == 3
    assert workers and broken._broken
    assert [_steady(p) for p in parsed] == [_steady(parse_one(raw, CTX)) for raw in mail]


@contextlib.contextmanager
def _killing_busy_workers(cpu_s: float = 0.25) -> Iterator[None]:
    """While inside, kill every parse worker past ``cpu_s`` of CPU (``_kill_busy_workers``)."""
    stop = threading.Event()
    killer = threading.Thread(target=_kill_busy_workers, args=(stop, cpu_s))
    killer.start()
    try:
        yield
    finally:
        stop.set()
        killer.join()


def test_a_mail_that_kills_every_process_that_reads_it_is_quarantined_alone() -> None:
    """A mail whose reader dies each time (a crash in a library, say) is quarantined with its
    reason, alone; the mails read with it come out as always, and the poller lives on."""
    raws = [*_small_mail(3), _LONG_STEP]
    with _killing_busy_workers(), BatchParser(CTX, workers=2) as parser:
        parsed = _on_a_thread(lambda: parser.submit(raws)())
    assert [_steady(p) for p in parsed[:3]] == [_steady(parse_one(r, CTX)) for r in raws[:3]]
    assert parsed[3].message is None and parsed[3].reason is not None
    assert parsed[3].reason.startswith(f"{PARSER_DIED}: ")
    assert f"{ALONE_ATTEMPTS} times in a row" in parsed[3].reason
    assert parser.reread == len(raws)


def test_a_mail_that_kills_its_readers_in_a_big_batch_is_found_by_halving() -> None:
    """In a backlog batch, the mail that kills every reader is found in halves of halves of
    its worker's share: a few process starts per halving, not one per mail."""
    raws = [*_small_mail(63), _LONG_STEP]
    with _killing_busy_workers(), BatchParser(CTX, workers=2) as parser:
        parsed = parser.submit(raws)()
    assert [p.reason or "" for p in parsed[:-1]] == [
        parse_one(r, CTX).reason or "" for r in raws[:-1]
    ]
    assert parsed[-1].reason is not None and parsed[-1].reason.startswith(f"{PARSER_DIED}: ")
    share = parser.reread
    assert share >= 32  # at least the share the slow mail was in
    assert parser.reread_processes < share  # one start a mail would be at least the share


STUCK_IN_C = """
import hashlib, os
from mailflow.mail.budget import WorkBudget
from mailflow.service.parsing import follow

follow(os.getppid())
# PBKDF2 runs in C and looks for no signal: about 10 s of CPU, past a budget of 0.05 s
WorkBudget(0.05).enforce(hashlib.pbkdf2_hmac, "sha256", b"p", b"s", 40_000_000)
print("finished")
"""


def test_a_worker_stuck_in_c_past_its_budget_ends() -> None:
    """A parse that the budget's signal cannot reach (C code that does not look for signals)
    ends its worker once it is STUCK_GRACE_S of CPU time past the budget."""
    result = _run_python(STUCK_IN_C)
    assert result.returncode == STUCK_EXIT, result.stderr
    assert "finished" not in result.stdout
    assert "past its budget in code that cannot be stopped" in result.stderr


NO_MAIN_GUARD = """
import sys
from mailflow.mail.model import ParseContext
from mailflow.service.parsing import POOL_MIN, BatchParser

raw = b"From: a@example.com\\r\\nSubject: hi\\r\\n\\r\\nbody\\r\\n"
with BatchParser(ParseContext(), workers=2) as parser:
    parsed = parser.submit([raw] * POOL_MIN)()
print(sum(p.message is not None for p in parsed), len(parsed))
"""


def test_where_no_parser_process_can_live_the_poller_parses(tmp_path: Path) -> None:
    """A program without a ``__main__`` guard kills every worker as it starts (each runs the
    program again): no mail is blamed for that, and the poller parses them all itself."""
    script = tmp_path / "unguarded.py"
    script.write_text(NO_MAIN_GUARD)
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(POOL_MIN), str(POOL_MIN)]
    assert "no parser process can run here" in result.stderr


def _thread_of_mail(root: Path) -> Path:
    """A Maildir of 60 mails: minutes, then each participant's 已阅 or objection, and task
    assignments answered 已完成, so threads, ledgers, items and replies all come into play."""
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    people = ["李四 <li.si@example.com>", "王五 <wang.wu@example.com>"]
    mails: list[bytes] = []
    for t in range(10):
        first = 6 * t + 1
        mails.append(
            scenario_mail(
                "p",
                first,
                "张三 <zhang.san@example.com>",
                ", ".join(people),
                f"【会议纪要】技术部-第{t}次例会",
                "请各位确认，回复已阅。\n1. 李四负责在10月15日前完成接口联调，交付联调报告\n",
                "2023-10-09 10:00",
            )
        )
        for i, (person, answer) in enumerate(
            zip(people, ["已阅", "有异议，第二条需修改"], strict=True)
        ):
            mails.append(
                scenario_mail(
                    "p",
                    first + 1 + i,
                    person,
                    "张三 <zhang.san@example.com>",
                    f"回复：【会议纪要】技术部-第{t}次例会",
                    answer,
                    "2023-10-09 11:00",
                    reply_to=first,
                )
            )
        mails.append(
            scenario_mail(
                "p",
                first + 3,
                "张三 <zhang.san@example.com>",
                people[1],
                f"【任务分配】技术部-第{t}项任务",
                "1. 王五负责在10月20日前完成回归测试，交付测试报告\n",
                "2023-10-09 12:00",
            )
        )
        mails.append(
            scenario_mail(
                "p",
                first + 4,
                people[1],
                "张三 <zhang.san@example.com>",
                f"回复：【任务分配】技术部-第{t}项任务",
                "已完成，报告见附件。",
                "2023-10-12 12:00",
                reply_to=first + 3,
            )
        )
        mails.append(
            scenario_mail(
                "p",
                first + 5,
                "客户 <buyer@customer.example>",
                "coord@example.com",
                f"【客户投诉】销售部-第{t}批货延迟",
                "货到晚了一周，请尽快答复。",
                "2023-10-09 17:50",
            )
        )
    # the directory order is the delivery order; a reply may come before what it answers
    for n, raw in enumerate(mails):
        (root / "new" / f"{2000 + (n * 7) % len(mails)}.M{n}.test").write_bytes(raw)
    return root


def _what_was_stored(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as s:
        messages = {m.id: m for m in s.scalars(select(Message))}
        thread_of = {m.message_id: m.thread_id for m in messages.values()}
        # threads compared by which mails they hold, not by their ids
        groups = sorted(
            sorted(mid for mid, t in thread_of.items() if t == thread and t is not None)
            for thread in set(thread_of.values())
        )
        items = sorted(
            (messages[i.message_pk].message_id, i.position, i.task, i.owner_email, i.status)
            for i in s.scalars(select(ActionItemRecord))
        )
        answers = sorted(
            (
                a.request.message_pk and messages[a.request.message_pk].message_id,
                a.address,
                a.status,
            )
            for a in s.scalars(select(ConfirmationAnswer))
        )
        outbox = sorted((o.key, o.kind, tuple(o.to_addrs)) for o in s.scalars(select(OutboxMail)))
        statuses = sorted((m.message_id, m.status) for m in messages.values())
    return {
        "threads": groups,
        "items": items,
        "answers": answers,
        "outbox": outbox,
        "statuses": statuses,
    }


def ingest_into(
    url: str, source: MaildirSource, *, rules: bool = True, parse_workers: int = 0
) -> tuple[IngestReport, dict[str, Any]]:
    """Ingest ``source`` into the database at ``url``; return the report and what was stored."""
    engine = make_engine(url)
    try:
        sessions = make_session_factory(engine)
        report = ingest(
            source,
            sessions,
            CTX,
            rulebook=RULEBOOK if rules else None,
            parse_workers=parse_workers,
        )
        return report, _what_was_stored(sessions)
    finally:
        engine.dispose()


def test_ingest_stores_the_same_with_and_without_workers(
    database_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    """One mailbox ingested twice, once parsing in the poller (on SQLite) and once in two
    worker processes (on each database), gives the same threads, items, ledger lines and
    outbox rows."""
    box = _thread_of_mail(tmp_path / "box")
    seen = []
    for url, parse_workers in ((sqlite_url, 0), (database_url, 2)):
        report, stored = ingest_into(url, MaildirSource(box), parse_workers=parse_workers)
        assert (report.stored, report.quarantined) == (60, 0)
        seen.append(stored)
    assert seen[0] == seen[1]
    stored = seen[0]
    assert len(stored["threads"]) == 30  # minutes + 2 answers, task + done, complaint
    assert {status for *_, status in stored["items"]} == {"open", "done"}
    assert {status for *_, status in stored["answers"]} >= {"ack", "objection"}
    assert stored["outbox"]


_HOLD_A_POOL = """
import sys
from tests.corpus import varied_mail
from tests.service.test_parsing import CTX
from mailflow.service.parsing import POOL_MIN, BatchParser

if __name__ == "__main__":
    parser = BatchParser(CTX, workers=2)
    parser.submit(varied_mail(POOL_MIN))()
    print("ready", flush=True)
    sys.stdin.read()  # until the test kills this process
"""


_EARLY_FORKSERVER = """
import json
import os
import sys
from pathlib import Path
from tests.corpus import varied_mail
from tests.service.test_parsing import CTX, _descendants
from mailflow.service.parsing import POOL_MIN, BatchParser, parse_all, start_forkserver

def forkservers():
    found = set()
    for pid in _descendants(os.getpid()):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"multiprocessing.forkserver" in args:
            found.add((pid, b"mailflow.service.parsing" in args))
    return found

if __name__ == "__main__":
    workers = int(sys.argv[1])
    started = start_forkserver(workers)
    before = forkservers()
    mails = varied_mail(POOL_MIN)
    with BatchParser(CTX, workers=workers) as parser:
        same = parser.submit(mails)() == parse_all(mails, CTX)
    print(json.dumps([started, sorted(before), sorted(forkservers()), same]))
"""


@pytest.mark.parametrize("workers", [2, 1, 0])
def test_a_pass_can_start_the_parse_workers_forkserver_before_its_first_batch(
    workers: int,
) -> None:
    """``start_forkserver`` starts the forkserver with the parser imported before any batch,
    and the workers of the first big batch are forked from it; with one worker or none,
    parsing stays in the poller and nothing is started."""
    result = _run_python(_EARLY_FORKSERVER, str(workers))
    assert result.returncode == 0, result.stderr
    started, before, after, same = json.loads(result.stdout.strip().splitlines()[-1])
    assert same
    if workers > 1:
        assert started
        assert len(before) == 1 and before[0][1]  # one forkserver, the parser imported
        assert after == before  # the batch's workers came from it: no second one
    else:
        assert (started, before, after) == (False, [], [])


_FORKSERVER_WITHOUT_FILES = """
import logging
import os
import resource
from mailflow.service.parsing import start_forkserver

logging.basicConfig(format="%(levelname)s %(message)s")
highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
print(start_forkserver(2))
"""


def test_a_forkserver_that_cannot_start_early_is_left_for_later() -> None:
    """Without a free file descriptor for its pipes, ``start_forkserver`` says so in a
    warning and returns False; the pass goes on (its first big batch will try again)."""
    result = _run_python(_FORKSERVER_WITHOUT_FILES)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert "WARNING could not start the parse workers' forkserver yet" in result.stderr


def _run_python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter with the checkout importable; return its outcome."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
        check=False,
    )


def _stat(pid: int) -> list[str] | None:
    """Return the fields of /proc/PID/stat after the command (state, parent, …; utime and
    stime at 11 and 12), or None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _descendants(pid: int) -> set[int]:
    """Return the processes below ``pid``, from /proc."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parent_of[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parent_of.items() if parent in frontier} - found
        found |= frontier
    return found


def test_workers_exit_when_the_poller_is_killed(tmp_path: Path) -> None:
    """A poller killed with SIGKILL mid-backlog leaves no parse worker (nor forkserver) behind."""
    script = tmp_path / "hold.py"
    script.write_text(_HOLD_A_POOL)
    child = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        helpers = _descendants(child.pid)
        assert len(helpers) >= 3  # the forkserver and two workers
        child.kill()
        child.wait()
        deadline = time.monotonic() + 10
        while any(process_exists(p) for p in helpers) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling for other processes to end; nothing to wait on
        assert not [p for p in helpers if process_exists(p)]
    finally:
        child.kill()
        child.wait()


def test_workers_yield_the_processor_to_the_poller() -> None:
    """The parse workers run at a lower scheduling priority than the poller, which stores a
    batch (the critical path) while they parse the next."""
    own = os.getpriority(os.PRIO_PROCESS, 0)
    with BatchParser(CTX, workers=2) as parser:
        parser.submit(varied_mail(POOL_MIN)[:POOL_MIN])()
        niceness = {os.getpriority(os.PRIO_PROCESS, pid) for pid in _descendants(os.getpid())}
    # the workers; a poller already at the lowest priority (niceness 19, e.g. a suite run
    # under `nice -n 19`) has workers at that same lowest priority
    assert min(own + WORKER_NICENESS, 19) in niceness
    assert os.getpriority(os.PRIO_PROCESS, 0) == own  # the poller keeps its own
