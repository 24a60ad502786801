"""Ingest benchmark: raw IMAP fetch + stdlib parse vs ``mailflow poll --once`` (SQLite, PostgreSQL).

Run from the repository root (as root, or as a user that can run Dovecot)::

    .venv/bin/python benchmarks/ingest.py                 # 5,000 messages, all measurements
    .venv/bin/python benchmarks/ingest.py --messages 1000 --skip-mailflow
    .venv/bin/python benchmarks/ingest.py --large 5          # memory: 1 and 5 mails of 25 MiB

What it does:

1. Generates a realistic mailbox (``benchmarks/mailgen.py``: Chinese business mail in UTF-8 and
   GB18030 with RFC 2047 subjects, a fifth with an HTML alternative, a tenth with a ~200 KB
   attachment; deterministic for ``--seed``), streaming one message at a time to disk.
2. Starts a throwaway Dovecot (``tests/servers/dovecot.py``) with one user per measurement, so
   every run reads a pristine mailbox (mailflow flags what it has processed).
3. Measures, each in its own child process so that its peak RSS (``os.wait4`` rusage, per
   child) is its own:

   (a) raw baseline: imapclient ``UID FETCH BODY.PEEK[]`` in batches of 200 (with imaplib's
       debug formatting off, as mailflow has it; the same fetch with imapclient's level 5 is
       timed apart), then ``email.message_from_bytes(policy=email.policy.default)`` of the
       same bytes, alone and with the headers, body text and attachment names read (what any
       ingest must do at least);
   (b) ``mailflow poll --once`` into a fresh SQLite file;
   (c) ``mailflow poll --once`` into a fresh PostgreSQL database (created and dropped here).

   mailflow runs at half the messages (or ``--small``) and at all of them: a flat peak RSS
   shows that ingestion streams instead of holding the mailbox in memory. ``mailflow db
   upgrade`` runs first and is not timed; the ``poll --once`` time includes interpreter
   start-up and the IMAP login. The code is byte-compiled first, as an installation is.

**How the mailbox is filled.** Messages are delivered straight into the user's Maildir
(write into ``tmp/``, rename into ``new/``, with Dovecot's ``,S=<size>,W=<vsize>`` name suffix),
exactly as a local delivery agent would, then one ``SELECT`` + ``FETCH 1:* (RFC822.SIZE)`` lets
Dovecot index them before anything is timed. This is chosen over IMAP ``APPEND``: it costs no
protocol round trips (5,000 APPENDs of 150 MB would dominate the run), produces the same
mailbox a production server has after its LDA delivered the mail, and lets every user's
mailbox be hard links to one generated set of files, so the bytes are generated once. APPEND
would exercise Dovecot's save path, which is not what is being measured.

Results are printed as a table and written to ``benchmarks/results/ingest-<time>.json``
(git-ignored). ``--repeat R`` runs everything R times, interleaved, and keeps the fastest (the
machine may be shared). ``--profile`` also runs one ``poll --once`` under cProfile, apart from
the table, and prints the top functions. ``--statements`` also runs one ``poll --once`` per
database with every SQL statement and IMAP call timed (``benchmarks/statement_times.py``),
apart from the table, and prints milliseconds per batch from the first batches to the last.
``--cpu`` reads ``/proc`` during every mailflow run and prints, for each, the CPU seconds of the
poller, its parse workers and forkserver, the database server and Dovecot, and the share of the
cores left idle (``benchmarks/process_cpu.py``).
``docs/benchmarks.md`` has the numbers measured on the reference machine.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from mailgen import directory, generate  # noqa: E402
from process_cpu import Sampler, available  # noqa: E402

BATCH = 200
PASSWORD = "bench-secret"
# the console script's code, run by this interpreter with the checkout on PYTHONPATH, so a copy
# of the tree (git archive) is measured without its own virtualenv
MAILFLOW = [sys.executable, "-c", "import sys; from mailflow.cli import main; sys.exit(main())"]
PROFILED_MAILFLOW = [  # the first argument is the profile's output file
    sys.executable,
    "-c",
    "import cProfile, sys; from mailflow.cli import main; out = sys.argv.pop(1);"
    " cProfile.run('main()', out)",
]
RESULTS = ROOT / "benchmarks" / "results"


@dataclass
class Row:
    """One line of the result table."""

    what: str
    messages: int
    seconds: float
    peak_rss_mib: float | None = None
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)
    run: str = ""  # the mailbox (user) it was measured on

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------- mailbox preparation


def write_messages(folder: Path, n: int, seed: int, people: int) -> tuple[list[str], int]:
    """Write ``n`` generated messages as Maildir-named files; return their names and total bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    names, total = [], 0
    for i, raw in enumerate(generate(n, seed, directory(people))):
        vsize = len(raw) + raw.count(b"\n")  # RFC822.SIZE counts CRLF line ends
        name = f"{1696638600 + i * 97}.M{i}P{seed % 100000}.bench,S={len(raw)},W={vsize}"
        (folder / name).write_bytes(raw)
        names.append(name)
        total += len(raw)
    return names, total


