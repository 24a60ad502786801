"""The ``mailflow`` command line. Each command calls one service or store function.

Exit codes (contract): 0 success; 1 user error with a one-line reason on stderr; 2 usage.
``--json`` prints exactly one JSON document on stdout; people get tables and progress.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from mailflow.cli.repair import ByOption, NoteOption
from mailflow.errors import ConfigurationError, MailflowError, RuleFileError
from mailflow.mail.header import normalise_id
from mailflow.mail.model import ParseContext
from mailflow.settings import Settings, load_settings

if TYPE_CHECKING:
    from mailflow.rulebook.loader import Rulebook
    from mailflow.service.runtime import Reader, Runtime
    from mailflow.sources.base import MailSource

app = typer.Typer(
    help="mailflow: the shared mailbox that follows the communication standard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
messages_app = typer.Typer(help="Stored messages.", no_args_is_help=True)
items_app = typer.Typer(help="Action items (责任人 + 完成时限 + 交付标准).", no_args_is_help=True)
rules_app = typer.Typer(help="Rule files and templates.", no_args_is_help=True)
outbox_app = typer.Typer(help="Outgoing mail.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(messages_app, name="messages")
app.add_typer(items_app, name="items")
app.add_typer(rules_app, name="rules")
app.add_typer(outbox_app, name="outbox")

out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
OnceFlag = Annotated[bool, typer.Option("--once", help="Process what is there now, then exit.")]


def fail(message: str) -> NoReturn:
    """Print a one-line reason on stderr and exit 1 (a user error)."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as e:
        fail(str(e))


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    from mailflow.cli.logs import configure_logging

    try:
        settings: Settings | None = load_settings()
    except ConfigurationError:
        settings = None  # the command itself names the bad setting
    configure_logging(
        logging.INFO if verbose else logging.WARNING,
        settings.log_format if settings else "text",
        _log_timezone(settings),
        sys.stderr,
    )


