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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler

from mailflow.errors import ConfigurationError, MailflowError, RuleFileError
from mailflow.mail.header import normalise_id
from mailflow.mail.model import ParseContext
from mailflow.settings import Settings, load_settings

if TYPE_CHECKING:
    from mailflow.service.runtime import Runtime

app = typer.Typer(
    help="mailflow: the shared mailbox that follows the communication standard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
messages_app = typer.Typer(help="Stored messages.", no_args_is_help=True)
items_app = typer.Typer(help="Action items (责任人 + 完成时限 + 交付标准).", no_args_is_help=True)
rules_app = typer.Typer(help="Rule files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(messages_app, name="messages")
app.add_typer(items_app, name="items")
app.add_typer(rules_app, name="rules")

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
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )


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
    from mailflow.cli.render import print_parsed

    print_parsed(out, doc)


def _parse_context(settings: Settings) -> ParseContext:
    from mailflow.rulebook.context import parse_context
    from mailflow.rulebook.organization import ORGANIZATION_FILE, load_organization

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
    """Validate the rule files; print file:line: message for every problem."""
    from mailflow.rulebook.organization import load_organization

    settings = _settings()
    try:
        load_organization(settings.rules_dir)
    except RuleFileError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        raise typer.Exit(1) from None
    err.print(f"rules in {settings.rules_dir} are valid")


@app.command("poll")
def poll(once: OnceFlag = False) -> None:
    """Read the mailbox and store new mail (IDLE where the server offers it)."""
    _ingest(once, show_table=False)


@app.command("run")
def run(once: OnceFlag = False) -> None:
    """Poller, workers and scheduler in one process (the embedded default)."""
    _ingest(once, show_table=once)


def _ingest(once: bool, *, show_table: bool) -> None:
    from mailflow.cli import render as presentation
    from mailflow.service.poll import poll_forever, poll_once
    from mailflow.service.runtime import build_runtime, open_source

    settings = _settings()
    try:
        runtime = build_runtime(settings)
        source = open_source(settings)
    except RuleFileError as e:
        fail(f"rules are invalid, see `mailflow rules check`:\n{e}")
    except MailflowError as e:
        fail(str(e))
    try:
        if once:
            with presentation.IngestProgress(err, source.name) as progress:
                report = poll_once(source, runtime.sessions, runtime.context, progress.update)
            presentation.print_report(err, report)
            if show_table:
                presentation.print_messages(
                    out, runtime.sessions, runtime.context.timezone, limit=50
                )
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        err.print(f"polling {source.name}; Ctrl-C stops")
        poll_forever(source, runtime.sessions, runtime.context, stop, settings.poll_interval_s)
    except MailflowError as e:
        fail(str(e))
    finally:
        runtime.close()


@messages_app.command("list")
def messages_list(
    status: Annotated[
        str | None, typer.Option(help="Only this status: stored or quarantined.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many, newest first.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List stored messages, newest first."""
    from mailflow.cli import render as presentation
    from mailflow.store.models import MESSAGE_STATUSES

    if status is not None and status not in MESSAGE_STATUSES:
        fail(f"--status must be one of {', '.join(MESSAGE_STATUSES)}, not {status!r}")
    with _runtime() as runtime:
        if as_json:
            rows = presentation.message_rows(runtime.sessions, status=status, limit=limit)
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            presentation.print_messages(
                out, runtime.sessions, runtime.context.timezone, status=status, limit=limit
            )


@items_app.command("list")
def items_list(
    status: Annotated[
        str | None, typer.Option(help="Only open, done or overdue (open and past the deadline).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List action items, soonest deadline first."""
    from mailflow.cli import render
    from mailflow.service.queries import ITEM_FILTERS, list_items

    if status is not None and status not in ITEM_FILTERS:
        fail(f"--status must be one of {', '.join(ITEM_FILTERS)}, not {status!r}")
    with _runtime() as runtime:
        rows = list_items(runtime.sessions, status)
        if as_json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            render.print_items(out, rows)


@app.command("thread")
def thread(
    message_id: Annotated[str, typer.Argument(help="Any Message-ID of the thread, with <>.")],
    as_json: JsonFlag = False,
) -> None:
    """Show a thread: its messages, action items, and who has and has not confirmed."""
    from mailflow.cli import render
    from mailflow.service.queries import thread_view

    wanted = message_id if message_id.startswith("<") else f"<{message_id}>"
    with _runtime() as runtime:
        view = thread_view(runtime.sessions, normalise_id(wanted))
        if view is None:
            fail(f"no stored message has the Message-ID {wanted}")
        if as_json:
            print(json.dumps(view, ensure_ascii=False, indent=2))
        else:
            render.print_thread(out, view, runtime.context.timezone)


@contextmanager
def _runtime() -> Iterator[Runtime]:
    from mailflow.service.runtime import build_runtime

    try:
        runtime = build_runtime(_settings())
    except RuleFileError as e:
        fail(f"rules are invalid, see `mailflow rules check`:\n{e}")
    except MailflowError as e:
        fail(str(e))
    try:
        yield runtime
    finally:
        runtime.close()


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else ""


def main() -> Any:
    """Console-script entry point."""
    return app()