def deliver(maildir: Path, template: Path, names: list[str]) -> None:
    """Deliver by hard link into ``maildir`` (tmp/ then rename into new/), owned like Dovecot's."""
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for name in names:
        os.link(template / name, maildir / "tmp" / name)
        os.rename(maildir / "tmp" / name, maildir / "new" / name)
    if os.geteuid() == 0:  # the config of tests/servers/dovecot.py maps mail to nobody
        for path in [maildir.parent, *maildir.parent.rglob("*")]:
            if path.is_dir():
                shutil.chown(path, "nobody", "nogroup")


def warm(server, user: str) -> float:
    """Let Dovecot index the delivered mail (SELECT + sizes); return the seconds it took."""
    start = time.perf_counter()
    with server.client(user) as c:
        c.select_folder("INBOX", readonly=True)
        uids = c.search(["ALL"])
        for first in range(0, len(uids), 1000):
            c.fetch(uids[first : first + 1000], ["RFC822.SIZE"])
    return time.perf_counter() - start


# ---------------------------------------------------------------- child processes


LAST_CPU_S: dict[str, float] = {}  # the CPU seconds of the last child run_child waited for


def run_child(cmd: list[str], env: dict[str, str], log: Path,
              sampler: Sampler | None = None) -> tuple[float, float, int]:  # fmt: skip
    """Run ``cmd``; return (wall seconds, its own peak RSS in MiB, exit code). Its CPU
    seconds (user + system, its reaped children included) go to ``LAST_CPU_S["cpu_s"]``: on a
    shared machine they vary much less than wall time. A ``sampler`` (``--cpu``) reads
    ``/proc`` while it runs, and once more after it exited, before it is reaped."""
    with log.open("wb") as out:
        if sampler is not None:
            sampler.start()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        if sampler is not None:
            sampler.wait(proc)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    LAST_CPU_S["cpu_s"] = usage.ru_utime + usage.ru_stime
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode  # ru_maxrss is in KiB on Linux


def raw_child(host: str, port: int, user: str, password: str) -> None:
    """The raw baseline, run in its own process; prints its timings as JSON."""
    from imapclient import IMAPClient, SocketTimeout

    fetch_s = parse_s = full_s = 0.0
    count = size = 0
    policy = email.policy.default
    with IMAPClient(host, port, ssl=False, timeout=SocketTimeout(10, 120)) as c:
        # imapclient sets imaplib's debug level to 5, and imaplib then formats each response
        # for a log line nobody sees; mailflow turns that off (sources.imap_session), and so
        # does the baseline it is compared with. The cost is timed apart, below.
        c._imap.debug = 0
        c.login(user, password)
        c.select_folder("INBOX", readonly=True)
        uids = sorted(c.search(["ALL"]))
        for start in range(0, len(uids), BATCH):
            t0 = time.perf_counter()
            response = c.fetch(uids[start : start + BATCH], ["BODY.PEEK[]"])
            t1 = time.perf_counter()
            raws = [response[u][b"BODY[]"] for u in uids[start : start + BATCH]]
            for raw in raws:
                email.message_from_bytes(raw, policy=policy)
            t2 = time.perf_counter()
            for raw in raws:
                _read_like_an_ingest(email.message_from_bytes(raw, policy=policy))
            t3 = time.perf_counter()
            fetch_s, parse_s, full_s = fetch_s + t1 - t0, parse_s + t2 - t1, full_s + t3 - t2
            count += len(raws)
            size += sum(len(r) for r in raws)
        c._imap.debug = 5  # as imapclient leaves it
        t0 = time.perf_counter()
        for start in range(0, len(uids), BATCH):
            c.fetch(uids[start : start + BATCH], ["BODY.PEEK[]"])
        formatting_s = time.perf_counter() - t0
    print(json.dumps({"n": count, "bytes": size, "fetch_s": fetch_s, "parse_s": parse_s,
                      "parse_full_s": full_s, "fetch_formatting_s": formatting_s}))  # fmt: skip