def _log_timezone(settings: Settings | None) -> tzinfo:
    """The organisation's timezone for log times: MAILFLOW_TIMEZONE, else the rules', else UTC."""
    from zoneinfo import ZoneInfo

    from mailflow.rulebook.organization import load_organization

    try:
        if settings is None:
            return UTC
        return ZoneInfo(
            settings.timezone or load_organization(settings.rules_dir).organization.timezone
        )
    except (MailflowError, OSError, ValueError):
        return UTC


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (safe to run again)."""
    from mailflow.store import migrate

    settings = _settings()
    try:
        migrate.upgrade(settings.database_url)
    except MailflowError as e:
        fail(str(e))
    except Exception as e:  # the database refused: name it, without the URL's password
        fail(f"cannot migrate the database: {type(e).__name__}: {_first_line(e)}")
    err.print(f"database is at revision {migrate.head_revision()}")


@app.command("parse")
def parse(
    file: Annotated[Path, typer.Argument(help="A message file (.eml).", show_default=False)],
    as_json: JsonFlag = False,
) -> None:
    """Parse one message and print what mailflow understands. No database needed."""
    from mailflow.mail.message import parse_message
    from mailflow.mail.model import to_contract

    try:
        raw = file.read_bytes()
    except OSError as e:
        fail(f"cannot read {file}: {e.strerror}")
    try:
        doc = to_contract(parse_message(raw, _parse_context(_settings())))
    except MailflowError as e:
        fail(f"{file}: {e}")
    if as_json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    from mailflow.cli.views import print_parsed

    print_parsed(out, doc)


def _parse_context(settings: Settings) -> ParseContext:
    from mailflow.rulebook.organization import ORGANIZATION_FILE, load_organization
    from mailflow.rulebook.parse_settings import parse_context

    if not (settings.rules_dir / ORGANIZATION_FILE).is_file():
        err.print(
            f"note: no {settings.rules_dir / ORGANIZATION_FILE}; departments are not known",
            highlight=False,
        )
        return ParseContext(limits=settings.limits)
    try:
        return parse_context(load_organization(settings.rules_dir), settings)
    except RuleFileError as e:
        fail(f"rules are invalid, see `mailflow rules check`:\n{e}")
    except ConfigurationError as e:
        fail(str(e))


@rules_app.command("check")
def rules_check() -> None:
    """Validate rules and templates; print file:line: message for every problem, exit 1 if any."""
    from mailflow.service.runtime import load_rules

    settings = _settings()
    try:
        rulebook, templates = load_rules(settings)
    except RuleFileError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        err.print(f"[bold red]{len(e.problems)} problem(s)[/]; nothing was changed")
        raise typer.Exit(1) from None
    err.print(
        f"rules in {settings.rules_dir} ({len(rulebook.rules)} rules) and templates in"
        f" {settings.templates_dir} ({len(templates.names())} templates) are valid",
        highlight=False,
    )
    _warn_calendar_gaps(settings, rulebook)


def _warn_calendar_gaps(settings: Settings, rulebook: Rulebook) -> None:
    """Warn when this year or the next has no PRC holiday data (weekends only, silently)."""
    from mailflow.mail.calendar import BusinessCalendar
    from mailflow.rulebook.organization import ORGANIZATION_FILE
    from mailflow.rulebook.parse_settings import parse_context
    from mailflow.rulebook.statutory import calendar_warnings

    try:
        ctx = parse_context(rulebook.organization, settings)
    except ConfigurationError as e:
        fail(str(e))
    today = datetime.now(ctx.timezone).date()
    calendar = BusinessCalendar.from_context(ctx)
    for warning in calendar_warnings(settings.rules_dir / ORGANIZATION_FILE, calendar, today):
        print(warning, file=sys.stderr)


@rules_app.command("test")
def rules_test(
    file: Annotated[Path, typer.Argument(help="A message file (.eml).", show_default=False)],
    now: Annotated[
        datetime | None,
        typer.Option(
            help="Decide as of this instant (ISO 8601), as `run --once --now` would.",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Dry run: which rules match FILE, which mails would be sent, and the ledgers, items and
    clocks (reminders, chases, escalations) it would start. Nothing stored or sent: the mail
    goes through ingestion's own code into a scratch database that is thrown away."""
    from mailflow.cli import outbox_view
    from mailflow.rulebook.parse_settings import parse_context
    from mailflow.service.dryrun import dry_run
    from mailflow.service.runtime import load_rules

    settings = _settings()
    try:
        raw = file.read_bytes()
    except OSError as e:
        fail(f"cannot read {file}: {e.strerror}")
    try:
        rulebook, templates = load_rules(settings)
        ctx = parse_context(rulebook.organization, settings)
        moment = _aware(now, ctx.timezone) if now else None
        result = dry_run(raw, rulebook, templates, ctx, moment)
    except RuleFileError as e:
        fail(f"rules are invalid, see `mailflow rules check`:\n{e}")
    except MailflowError as e:
        fail(f"{file}: {e}")
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        outbox_view.print_dry_run(out, result)


@app.command("poll")
def poll(once: OnceFlag = False) -> None:
    """Read the mailbox, store new mail and decide about it (IDLE where the server has it).

    Deliveries go to the broker; without MAILFLOW_BROKER_URL they wait for `mailflow run` or
    `mailflow scheduler`.
    """
    from mailflow.cli import views
    from mailflow.jobs.broker import build_broker
    from mailflow.jobs.dispatch import Dispatcher
    from mailflow.jobs.runner import run_forever
    from mailflow.service.poll import poll_once

    stop = None if once else _serve()
    with _runtime(last_good=True, wait=stop) as runtime, _guard():
        source = _source(runtime)
        if stop is not None:
            with _metrics(runtime, "poll"):
                run_forever(runtime, source, stop, serve=False)
            return
        with views.IngestProgress(err, source.name) as progress:
            report = poll_once(
                source,
                runtime.sessions,
                runtime.context,
                progress.update,
                runtime.rulebook,
                parse_workers=runtime.settings.parse_workers,
            )
        if runtime.settings.broker_url:
            with Dispatcher(build_broker(runtime.settings.broker_url), runtime.courier) as d:
                d.enqueue(report.outbox_ids)
        views.print_report(err, report)


