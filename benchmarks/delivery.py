"""Delivery benchmark: pending outbox rows in PostgreSQL → Redis → ``mailflow worker`` → SMTP.

Run from the repository root, with PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres)
and Redis on 127.0.0.1:6379::

    .venv/bin/python benchmarks/delivery.py                       # 5,000 rows, 2 workers
    .venv/bin/python benchmarks/delivery.py --rows 1000 --workers 1 --profile
    .venv/bin/python benchmarks/delivery.py --rows 400 --skip-raw --kills 100

What it does:

1. Creates a fresh PostgreSQL database (dropped at the end) and flushes one Redis database
   (``--redis-db``, default 13; flushed again at the end), then runs ``mailflow db upgrade``.
2. Makes the pending outbox the real way: ``mailflow poll --once`` on the bundled example inbox
   (no broker URL, so nothing is sent) stores the 15 mails and decides 7 replies of 7 kinds
   (minutes_received, receipt, missing_fields, complaint_ack, managers_copy, change_request_ack,
   subject_help) with their template contexts. Those rows are copied in SQL, each copy with its
   own idempotency key and Message-ID, until ``--rows`` rows are pending: the real mix of
   templates, contexts (2-4 KB of JSON) and recipients (one to six per mail).
3. Starts an aiosmtpd server (``tests/servers/smtp.py``, STARTTLS + AUTH) in this process and
   ``--workers`` ``mailflow worker`` subprocesses (each runs 4 delivery threads), waits until
   each has fetched from Redis, then enqueues every row id through mailflow's own actor
   (``mailflow.jobs``) and times from the first enqueue to the moment the server accepted the
   last mail. It then checks that every row is ``sent`` in the database.
4. Baselines, each in a child process so that the client does not share a GIL with the server,
   sending exactly the bytes and envelopes mailflow sent: raw aiosmtplib over 8 connections
   kept open (STARTTLS + AUTH once each), and raw aiosmtplib with 8 concurrent senders that open
   a new connection (STARTTLS + AUTH + QUIT) for every mail.

5. With ``--kills N``: kill -9 a delivering worker N times, at random moments, restarting it
   each time, and count the resends (a Message-ID the server received twice) and the mails
   lost; the outbox must end all sent (``delivery_kills.py`` says how). With
   ``--sent-copies`` the server files each mail it accepts in the Sent folder of a Dovecot
   mailbox before it answers (as Microsoft 365 and Gmail do), that mailbox is the source, and
   before each restart the sweep's ``settle_interrupted`` looks there for the deliveries the
   kill cut short: those found are recorded sent, not sent again.

The script exits non-zero when a row is not sent, a mail is missing or arrived twice without a
kill, or the kills lost a mail. A tiny run for CI:
``--rows 20 --workers 1 --kills 2 --sent-copies --skip-raw --no-wait``.

``--profile`` samples the first worker with py-spy (CPU samples of all its threads; install it
with ``pip install py-spy`` or pass ``--py-spy``) and prints the hottest functions. Results go
to ``benchmarks/results/delivery-<time>.json`` (git-ignored). See ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from delivery_kills import KillReport, kill_lines, measure_kills, message_ids  # noqa: E402
from latency import load_average, machine, wait_until_quiet  # noqa: E402

MAILFLOW = ROOT / ".venv" / "bin" / "mailflow"
RESULTS = ROOT / "benchmarks" / "results"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
HEARTBEATS = "mailflow:__heartbeats__"  # dramatiq's RedisBroker, namespace "mailflow"
RAW_CONNECTIONS = 8
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0


@dataclass
class Row:
    """One line of the result table."""

    what: str
    mails: int
    seconds: float
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.mails / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------- PostgreSQL and Redis


def flush_redis(db: int) -> None:
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
    client.flushdb()
    client.close()


def live_workers(db: int) -> int:
    """Return how many broker processes have fetched from Redis (dramatiq's heartbeat set)."""
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
    try:
        return int(client.zcard(HEARTBEATS))
    finally:
        client.close()


# ---------------------------------------------------------------- the pending outbox


def run_mailflow(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([str(MAILFLOW), *args], env=env, cwd=ROOT, capture_output=True,
                          text=True)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"mailflow {' '.join(args)} failed:\n{done.stderr}")


def fill_outbox(database_url: str, env: dict[str, str], rows: int) -> Counter[str]:
    """Decide the example inbox, then copy its outbox rows up to ``rows``; return kinds."""
    from sqlalchemy import create_engine, text

    from mailflow.store.models import OutboxMail

    run_mailflow(["poll", "--once"], {**env, "MAILFLOW_SOURCE": "maildir://examples/inbox"})
    columns = [c.key for c in OutboxMail.__table__.columns if c.key != "id"]
    fresh = {
        "key": "encode(sha256(convert_to(o.key || ':bench:' || g, 'UTF8')), 'hex')",
        "message_id": "'<bench.delivery.' || g || '.' || o.id || '@example.com>'",
    }
    names = ", ".join(f'"{c}"' for c in columns)
    select = ", ".join(fresh.get(c, f'o."{c}"') for c in columns)
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            base = int(conn.execute(text("SELECT count(*) FROM outbox")).scalar_one())
            if base == 0:
                raise SystemExit("mailflow poll --once on the example inbox decided nothing")
            conn.execute(
                text(f"INSERT INTO outbox ({names})"
                     f" SELECT {select} FROM outbox o"
                     " CROSS JOIN generate_series(1, :copies) g ORDER BY g, o.id LIMIT :extra"),
                {"copies": rows // base + 1, "extra": rows - base},
            )  # fmt: skip
            kinds = conn.execute(text("SELECT kind, count(*) FROM outbox GROUP BY kind"))
            return Counter({kind: int(n) for kind, n in kinds})
    finally:
        engine.dispose()


def outbox_ids(database_url: str) -> list[int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [int(i) for i in conn.scalars(text("SELECT id FROM outbox ORDER BY id"))]
    finally:
        engine.dispose()


def outbox_status(database_url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT status, count(*) FROM outbox GROUP BY status"))
            return {status: int(n) for status, n in rows}
    finally:
        engine.dispose()


# ---------------------------------------------------------------- workers


@dataclass
class Workers:
    """``mailflow worker`` subprocesses; the first one optionally sampled by py-spy."""

    env: dict[str, str]
    work: Path
    count: int
    py_spy: str | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    spy: subprocess.Popen[bytes] | None = None
    cpu_s: float = 0.0  # user + system seconds of all workers, filled by stop()

    @property
    def profile(self) -> Path:
        return self.work / "py-spy-worker.txt"

    def start(self, redis_db: int) -> None:
        for n in range(self.count):
            with (self.work / f"worker-{n}.log").open("wb") as out:
                self.procs.append(subprocess.Popen([str(MAILFLOW), "worker"], env=self.env,
                                                   cwd=ROOT, stdout=out, stderr=out))  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while live_workers(redis_db) < self.count:
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                raise SystemExit(f"workers did not start:\n{self.logs()}")
            time.sleep(0.1)  # polling Redis for heartbeats: nothing to wait on instead
        if self.py_spy:
            self.spy = subprocess.Popen(
                [self.py_spy, "record", "--pid", str(self.procs[0].pid), "--nonblocking",
                 "--rate", "200", "--format", "raw", "--gil", "-o", str(self.profile)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip

    def logs(self) -> str:
        return "\n".join(p.read_text()[-2000:] for p in sorted(self.work.glob("worker-*.log")))

    def stop(self) -> list[float | None]:
        """SIGTERM every worker; return the seconds each took to exit (None: it was killed)."""
        took: list[float | None] = []
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        start = time.monotonic()
        for proc in self.procs:
            remaining = max(0.1, STOP_TIMEOUT_S - (time.monotonic() - start))
            try:
                _, status, usage = _wait4(proc, remaining)
                took.append(time.monotonic() - start)
            except TimeoutError:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                took.append(None)
            proc.returncode = os.waitstatus_to_exitcode(status)
            self.cpu_s += usage.ru_utime + usage.ru_stime
        if self.spy is not None:
            self.spy.wait(timeout=60)
        return took


def _wait4(proc: subprocess.Popen[bytes], timeout_s: float):
    """os.wait4 with a deadline (rusage is only available from wait4)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return pid, status, usage
        time.sleep(0.05)  # no blocking wait4 with a timeout exists
    raise TimeoutError


def dispatcher(broker_url: str):
    """Return mailflow's own dispatcher for the Redis broker, only for enqueuing."""
    from mailflow.jobs.broker import build_broker
    from mailflow.jobs.dispatch import Dispatcher

    def no_courier():
        raise RuntimeError("this process only enqueues")

    return Dispatcher(build_broker(broker_url), no_courier, serve=False)


def _proc_cpu_s(pid: int) -> float:
    """Return the user + system CPU seconds process ``pid`` used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_mailflow(sink, env: dict[str, str], args, work: Path, database_url: str):
    """Deliver every pending row through the workers; return the row, stray stats, profile."""
    workers = Workers(env, work, args.workers, args.py_spy if args.profile else None)
    ids = outbox_ids(database_url)
    workers.start(args.redis_db)
    sink.reset()
    startup_cpu = sum(_proc_cpu_s(p.pid) for p in workers.procs)
    enqueuer = dispatcher(env["MAILFLOW_BROKER_URL"])  # its imports are not the server's CPU
    server_cpu = _cpu_self()
    try:
        with enqueuer as d:
            start = time.monotonic()
            d.enqueue(ids)
            enqueued_s = time.monotonic() - start
            complete = sink.wait_for_count(len(ids), args.timeout)
        last = max((m.accepted_monotonic_s for m in sink.received), default=start)
        server_cpu = _cpu_self() - server_cpu
        postgres_cpu = backends_cpu_s(database_url)
    finally:
        exits = workers.stop()
    status = outbox_status(database_url)
    note = f"{len(sink.sessions)} SMTP sessions; rows: {status}"
    if args.server_sessions:
        note += (f"; server limit {args.server_sessions}: at most {sink.most_sessions} at once,"
                 f" {sink.busy_refusals} refused")  # fmt: skip
    if not complete:
        note += f"; only {len(sink.received)} of {len(ids)} arrived in {args.timeout:.0f} s!"
    threads = args.server_sessions or 4
    row = Row(f"mailflow: {args.workers} × `mailflow worker` ({threads} threads each), Redis,"
              " PostgreSQL",
              len(sink.received), last - start, note)  # fmt: skip
    row.extra = {"enqueue_s": enqueued_s, "sessions": len(sink.sessions),
                 "worker_cpu_s": workers.cpu_s - startup_cpu, "server_cpu_s": server_cpu,
                 "worker_startup_cpu_s": startup_cpu, "busy_refusals": sink.busy_refusals,
                 "most_sessions": sink.most_sessions,
                 "postgres_cpu_s": postgres_cpu}  # fmt: skip
    return row, exits, workers


def backends_cpu_s(database_url: str) -> float:
    """Return the CPU seconds the PostgreSQL backends serving the benchmark database used so
    far (the workers' connections, start-up included; read from /proc, same machine)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            pids = list(conn.scalars(text(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()")))  # fmt: skip
    finally:
        engine.dispose()
    total = 0.0
    for pid in pids:
        try:
            total += _proc_cpu_s(int(pid))
        except OSError:  # the backend ended meanwhile
            continue
    return total


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- raw aiosmtplib baselines


async def _raw_send(mails, host: str, port: int, cafile: str, reuse: bool) -> float:
    """Send ``mails`` (sender, recipients, bytes) over RAW_CONNECTIONS concurrent senders."""
    import ssl

    import aiosmtplib

    from tests.servers.smtp import PASSWORD, USER

    context = ssl.create_default_context(cafile=cafile)
    queue: asyncio.Queue = asyncio.Queue()
    for mail in mails:
        queue.put_nowait(mail)

    async def session() -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(hostname=host, port=port, start_tls=True, tls_context=context,
                                 timeout=30)  # fmt: skip
        await client.connect()
        await client.ehlo()
        await client.login(USER, PASSWORD)
        return client

    async def sender() -> None:
        client = await session() if reuse else None
        while not queue.empty():
            mail_from, rcpts, data = queue.get_nowait()
            one = client or await session()
            await one.sendmail(mail_from, list(rcpts), data)
            if client is None:
                await one.quit()
        if client is not None:
            await client.quit()

    start = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(RAW_CONNECTIONS)))
    return time.perf_counter() - start


def raw_child(path: str, host: str, port: str, cafile: str, mode: str) -> None:
    """The baseline, run in its own process; prints its wall time as JSON."""
    mails = pickle.loads(Path(path).read_bytes())
    before = _cpu_self()
    seconds = asyncio.run(_raw_send(mails, host, int(port), cafile, mode == "reuse"))
    print(json.dumps({"mails": len(mails), "seconds": seconds, "cpu_s": _cpu_self() - before}))


def measure_raw(sink, smtp, mails, work: Path, reuse: bool) -> Row:
    """Run one baseline in a child process and check the server got every mail."""
    path = work / "mails.pickle"
    if not path.exists():
        path.write_bytes(pickle.dumps(mails))
    mode = "reuse" if reuse else "fresh"
    sink.reset()
    cmd = [sys.executable, __file__, "--raw-child", str(path), smtp.host, str(smtp.port),
           str(smtp.cafile), mode]  # fmt: skip
    server_cpu = _cpu_self()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    server_cpu = _cpu_self() - server_cpu
    if done.returncode != 0:
        raise SystemExit(f"raw baseline failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    note = f"{len(sink.sessions)} SMTP sessions; server received {len(sink.received)}"
    what = ("raw aiosmtplib: 8 connections kept open" if reuse
            else "raw aiosmtplib: 8 concurrent, a new connection per mail")  # fmt: skip
    row = Row(what, result["mails"], result["seconds"], note)
    row.extra = {"client_cpu_s": result["cpu_s"], "server_cpu_s": server_cpu}
    return row


# ---------------------------------------------------------------- profile


def summarise_profile(path: Path, top: int = 25) -> list[str]:
    """Return the hottest functions of py-spy's raw output: inclusive, and by own samples."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.rsplit(":", 1)[0] + ")" for f in stack.split(";") if "(" in f]
        if not count.isdigit() or not frames:
            continue
        total += int(count)
        own[frames[-1]] += int(count)
        for name in set(frames):
            inclusive[name] += int(count)
    share = max(total, 1)
    lines = [f"{total} samples at 200 Hz of worker 1, of the thread holding the GIL; inclusive:"]
    lines += [f"{n / share:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    lines.append("own samples (the function itself was running):")
    lines += [f"{n / share:6.1%}  {name}" for name, n in own.most_common(top)]
    return lines


# ---------------------------------------------------------------- main


def mailflow_env(database_url: str, smtp, redis_db: int, sent=None) -> dict[str, str]:
    from tests.servers.smtp import PASSWORD

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    if sent is not None:  # the sweep reads the Sent folder of the source mailbox
        env |= {"MAILFLOW_SOURCE": sent.source_url(SENT_USER),
                "MAILFLOW_SOURCE_PASSWORD": SENT_PASSWORD}  # fmt: skip
    return env | {
        "MAILFLOW_DATABASE_URL": database_url,
        "MAILFLOW_BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}",
        "MAILFLOW_TRANSPORT": smtp.url(),
        "MAILFLOW_TRANSPORT_PASSWORD": PASSWORD,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


SENT_USER, SENT_PASSWORD = "coord@example.com", "sent-folder"


@contextlib.contextmanager
def sent_mailbox():
    """A Dovecot with the shared mailbox whose Sent folder the server keeps copies in."""
    from tests.servers.dovecot import running_dovecot

    with running_dovecot({SENT_USER: SENT_PASSWORD}) as server:
        with server.client(SENT_USER) as c:
            c.create_folder("Sent")
        yield server


def _sent_copy_sink():
    """Return a Sink class that files a copy of every mail it accepts in the Sent folder
    before it answers (imported late: ``tests`` is importable once ROOT is on the path)."""
    from tests.servers.smtp import Sink

    class Keeping(Sink):
        def __init__(self, server) -> None:
            super().__init__()
            self._imap = server.client(SENT_USER)
            self._imap_lock = threading.Lock()

        async def handle_DATA(self, server, session, envelope) -> str:
            with self._imap_lock:  # filed before the 250, as Exchange Online does
                self._imap.append("Sent", envelope.original_content or b"")
            return await super().handle_DATA(server, session, envelope)

    return Keeping


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=5000, help="pending outbox rows (default 5000)")
    p.add_argument("--workers", type=int, default=2, help="`mailflow worker` processes")
    p.add_argument("--redis-db", type=int, default=13, help="Redis database, flushed (13)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for delivery")
    p.add_argument("--skip-raw", action="store_true", help="no raw aiosmtplib baselines")
    p.add_argument("--profile", action="store_true", help="sample worker 1 with py-spy")
    p.add_argument("--py-spy", default=shutil.which("py-spy"), help="the py-spy binary")
    p.add_argument(
        "--kills",
        type=int,
        default=0,
        help="then kill -9 a delivering worker N times and count resends (0)",
    )
    p.add_argument(
        "--kill-window",
        type=float,
        default=1.0,
        help="each kill comes 0 to this many seconds after the worker's first mail",
    )
    p.add_argument("--seed", type=int, default=20261207, help="seed of the kill moments")
    p.add_argument(
        "--sent-copies",
        action="store_true",
        help="with --kills: the SMTP server keeps a copy of each mail it accepts in a Dovecot"
        " mailbox's Sent folder before it answers (as Microsoft 365 and Gmail do), and the"
        " sweep looks there before sending a cut-short delivery again",
    )
    p.add_argument(
        "--server-sessions",
        type=int,
        default=0,
        help="the SMTP server takes at most N sessions at once and refuses more as Exchange"
        " Online does (432 4.3.2), and MAILFLOW_TRANSPORT gets sessions=N, the mailbox's limit"
        " for all workers together; the raw baselines run without the limit (0: none)",
    )
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="measure at once, even while benchmarks/ingest.py runs",
    )
    p.add_argument("--raw-child", nargs=5, help=argparse.SUPPRESS)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.raw_child:
        raw_child(*args.raw_child)
        return
    if args.profile and not args.py_spy:
        raise SystemExit("--profile needs py-spy: pip install py-spy, or pass --py-spy PATH")
    from tests.servers.databases import fresh_postgres
    from tests.servers.smtp import Sink, running_smtp

    # aiosmtpd 1.4 logs a deprecation warning about its own Session.login_data on every AUTH
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    if not args.no_wait:
        wait_until_quiet()
    work = Path(tempfile.mkdtemp(prefix="mailflow-delivery-"))
    loads, profile = [load_average()], []
    try:
        with contextlib.ExitStack() as stack:
            sent = stack.enter_context(sent_mailbox()) if args.sent_copies else None
            sink = _sent_copy_sink()(sent) if sent is not None else Sink()
            sink.max_sessions = args.server_sessions or None
            smtp = stack.enter_context(running_smtp(sink=sink))
            pg_url = stack.enter_context(fresh_postgres())
            flush_redis(args.redis_db)
            env = mailflow_env(pg_url, smtp, args.redis_db, sent)
            if args.server_sessions:
                env["MAILFLOW_TRANSPORT"] += f"&sessions={args.server_sessions}"
            run_mailflow(["db", "upgrade"], env)
            no_broker = {k: v for k, v in env.items() if k != "MAILFLOW_BROKER_URL"}
            kinds = fill_outbox(pg_url, no_broker, args.rows)
            print(f"{sum(kinds.values())} pending outbox rows: {dict(kinds)}")
            row, exits, workers = measure_mailflow(smtp.sink, env, args, work, pg_url)
            print(f"{row.what}: {row.mails} mails in {row.seconds:.2f} s, {row.rate:.0f}/s")
            if args.server_sessions:
                print(f"server limit {args.server_sessions} sessions: at most"
                      f" {row.extra['most_sessions']} at once,"
                      f" {row.extra['busy_refusals']} refused")  # fmt: skip
            problems = delivery_problems(smtp.sink, pg_url, args.rows)
            row.extra |= record_gaps(smtp.sink, pg_url)
            print(gap_line(row))
            mails = [(m.mail_from, m.rcpt_tos, m.data) for m in smtp.sink.received]
            rows = [row]
            smtp.sink.max_sessions = None  # the raw baselines: 8 connections, as always
            for reuse in () if args.skip_raw else (True, False):
                rows.append(measure_raw(smtp.sink, smtp, mails, work, reuse))
                print(f"{rows[-1].what}: {rows[-1].rate:.0f}/s")
            smtp.sink.max_sessions = args.server_sessions or None  # and the kills: a refused
            # session would leave mail put off, which the kill run reports as not sent
            if workers.profile.exists():
                profile = summarise_profile(workers.profile)
            killed = run_kills(smtp.sink, env, args, work, pg_url) if args.kills else None
            if killed is not None and args.server_sessions:
                print(f"kill -9 run, server limit {args.server_sessions} sessions: at most"
                      f" {smtp.sink.most_sessions} at once, {smtp.sink.busy_refusals}"
                      " refused")  # fmt: skip
                if smtp.sink.busy_refusals:
                    problems.append(f"kill -9: {smtp.sink.busy_refusals} sessions refused")
            if killed is not None and not killed.ok:
                problems.append("kill -9: " + "; ".join(kill_lines(killed, args.kill_window)))
        loads.append(load_average())
        report(args, rows, mails, exits, profile, loads, killed)
        if problems:
            raise SystemExit("FAILED: " + "\n".join(problems))
    finally:
        flush_redis(args.redis_db)
        shutil.rmtree(work, ignore_errors=True)


def record_gaps(sink, database_url: str) -> dict[str, float]:
    """Return percentiles of the ms from the server's acceptance of a mail to the moment the
    worker began recording it (the row's ``sent_at``, taken just before its UPDATE): the part
    of the kill -9 resend window spent in the worker. The UPDATE, once written to PostgreSQL's
    socket, commits even if the worker dies then (PostgreSQL finishes a statement it received)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            sent = dict(conn.execute(text(
                "SELECT message_id, extract(epoch FROM sent_at) FROM outbox"
                " WHERE sent_at IS NOT NULL")).all())  # fmt: skip
    finally:
        engine.dispose()
    gaps = sorted(
        (float(sent[mid]) - mail.accepted_wall_s) * 1000
        for mid, mail in zip(message_ids(sink), list(sink.received), strict=True)
        if mid in sent
    )
    if not gaps:
        return {}
    at = lambda q: gaps[min(len(gaps) - 1, int(q * len(gaps)))]  # noqa: E731
    return {"record_gap_mean_ms": sum(gaps) / len(gaps), "record_gap_p50_ms": at(0.5),
            "record_gap_p90_ms": at(0.9), "record_gap_p99_ms": at(0.99),
            "record_gap_max_ms": gaps[-1]}  # fmt: skip


def gap_line(row: Row) -> str:
    x = row.extra
    if "record_gap_p50_ms" not in x:
        return "acceptance → record: no sent_at found"
    return (f"server's acceptance → the worker starts recording (sent_at): mean"
            f" {x['record_gap_mean_ms']:.2f} ms, p50"
            f" {x['record_gap_p50_ms']:.2f} ms, p90 {x['record_gap_p90_ms']:.2f} ms, p99"
            f" {x['record_gap_p99_ms']:.2f} ms, max {x['record_gap_max_ms']:.1f} ms")  # fmt: skip


def delivery_problems(sink, database_url: str, rows: int) -> list[str]:
    """Return what went wrong in the timed run: rows not sent, mails missing or doubled."""
    problems = []
    status = outbox_status(database_url)
    if status != {"sent": rows}:
        problems.append(f"rows not all sent: {status}")
    ids = message_ids(sink)
    if len(set(ids)) != rows:
        problems.append(f"the server received {len(set(ids))} distinct mails of {rows}")
    if len(ids) != len(set(ids)):
        problems.append(f"{len(ids) - len(set(ids))} mails arrived twice without any kill")
    return problems


def run_kills(sink, env: dict[str, str], args, work: Path, database_url: str) -> KillReport:
    """Kill a delivering worker ``args.kills`` times (see delivery_kills.py)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import sessionmaker

    from mailflow.service.sweep import settle_interrupted
    from mailflow.settings import load_settings
    from mailflow.sources.sent import open_sent_folder

    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    settings = load_settings(source=env.get("MAILFLOW_SOURCE", "maildir://none"),
                             source_password=env.get("MAILFLOW_SOURCE_PASSWORD"))  # fmt: skip
    settled: list[int] = []

    def sql(statement: str, params=None) -> list:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params or {})
            return list(result) if result.returns_rows else []

    def start_worker(n: int) -> subprocess.Popen[bytes]:
        with (work / f"kill-worker-{n}.log").open("wb") as out:
            proc = subprocess.Popen([str(MAILFLOW), "worker"], env=env, cwd=ROOT, stdout=out,
                                    stderr=out)  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while live_workers(args.redis_db) < 1:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit(f"worker {n} did not start:\n{Workers(env, work, 0).logs()}")
            time.sleep(0.05)  # polling Redis for heartbeats: nothing to wait on instead
        return proc

    def enqueue_pending() -> int:
        # nobody is alive: the claims expire (five minutes pass) and the sweep finds the rows
        if args.sent_copies:  # and looks for the cut-short ones in the Sent folder first
            _quiet(sink)  # the dead worker's last bytes are in, and filed
            sql("UPDATE outbox SET claimed_until = now() - interval '1 second'"
                " WHERE status = 'pending' AND claimed_until IS NOT NULL")  # fmt: skip
            settled.extend(settle_interrupted(sessions, lambda: open_sent_folder(settings)))
        else:
            sql("UPDATE outbox SET claimed_until = NULL WHERE status = 'pending'")
        flush_redis(args.redis_db)
        ids = [int(r[0]) for r in sql("SELECT id FROM outbox WHERE status = 'pending' ORDER BY id")]
        with dispatcher(env["MAILFLOW_BROKER_URL"]) as d:
            d.enqueue(ids)
        return len(ids)

    try:
        found = measure_kills(sink, start_worker, enqueue_pending, sql, args.kills,
                              args.kill_window, args.seed)  # fmt: skip
    finally:
        engine.dispose()
    if args.sent_copies:
        found.settled_from_sent = len(settled)
    for line in kill_lines(found, args.kill_window):
        print(line)
    return found


def _quiet(sink, still_s: float = 0.5, timeout_s: float = 30.0) -> None:
    """Wait until the server has received nothing for ``still_s``: the benchmark's stand-in
    for the five minutes a claim takes to run out."""
    deadline = time.monotonic() + timeout_s
    count = -1
    while len(sink.received) != count and time.monotonic() < deadline:
        count = len(sink.received)
        time.sleep(still_s)  # a benchmark playing the passing of time, not a test


def cpu_lines(mf: Row, raw: Row) -> str:
    """What the CPU alone allows on this machine's cores: ms of CPU per mail on each side."""
    n, m = max(mf.mails, 1), max(raw.mails, 1)
    worker = mf.extra["worker_cpu_s"] / n * 1000
    pg = mf.extra.get("postgres_cpu_s", 0.0) / n * 1000
    server = mf.extra["server_cpu_s"] / n * 1000
    client = raw.extra["client_cpu_s"] / m * 1000
    raw_server = raw.extra["server_cpu_s"] / m * 1000
    ms = 1000 * (os.cpu_count() or 1)
    ours, theirs = worker + pg + server, client + raw_server
    return (f"CPU per mail: mailflow {ours:.2f} ms (workers {worker:.2f}, PostgreSQL backends"
            f" {pg:.2f}, SMTP server {server:.2f}); raw {theirs:.2f} ms (client {client:.2f},"
            f" SMTP server {raw_server:.2f}). On {os.cpu_count()} cores the CPU alone allows"
            f" {ms / ours:.0f}/s and {ms / theirs:.0f}/s: a ratio of"
            f" {theirs / ours:.0%}")  # fmt: skip


def report(
    args, rows: list[Row], mails, exits, profile: list[str], loads, killed: KillReport | None
) -> None:
    from rich.console import Console
    from rich.table import Table

    size = sum(len(m[2]) for m in mails) / max(len(mails), 1)
    rcpts = sum(len(m[1]) for m in mails) / max(len(mails), 1)
    header = (f"mailflow delivery benchmark: {args.rows} outbox rows, {args.workers} workers;"
              f" mean mail {size / 1024:.1f} KiB, {rcpts:.1f} recipients\n{machine()}\n"
              f"load average before/after: {loads[0]} / {loads[1]}")  # fmt: skip
    table = Table(title=header, title_justify="left")
    for col, justify in (("measurement", "left"), ("mails", "right"), ("seconds", "right"),
                         ("mails/s", "right"), ("note", "left")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(r.what, str(r.mails), f"{r.seconds:.2f}", f"{r.rate:.0f}", r.note)
    Console(width=max(Console().width, 150)).print(table)
    mf = rows[0]
    cpu, server = mf.extra["worker_cpu_s"], mf.extra["server_cpu_s"]
    print(f"mailflow: enqueue of {args.rows} ids took {mf.extra['enqueue_s']:.2f} s; worker CPU"
          f" after start-up"
          f" {cpu:.1f} s ({cpu / max(mf.mails, 1) * 1000:.1f} ms per mail), SMTP server (this"
          f" process) CPU {server:.1f} s")  # fmt: skip
    for n, took in enumerate(exits, 1):
        state = f"exited after {took:.1f} s" if took is not None else "did NOT exit (killed)"
        print(f"worker {n}: SIGTERM → {state}")
    if len(rows) > 1 and rows[1].rate:
        print(f"mailflow reaches {mf.rate / rows[1].rate:.0%} of raw aiosmtplib with reuse")
        print(cpu_lines(mf, rows[1]))
    if killed is not None:
        print("\n".join(kill_lines(killed, args.kill_window)))
    if profile:
        print("\npy-spy profile of worker 1:\n" + "\n".join(profile))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"delivery-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({
        "machine": machine(), "rows": args.rows, "workers": args.workers, "load_average": loads,
        "results": [asdict(r) | {"rate": r.rate} for r in rows], "profile": profile,
        "worker_exit_s": exits, "kills": asdict(killed) if killed else None,
    }, ensure_ascii=False, indent=2))  # fmt: skip
    print(f"results: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