def _read_like_an_ingest(msg) -> None:
    for name in ("subject", "from", "to", "cc", "date", "message-id", "in-reply-to"):
        value = msg[name]
        if value is not None:
            str(value)
    body = msg.get_body(("plain", "html"))
    if body is not None:
        body.get_content()
    for part in msg.iter_attachments():
        part.get_filename()


# ---------------------------------------------------------------- measurements


def measure_raw(server, user: str, work: Path) -> list[Row]:
    cmd = [sys.executable, __file__, "--raw-child", server.host, str(server.port), user]
    env = {**os.environ, "BENCH_PASSWORD": PASSWORD}
    wall, rss, rc = run_child(cmd, env, work / "raw.log")
    output = (work / "raw.log").read_text()
    if rc != 0:
        raise SystemExit(f"raw baseline failed ({rc}):\n{output}")
    r = json.loads(output.strip().splitlines()[-1])
    n = r["n"]
    note = f"{r['bytes'] / 2**20:.0f} MiB"
    return [
        Row("raw: IMAP fetch BODY.PEEK[] (batches of 200)", n, r["fetch_s"], rss, note),
        Row(
            "raw: the same fetch, imaplib debug level 5 (imapclient's)",
            n,
            r["fetch_formatting_s"],
            None,
            "not in the baseline",
        ),
        Row("raw: stdlib message_from_bytes", n, r["parse_s"], None),
        Row("raw: stdlib parse + headers, body text, attachment names", n, r["parse_full_s"]),
        Row("raw: fetch + parse (sum)", n, r["fetch_s"] + r["parse_s"], rss),
        Row("raw: child wall time (incl. start-up)", n, wall, rss),
    ]