@app.command("run")
def run(once: OnceFlag = False) -> None:
    """Poller, workers and scheduler in one process (the embedded default)."""
    from mailflow.cli import outbox_view, views
    from mailflow.jobs.runner import run_forever, run_once

    stop = None if once else _serve()
    with _runtime(last_good=True, wait=stop) as runtime, _guard():
        source = _source(runtime)
        if stop is not None:
            err.print(f"mailflow runs on {source.name}; Ctrl-C stops")
            with _metrics(runtime, "run"):
                run_forever(runtime, source, stop)
            return
        with views.IngestProgress(err, source.name) as progress:
            result = run_once(runtime, source, progress.update)
        views.print_report(err, result.ingest)
        views.print_messages(out, runtime.sessions, runtime.context.timezone, limit=50)
        outbox_view.print_outbox(out, runtime.sessions, runtime.context.timezone, limit=50)
        outbox_view.print_outbox_summary(err, result.outbox, runtime.settings.transport)


@app.command("worker")
def worker() -> None:
    """Deliver outgoing mail from the shared broker (MAILFLOW_BROKER_URL) until stopped."""
    from mailflow.jobs.runner import serve_forever

    if not _settings().broker_url:
        fail(
            "MAILFLOW_BROKER_URL is not set: with the in-process broker `mailflow run`"
            " delivers mail itself; set redis://… or amqp://… to run separate workers"
        )
    stop = _serve()
    with _runtime(last_good=True, wait=stop) as runtime, _guard():
        err.print("worker started; Ctrl-C stops")
        with _metrics(runtime, "worker"):
            serve_forever(runtime, stop)