def measure_mailflow(server, user: str, database_url: str, n: int, label: str,
                     work: Path, profile: Path | None = None,
                     statements: Path | None = None, cpu: bool = False) -> Row:  # fmt: skip
    env = {
        **os.environ,
        "MAILFLOW_SOURCE": server.source_url(user),
        "MAILFLOW_SOURCE_PASSWORD": PASSWORD,
        "MAILFLOW_DATABASE_URL": database_url,
        "MAILFLOW_TRANSPORT": f"file://{work / 'outbox'}",
        # the checkout's code, whether or not the virtualenv's editable install is current
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    tag = f"{label}-{n}"
    _, _, rc = run_child([*MAILFLOW, "db", "upgrade"], env, work / f"{tag}-upgrade.log")
    if rc != 0:
        raise SystemExit(
            f"mailflow db upgrade failed:\n{(work / f'{tag}-upgrade.log').read_text()}"
        )
    if label.endswith(NO_SEARCH):
        drop_search(database_url)
    cmd = [*MAILFLOW, "poll", "--once"]
    if profile is not None:
        cmd = [*PROFILED_MAILFLOW, str(profile), "poll", "--once"]
    if statements is not None:
        cmd = [sys.executable, str(ROOT / "benchmarks" / "statement_times.py"), str(statements),
               "poll", "--once"]  # fmt: skip
    # the profiled and the timed runs are reported apart, and their CPU is not the pass's own
    sampler = Sampler() if cpu and profile is None and statements is None else None
    wall, rss, rc = run_child(cmd, env, work / f"{tag}-poll.log", sampler)
    if rc != 0:
        raise SystemExit(
            f"mailflow poll --once failed ({rc}):\n{(work / f'{tag}-poll.log').read_text()}"
        )
    cpu_s = LAST_CPU_S["cpu_s"]
    stored = count_rows(database_url)
    note = f"CPU {cpu_s:.1f} s" + ("" if stored == n else f"; stored {stored} of {n}!")
    extra = {"cpu_s": cpu_s}
    if sampler is not None:
        from sqlalchemy.engine import make_url

        database = make_url(database_url).database if "postgresql" in label else None
        by_process = sampler.result(database, server.process_title)
        extra |= {f"cpu {role}": s for role, s in by_process.seconds.items()}
        extra["idle"] = by_process.idle
    return Row(f"mailflow poll --once → {label}", n, wall, rss, note, extra)


NO_SEARCH = " without search index"


def drop_search(database_url: str) -> None:
    """Remove what revision 0011 adds for search (the revision number stays): what ingest
    costs without it, to compare."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("DROP INDEX ix_message_search_trgm"))
                return
            for name in ("insert", "update", "delete"):
                conn.execute(text(f"DROP TRIGGER message_search_{name}"))
    finally:
        engine.dispose()


def count_rows(database_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM messages")).scalar_one())
    finally:
        engine.dispose()


# ---------------------------------------------------------------- output


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    dovecot = subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout
    version = dovecot.split()[0] if dovecot else "?"
    head = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    python = platform.python_version()
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.platform()}, "
            f"Python {python}, Dovecot {version}, mailflow {head or '?'}")  # fmt: skip


def show(rows: list[Row], header: str) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text when rich is missing
        print(header)
        for r in rows:
            rss = f"{r.peak_rss_mib:.0f}" if r.peak_rss_mib else "-"
            print(f"{r.what:60} {r.messages:6d} {r.seconds:8.2f}s {r.rate:8.0f}/s", end="")
            print(f" {rss:>6} MiB  {r.note}")
        return
    table = Table(title=header, title_justify="left")
    table.add_column("measurement")
    for col in ("messages", "seconds", "msg/s", "peak RSS MiB"):
        table.add_column(col, justify="right")
    table.add_column("note")
    for r in rows:
        rss = f"{r.peak_rss_mib:.0f}" if r.peak_rss_mib else "-"
        table.add_row(r.what, str(r.messages), f"{r.seconds:.2f}", f"{r.rate:.0f}", rss, r.note)
    Console(width=max(Console().width, 150)).print(table)


def show_cpu(rows: list[Row]) -> None:
    """Print the CPU of each process of every mailflow run (``--cpu``), repetitions apart."""
    from process_cpu import INTERVAL_S, ROLES

    measured = [r for r in rows if "idle" in r.extra]
    print(f"\nCPU seconds by process, every run (/proc read every {INTERVAL_S * 1000:.0f} ms;"
          " a process's last moments before it ends may be missed):")  # fmt: skip
    print(f"{'run':40} {'wall':>7} " + " ".join(f"{role:>15}" for role in ROLES)
          + f" {'all, ms a mail':>15} {'idle':>6}")  # fmt: skip
    for r in measured:
        seconds = [r.extra[f"cpu {role}"] for role in ROLES]
        per_mail = f"{sum(seconds) * 1000 / r.messages:.2f}" if r.messages else "-"
        print(f"{r.run:40} {r.seconds:7.2f} " + " ".join(f"{v:15.2f}" for v in seconds)
              + f" {per_mail:>15} {r.extra['idle']:6.0%}")  # fmt: skip


def print_profile(path: Path, top: int = 25) -> None:
    import pstats

    print(f"\ncProfile of mailflow poll --once, top {top} by cumulative then internal time:")
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


# ---------------------------------------------------------------- main


@dataclass(frozen=True)
class Run:
    """One measurement on its own pristine mailbox."""

    kind: str  # raw | sqlite | postgresql | profile
    size: int
    rep: int

    @property
    def user(self) -> str:
        return f"{self.kind.replace(' ', '-')}-{self.size}-{self.rep}@example.test"


def plan(args: argparse.Namespace) -> list[Run]:
    """Return the runs, interleaved by repetition so that machine noise spreads evenly."""
    n, half = args.messages, args.small if args.small is not None else args.messages // 2
    kinds = [("raw", n)]
    if not args.skip_mailflow:
        # an empty mailbox first: start-up + login + nothing to do, to subtract from the others
        kinds += [("sqlite", 0), ("sqlite", half), ("sqlite", n)]
        if not args.skip_postgres:
            kinds += [("postgresql", half), ("postgresql", n)]
        if args.compare_search:
            kinds += [("sqlite" + NO_SEARCH, n)]
            kinds += [] if args.skip_postgres else [("postgresql" + NO_SEARCH, n)]
    runs = [Run(kind, size, rep) for rep in range(args.repeat) for kind, size in kinds]
    if args.profile and not args.skip_mailflow:
        runs.append(Run("profile", n, 0))  # cProfile slows it: reported apart, not in the table
    if args.statements and not args.skip_mailflow:  # timed statements: apart, like the profile
        runs.append(Run("statements sqlite", n, 0))
        if not args.skip_postgres:
            runs.append(Run("statements postgresql", n, 0))
    return runs


def prepare(server, runs: list[Run], n: int, seed: int, people: int) -> None:
    """Generate the messages once and deliver each run's share into its own mailbox."""
    t0 = time.perf_counter()
    template = server.base_dir / "mail" / "template"
    names, total = write_messages(template, n, seed, people)
    print(f"generated {n} messages, {total / 2**20:.0f} MiB, in {time.perf_counter() - t0:.1f} s")
    for run in runs:
        deliver(server.maildir_of(run.user), template, names[: run.size])
        if run.size:
            took = warm(server, run.user)
            print(f"delivered {run.size} to {run.user}; Dovecot indexed them in {took:.1f} s")


def statements_file(run: Run, stamp: str) -> Path:
    return RESULTS / f"statements-{run.kind.split()[-1]}-{run.size}-{stamp}.json"


def measure(server, run: Run, work: Path, prof: Path, stamp: str = "",
            cpu: bool = False) -> list[Row]:  # fmt: skip
    """Run one measurement; return its rows (``cpu``: with the CPU of each process)."""
    if run.kind == "raw":
        return measure_raw(server, run.user, work)
    timed = statements_file(run, stamp) if run.kind.startswith("statements") else None
    if run.kind.endswith("postgresql"):
        from tests.servers.databases import fresh_postgres  # a fresh database, dropped after

        with fresh_postgres() as pg_url:
            return [measure_mailflow(server, run.user, pg_url, run.size, run.kind, work,
                                     statements=timed, cpu=cpu)]  # fmt: skip
    url = f"sqlite:///{work / f'{run.user}.db'}"
    profile = prof if run.kind == "profile" else None
    label = run.kind if run.kind.startswith("sqlite") else "sqlite"
    return [measure_mailflow(server, run.user, url, run.size, label, work, profile, timed, cpu)]


def best_of(rows: list[Row], repeat: int) -> list[Row]:
    """Keep the fastest of the repetitions of each measurement; annotate the mailflow rows."""
    best: dict[tuple[str, int], Row] = {}
    for row in rows:
        key = (row.what, row.messages)
        if key not in best or row.seconds < best[key].seconds:
            best[key] = row
    # the raw rows are parts of one run: keep those of the run with the fastest fetch + parse
    raw = best.get(next(((w, m) for w, m in best if w.startswith("raw: fetch + parse")), ("", 0)))
    raw_rows = [r for r in rows if raw is not None and r.run == raw.run]
    out = raw_rows + [r for r in best.values() if not r.what.startswith("raw")]
    startup = next((r.seconds for r in out if r.messages == 0), None)
    for row in out:
        if not row.what.startswith("mailflow"):
            continue
        if row.messages == 0:
            row.what += " (empty mailbox: start-up)"
            continue
        notes = [row.note] if row.note else []
        if startup is not None:
            row.extra["rate_after_startup"] = row.messages / (row.seconds - startup)
            notes.append(f"{row.extra['rate_after_startup']:.0f}/s net of start-up")
        if raw is not None:
            row.extra["share_of_raw"] = row.rate / raw.rate
            notes.append(f"{row.extra['share_of_raw']:.0%} of raw")
        row.note = "; ".join(notes)
    if repeat > 1:
        for row in out:
            row.note = f"{row.note}; best of {repeat}".lstrip("; ")
    return out


def write_rules(work: Path, people: int) -> Path:
    """Copy the default rules into ``work`` with a directory of ``people`` people."""
    import yaml

    rules = work / "rules"
    shutil.copytree(ROOT / "rules", rules)
    org_file = rules / "organization.yaml"
    org = yaml.safe_load(org_file.read_text(encoding="utf-8"))
    org["people"] = [{"name": name, "email": f"{box}@example.com", "department": dept}
                     for name, box, dept in directory(people)]  # fmt: skip
    org_file.write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    return rules


def measure_parse(args: argparse.Namespace, work: Path) -> None:
    """Print the in-process parse rate with 16 people and with ``--people``, and the stdlib's.

    Times are this process's CPU time (``time.process_time``): parsing is single-threaded, and
    on a shared machine wall-clock rates move by a third between runs while CPU time holds.
    """
    from mailflow.mail.message import parse_message
    from mailflow.rulebook.organization import load_organization
    from mailflow.rulebook.parse_settings import parse_context
    from mailflow.settings import load_settings

    setups = []
    for people in sorted({16, args.people}):
        org = load_organization(write_rules(work / f"p{people}", people))
        ctx = parse_context(org, load_settings())
        t0 = time.process_time()
        ctx.name_index  # noqa: B018  built once per rulebook version, as the service does at load
        build = time.process_time() - t0
        setups.append(
            (people, ctx, list(generate(args.messages, args.seed, directory(people))), build)
        )
    best = {people: [float("inf"), float("inf")] for people, *_ in setups}
    for _ in range(args.repeat):  # interleaved, the best of each kept: the machine is shared
        for people, ctx, mails, _ in setups:
            t0 = time.process_time()
            for m in mails:
                parse_message(m, ctx)
            t1 = time.process_time()
            for m in mails:
                _read_like_an_ingest(email.message_from_bytes(m, policy=email.policy.default))
            t2 = time.process_time()
            best[people] = [min(best[people][0], t1 - t0), min(best[people][1], t2 - t1)]
    rows: list[Row] = []
    for people, ctx, mails, build in setups:
        items = sum(len(parse_message(m, ctx).action_items) for m in mails)
        note = (
            f"index of {len(ctx.name_index.emails)} built in {build * 1000:.0f} ms; {items} items"
        )
        rows.append(Row(f"parse_message, {people} people", len(mails), best[people][0], None, note))
        rows.append(Row(f"stdlib parse + read, same mail ({people} people)", len(mails),
                        best[people][1]))  # fmt: skip
    for row in rows[2:3]:
        row.note += f"; {row.rate / rows[0].rate:.0%} of the 16-person rate"
    title = f"in-process parse, {args.messages} messages, best of {args.repeat}, CPU seconds"
    show(rows, f"{title}\n{machine()}")


# ---------------------------------------------------------------- --large: memory per mail

LARGE_ATTACHMENT_SHARE = 18 / 25  # the mail: 25 MB, of which an 18 MB attachment
# A child's ru_maxrss counts the memory it had before exec, which is a copy of the parent's,
# and this parent has held big mails: each measured command is therefore started by a fresh,
# small interpreter that forks it and writes its os.wait4 ru_maxrss (KiB) to the file argv[1].
RSS_PROBE = (
    "import os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execv(sys.argv[2], sys.argv[2:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run_probed(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """Run ``cmd`` through ``RSS_PROBE``; return (wall seconds, its peak RSS in MiB, exit code)."""
    peak = log.with_suffix(".rss")
    wall, _, rc = run_child([sys.executable, "-c", RSS_PROBE, str(peak), *cmd], env, log)
    return wall, int(peak.read_text()) / 1024, rc


def large_mail(i: int, mib: float) -> bytes:
    """Return a mail of about ``mib`` MiB: a Chinese text body, a small spreadsheet-like
    attachment and one big binary attachment (``LARGE_ATTACHMENT_SHARE`` of it, base64)."""
    import base64
    import random
    from email.utils import formatdate

    rng = random.Random(i)
    big = rng.randbytes(int(mib * 2**20 * LARGE_ATTACHMENT_SHARE))
    small = rng.randbytes(min(200_000, len(big) // 10))
    subject = base64.b64encode(f"【进度汇报】技术部-第{i}周项目资料".encode()).decode()
    text = ("各位好：\n附件是本周的项目进度跟踪表和测试数据，请查收。\n"
            "责任人：李四；完成时限：10月15日；交付标准：提交测试报告\n").encode()  # fmt: skip

    def part(ctype: str, name: str, data: bytes) -> bytes:
        return (f'--LARGE\r\nContent-Type: {ctype}; name="{name}"\r\nContent-Disposition: '
                f'attachment; filename="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
                ).encode() + base64.encodebytes(data).replace(b"\n", b"\r\n")  # fmt: skip

    head = (f"From: 张三 <zhang.san@example.com>\r\nTo: coord@example.com\r\n"
            f"Subject: =?utf-8?b?{subject}?=\r\nDate: {formatdate(1696730000 + i * 60)}\r\n"
            f"Message-ID: <large-{i}@example.com>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="LARGE"\r\n\r\n--LARGE\r\n'
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            ).encode() + base64.encodebytes(text).replace(b"\n", b"\r\n")  # fmt: skip
    sheet = part("application/vnd.ms-excel", f"进度跟踪表_v1.{i}_20231008.xls", small)
    data = part("application/octet-stream", f"测试数据_v2.{i}_20231008.bin", big)
    return b"".join([head, sheet, data, b"--LARGE--\r\n"])


def write_large_maildir(folder: Path, n: int, mib: float) -> None:
    """Deliver ``n`` large mails into the Maildir ``folder``, in a child process: this one
    stays small (see ``RSS_PROBE``)."""
    if os.fork() == 0:  # pragma: no cover - the child
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            raw = large_mail(i, mib)
            (folder / "new" / f"{1696730000 + i}.M{i}P1.large,S={len(raw)}").write_bytes(raw)
        os._exit(0)
    _, status = os.wait()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("writing the large mails failed")


def large_raw_child(folder: str) -> None:
    """The raw baseline of --large, run in its own process: the stdlib parse of each mail,
    one at a time, reading what an ingest must (headers, body text, attachment names and
    sizes); prints its timings as JSON."""
    policy = email.policy.default
    count = size = 0
    t0 = time.perf_counter()
    for path in sorted((Path(folder) / "new").iterdir()):
        raw = path.read_bytes()
        msg = email.message_from_bytes(raw, policy=policy)
        _read_like_an_ingest(msg)
        size += sum(len(part.get_content()) for part in msg.iter_attachments())
        count += 1
        del raw, msg
    print(json.dumps({"n": count, "attachment_bytes": size, "seconds": time.perf_counter() - t0}))


def measure_large_mailflow(folder: Path, database_url: str, label: str, work: Path,
                           messages: int) -> Row:  # fmt: skip
    """``mailflow run --once`` over the Maildir ``folder`` into ``database_url``: its peak RSS."""
    env = {
        **os.environ,
        "MAILFLOW_SOURCE": f"maildir://{folder}",
        "MAILFLOW_DATABASE_URL": database_url,
        "MAILFLOW_TRANSPORT": f"file://{work / 'outbox'}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    tag = f"large-{label}-{messages}"
    _, _, rc = run_child([*MAILFLOW, "db", "upgrade"], env, work / f"{tag}-upgrade.log")
    if rc != 0:
        raise SystemExit(f"db upgrade failed:\n{(work / f'{tag}-upgrade.log').read_text()}")
    wall, rss, rc = run_probed([*MAILFLOW, "run", "--once"], env, work / f"{tag}-run.log")
    if rc != 0:
        raise SystemExit(f"run --once failed ({rc}):\n{(work / f'{tag}-run.log').read_text()}")
    stored = count_rows(database_url)
    note = "" if stored == messages else f"stored {stored} of {messages}!"
    return Row(f"mailflow run --once → {label}", messages, wall, rss, note)


def measure_large(args: argparse.Namespace) -> None:
    """Print the peak RSS of ``mailflow run --once`` on one and on ``--large`` big mails, per
    backend, next to the stdlib parse of the same bytes (the raw baseline) and an empty run."""
    work = Path(tempfile.mkdtemp(prefix="mailflow-large-"))
    loads = [load_average()]
    rows: list[Row] = []
    try:
        boxes = {}
        for n in sorted({0, 1, args.large}):
            boxes[n] = work / f"box{n}"
            write_large_maildir(boxes[n], n, args.large_mib)
            total = sum(p.stat().st_size for p in (boxes[n] / "new").iterdir())
            print(f"Maildir of {n} mails, {total / 2**20:.1f} MiB")
        for n in (0, args.large):  # no mail: the interpreter and the email package alone
            cmd = [sys.executable, __file__, "--large-raw-child", str(boxes[n])]
            wall, rss, rc = run_probed(cmd, dict(os.environ), work / "large-raw.log")
            output = (work / "large-raw.log").read_text()
            if rc != 0:
                raise SystemExit(f"raw baseline failed ({rc}):\n{output}")
            rows.append(Row("raw: stdlib parse + read, one mail at a time", n, wall, rss,
                            "email.policy.default, attachment contents decoded"))  # fmt: skip
        backends = ["sqlite"] + ([] if args.skip_postgres else ["postgresql"])
        for backend in backends:
            for n in sorted(boxes):
                with _large_database(backend, work, n) as url:
                    rows.append(measure_large_mailflow(boxes[n], url, backend, work, n))
    finally:
        loads.append(load_average())
        shutil.rmtree(work, ignore_errors=True)
    raw = rows[1].peak_rss_mib or 1.0
    for row in rows:
        empty = next(r for r in rows if r.what == row.what and r.messages == 0)
        if row is empty or row.peak_rss_mib is None or empty.peak_rss_mib is None:
            continue
        notes = [row.note, f"+{row.peak_rss_mib - empty.peak_rss_mib:.0f} MiB over no mail"]
        if not row.what.startswith("raw"):
            notes.append(f"{row.peak_rss_mib / raw:.2f}× the raw peak")
        row.note = "; ".join(filter(None, notes))
    header = (f"mailflow memory per mail: --large {args.large} mails of {args.large_mib:g} MiB "
              f"(run --once, Maildir; peak RSS = ru_maxrss of the child via os.wait4)\n"
              f"{machine()}\nload average before/after: {loads[0]} / {loads[1]}")  # fmt: skip
    show(rows, header)


@contextlib.contextmanager
def _large_database(backend: str, work: Path, n: int) -> Iterator[str]:
    if backend == "postgresql":
        from tests.servers.databases import fresh_postgres  # a fresh database, dropped after

        with fresh_postgres() as url:
            yield url
    else:
        yield f"sqlite:///{work / f'large-{n}.db'}"


def compile_checkout() -> None:
    """Byte-compile the measured code first, as installing a package does: with
    PYTHONDONTWRITEBYTECODE set and no ``__pycache__`` in the checkout, every ``mailflow``
    child would compile all of it again at start (about 0.5 s of CPU)."""
    import compileall

    for folder in ("mailflow", "migrations"):
        compileall.compile_dir(ROOT / folder, quiet=1)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=5000, help="mailbox size (default 5000)")
    p.add_argument(
        "--small",
        type=int,
        metavar="N",
        help="the smaller mailbox mailflow also runs on, to compare peak RSS (default: half)",
    )
    p.add_argument("--seed", type=int, default=20231008)
    p.add_argument("--repeat", type=int, default=1, help="repetitions; the best is reported")
    p.add_argument("--skip-mailflow", action="store_true", help="only the raw baseline")
    p.add_argument("--skip-postgres", action="store_true", help="no PostgreSQL run")
    p.add_argument(
        "--compare-search",
        action="store_true",
        help="also ingest with the search index and triggers dropped (its cost)",
    )
    p.add_argument("--profile", action="store_true", help="also profile one SQLite poll --once")
    p.add_argument(
        "--statements",
        action="store_true",
        help="also time every SQL statement and IMAP call of one poll --once per database, by"
        " batch, to see which grow with what is stored (benchmarks/statement_times.py)",
    )
    p.add_argument(
        "--cpu",
        action="store_true",
        help="also read from /proc, in every mailflow run, the CPU of each process (the poller,"
        " its parse workers, the database server, Dovecot) and the share of idle cores",
    )
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument(
        "--people",
        type=int,
        default=16,
        help="directory size: the rules get this many people (default 16)",
    )
    p.add_argument(
        "--parse-only",
        action="store_true",
        help="only the in-process parse rate at 16 people and at --people",
    )
    p.add_argument(
        "--large",
        type=int,
        metavar="N",
        help="memory per mail instead: peak RSS of run --once on 1 and N big mails (Maildir)",
    )
    p.add_argument(
        "--large-mib",
        type=float,
        default=25.0,
        help="size of each --large mail in MiB, 18/25 of it one attachment (default 25)",
    )
    p.add_argument("--raw-child", nargs=3, metavar=("HOST", "PORT", "USER"), help=argparse.SUPPRESS)
    p.add_argument("--large-raw-child", metavar="MAILDIR", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.cpu and not available():
        p.error("--cpu reads each process's CPU from /proc, which this system does not have")
    if args.large_raw_child:
        large_raw_child(args.large_raw_child)
        return
    if args.large:
        measure_large(args)
        return
    if args.raw_child:
        host, port, user = args.raw_child
        raw_child(host, int(port), user, os.environ["BENCH_PASSWORD"])
        return

    if args.parse_only:
        work = Path(tempfile.mkdtemp(prefix="mailflow-bench-"))
        try:
            measure_parse(args, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return

    from tests.servers.dovecot import running_dovecot

    compile_checkout()
    runs = plan(args)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    prof = RESULTS / f"poll-{stamp}.prof"
    work = Path(tempfile.mkdtemp(prefix="mailflow-bench-"))
    os.chmod(work, 0o755)
    rows: list[Row] = []
    loads = [load_average()]
    if args.people != 16:  # every mailflow child reads the larger directory
        os.environ["MAILFLOW_RULES_DIR"] = str(write_rules(work, args.people))
    try:
        with running_dovecot({run.user: PASSWORD for run in runs}) as server:
            prepare(server, runs, args.messages, args.seed, args.people)
            for run in runs:
                for row in measure(server, run, work, prof, stamp, args.cpu):
                    row.run = run.user
                    print(f"{run.user}: {row.what}: {row.seconds:.2f} s, {row.rate:.0f} msg/s")
                    if run.kind != "profile" and not run.kind.startswith("statements"):
                        rows.append(row)
    finally:
        loads.append(load_average())
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    every_run = list(rows)
    rows = best_of(rows, args.repeat)
    header = (f"mailflow ingest benchmark: {args.messages} messages, seed {args.seed}\n"
              f"{machine()}\nload average before/after: {loads[0]} / {loads[1]}")  # fmt: skip
    show(rows, header)
    out = RESULTS / f"ingest-{stamp}.json"
    out.write_text(json.dumps({"machine": machine(), "messages": args.messages, "seed": args.seed,
                               "repeat": args.repeat, "load_average": loads,
                               "rows": [asdict(r) | {"rate": r.rate} for r in rows]},
                              ensure_ascii=False, indent=2))  # fmt: skip
    print(f"results: {out.relative_to(ROOT)}")
    if args.cpu:
        show_cpu(every_run)
    if args.profile and prof.exists():
        print_profile(prof)
    for run in runs:
        if run.kind.startswith("statements") and statements_file(run, stamp).exists():
            from statement_times import show as show_statements

            show_statements(statements_file(run, stamp))


if __name__ == "__main__":
    main()