@app.command("scheduler")
def scheduler(
    once: OnceFlag = False,
    now: Annotated[
        datetime | None,
        typer.Option(
            help="Evaluate as of this instant (ISO 8601), e.g. to preview.",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --once: list what is due; write nothing.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """The clocks (reminders, chases, escalations, the weekly record) and the outbox sweep."""
    from mailflow.cli import outbox_view
    from mailflow.jobs.runner import run_forever, sweep_once, tick

    if dry_run and not once:
        fail("--dry-run goes with --once")
    stop = None if once else _serve()
    with _runtime(last_good=not dry_run, wait=stop) as runtime, _guard():
        moment = _aware(now, runtime.context.timezone) if now else None
        if dry_run:
            due = tick(runtime, moment, dry_run=True)
            if as_json:
                tz = runtime.context.timezone
                print(json.dumps([outbox_view.clock_row(m, tz) for m in due], ensure_ascii=False))
            else:
                outbox_view.print_clock_mails(out, due, runtime.context.timezone)
            return
        if once:
            ids = sweep_once(runtime, moment)
            err.print(f"{len(ids)} outbox row(s) were due and enqueued")
            return
        assert stop is not None
        with _metrics(runtime, "scheduler"):
            run_forever(runtime, None, stop)


@outbox_app.command("list")
def outbox_list(
    status: Annotated[
        str | None,
        typer.Option(
            help="Only pending, sent, failed (also: refused for some recipients) or cancelled."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many, newest first.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List outgoing mail, newest first."""
    from mailflow.cli import outbox_view
    from mailflow.store.models import OUTBOX_STATUSES

    if status is not None and status not in OUTBOX_STATUSES:
        fail(f"--status must be one of {', '.join(OUTBOX_STATUSES)}, not {status!r}")
    with _reader() as runtime:
        if as_json:
            rows = outbox_view.outbox_rows(
                runtime.sessions, status=status, limit=limit, tz=runtime.timezone
            )
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            outbox_view.print_outbox(
                out, runtime.sessions, runtime.timezone, status=status, limit=limit
            )


@app.command("status")
def status(as_json: JsonFlag = False) -> None:
    """Health: database and broker reachable, the active poller, the backlog, the outbox and
    the rules in force. Exits 1 when unhealthy (for health checks). Needs no valid rules."""
    from mailflow.cli.status_view import print_status
    from mailflow.jobs.broker import broker_kind, probe_broker
    from mailflow.service.health import check
    from mailflow.service.runtime import display_timezone
    from mailflow.store.db import make_engine, make_session_factory

    settings = _settings()
    try:
        engine = make_engine(settings.database_url)
    except MailflowError as e:
        fail(str(e))
    try:
        sessions = make_session_factory(engine)
        found = check(
            engine,
            sessions,
            lambda: probe_broker(settings.broker_url),
            broker_kind(settings.broker_url),
        )
        tz = display_timezone(settings, sessions) if found.database["reachable"] else UTC
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps(found.as_json(tz), ensure_ascii=False, indent=2))
    else:
        print_status(out, found, tz)
    if not found.healthy:
        for problem in found.problems:
            err.print(f"[bold red]unhealthy:[/] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _source(runtime: Runtime) -> MailSource:
    from mailflow.service.runtime import open_source

    try:
        return open_source(runtime.settings)
    except MailflowError as e:
        fail(str(e))


@contextmanager
def _guard() -> Iterator[None]:
    """Turn mailflow's own errors into one-line reasons and exit 1."""
    try:
        yield
    except RuleFileError as e:
        fail(f"rules are invalid, see `mailflow rules check`:\n{e}")
    except MailflowError as e:
        fail(str(e))


def _serve() -> threading.Event:
    """Set up a long-running command: its progress is logged (INFO) and SIGINT/SIGTERM stop it;
    return the event they set."""
    from mailflow.cli.logs import at_least

    at_least(logging.INFO)
    return _stop_on_signals()


@contextmanager
def _metrics(runtime: Runtime, command: str) -> Iterator[None]:
    """Serve Prometheus metrics while ``command`` runs, when MAILFLOW_METRICS_PORT is set."""
    from mailflow.jobs.metrics import serving_metrics

    with serving_metrics(runtime, command):
        yield


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _aware(moment: datetime, tz: tzinfo) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


@messages_app.command("list")
def messages_list(
    status: Annotated[
        str | None, typer.Option(help="Only this status: stored or quarantined.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many, newest first.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List stored messages, newest first."""
    from mailflow.cli import views as presentation
    from mailflow.store.models import MESSAGE_STATUSES

    if status is not None and status not in MESSAGE_STATUSES:
        fail(f"--status must be one of {', '.join(MESSAGE_STATUSES)}, not {status!r}")
    with _reader() as runtime:
        if as_json:
            rows = presentation.message_rows(
                runtime.sessions, status=status, limit=limit, tz=runtime.timezone
            )
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            presentation.print_messages(
                out, runtime.sessions, runtime.timezone, status=status, limit=limit
            )


@items_app.command("list")
def items_list(
    status: Annotated[
        str | None, typer.Option(help="Only open, done or overdue (open and past the deadline).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List action items, soonest deadline first."""
    from mailflow.cli import views
    from mailflow.service.queries import ITEM_FILTERS, list_items

    if status is not None and status not in ITEM_FILTERS:
        fail(f"--status must be one of {', '.join(ITEM_FILTERS)}, not {status!r}")
    with _reader() as runtime:
        rows = list_items(runtime.sessions, status, tz=runtime.timezone)
        if as_json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            views.print_items(out, rows)


@app.command("thread")
def thread(
    words: Annotated[
        list[str],
        typer.Argument(
            help="MESSAGE_ID to show the thread, or `close MESSAGE_ID` to close it.",
            metavar="[close] MESSAGE_ID",
        ),
    ],
    as_json: JsonFlag = False,
    by: ByOption = None,
    note: NoteOption = None,
) -> None:
    """Show a thread (messages, items, who has confirmed, what administrators did), or close
    it: `thread close ID --by NAME --note WHY` stops every reminder about it."""
    from mailflow.cli import views
    from mailflow.cli.repair import who
    from mailflow.service.queries import thread_view
    from mailflow.service.repair import close_thread

    if len(words) == 2 and words[0] == "close":
        wanted = _message_id(words[1])
        with _reader() as runtime:
            count = close_thread(runtime.sessions, normalise_id(wanted), who(by, note))
        if count is None:
            fail(f"no stored message has the Message-ID {wanted}")
        err.print(f"thread of {wanted} ({count} messages) closed: no more reminders for it")
        return
    if len(words) != 1:
        raise typer.BadParameter("give one MESSAGE_ID, or `close MESSAGE_ID`")
    wanted = _message_id(words[0])
    with _reader() as runtime:
        view = thread_view(runtime.sessions, normalise_id(wanted), tz=runtime.timezone)
        if view is None:
            fail(f"no stored message has the Message-ID {wanted}")
        if as_json:
            print(json.dumps(view, ensure_ascii=False, indent=2))
        else:
            views.print_thread(out, view, runtime.timezone)


def _register_report() -> None:
    from mailflow.cli.report import report

    app.command("report")(report)


_register_report()


def _register_directory() -> None:
    from mailflow.cli.directory import directory_app

    app.add_typer(directory_app, name="directory")


_register_directory()


def _register_web() -> None:
    from mailflow.cli.web import web_app

    app.add_typer(web_app, name="web")


_register_web()


def _register_repairs() -> None:
    from mailflow.cli.repair import register

    register(db_app, outbox_app)


_register_repairs()


def _message_id(text: str) -> str:
    return text if text.startswith("<") else f"<{text}>"


@items_app.command("close")
def items_close(
    item_id: Annotated[int, typer.Argument(help="The id `items list` shows.")],
    by: ByOption = None,
    note: NoteOption = None,
) -> None:
    """Mark an action item done (no more reminders about it), recording who and why."""
    from mailflow.cli.repair import who
    from mailflow.service.repair import close_item

    with _reader() as runtime:
        task = close_item(runtime.sessions, item_id, who(by, note))
    if task is None:
        fail(f"no action item has the id {item_id}; see `mailflow items list`")
    err.print(f"item {item_id} ({task}) is done")


@contextmanager
def _runtime(*, last_good: bool = False, wait: threading.Event | None = None) -> Iterator[Runtime]:
    """The rules, templates and database; ``last_good`` (long-running commands) starts on the
    last good rules kept in the database when the files are broken. With ``wait`` a database
    that cannot be reached is waited for (and said so) until it answers or ``wait`` is set."""
    from mailflow.service.runtime import build_runtime

    settings = _settings()
    try:
        if wait is None:
            runtime = build_runtime(settings, last_good=last_good)
        else:
            found = _wait_for_database(lambda: build_runtime(settings, last_good=last_good), wait)
            if found is None:
                raise typer.Exit(0)  # stopped before the database came back
            runtime = found
    except RuleFileError as e:
        fail(f"rules are invalid, see `mailflow rules check`:\n{e}")
    except MailflowError as e:
        fail(str(e))
    try:
        yield runtime
    finally:
        runtime.close()


@contextmanager
def _reader() -> Iterator[Reader]:
    """The database and the timezone to show times in, for commands that need no valid rules."""
    from mailflow.service.runtime import build_reader

    try:
        reader = build_reader(_settings())
    except MailflowError as e:
        fail(str(e))
    try:
        yield reader
    finally:
        reader.close()


def _wait_for_database(build: Callable[[], Runtime], stop: threading.Event) -> Runtime | None:
    from mailflow.service.outage import Outage, wait_until_reachable
    from mailflow.store.db import database_outage

    outages = {"database": Outage("start-up", "database", logging.getLogger("mailflow.cli"))}
    return wait_until_reachable(build, database_outage, outages, stop)


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else ""


def main() -> Any:
    """Console-script entry point. A database that fails in the middle of a command (it went
    away, a role lost its rights) ends it with the one-line reason and exit 1, not a traceback."""
    try:
        return app()
    except Exception as e:
        from mailflow.store.connection_errors import unusable_database

        unusable = unusable_database(e, _database_url())
        if unusable is None:
            raise
        err.print(f"[bold red]error:[/] {unusable}", highlight=False, soft_wrap=True)
        sys.exit(1)


def _database_url() -> str:
    try:
        return load_settings().database_url
    except ConfigurationError:
        return ""
