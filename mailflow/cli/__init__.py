"""The ``mailflow`` command line. Each command calls one service or store function.

Exit codes (contract): 0 success; 1 user error with a one-line reason on stderr; 2 usage.
``--json`` prints exactly one JSON document on stdout; people get tables and progress.

This module builds the app and registers the commands in the order ``--help`` lists them;
the commands live in ``checking`` (parse, rules), ``serving`` (the long-running ones),
``reading`` (status and what is stored), ``report``, ``directory``, ``web`` and ``repair``;
what they share is in ``common``.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, tzinfo
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mailflow.cli import checking, reading, serving
from mailflow.cli.common import err, fail, first_line, read_settings
from mailflow.errors import ConfigurationError, MailflowError

if TYPE_CHECKING:
    from mailflow.settings import Settings

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


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    from mailflow.cli.logs import configure_logging
    from mailflow.settings import load_settings

    try:
        settings: Settings | None = load_settings()
    except ConfigurationError:
        settings = None  # the command itself names the bad setting
    configure_logging(
        logging.INFO if verbose else logging.WARNING,
        settings.log_format if settings else "text",
        lambda: _log_timezone(settings),  # read at the first line, unless a command hands it over
        sys.stderr,
    )


def _log_timezone(settings: Settings | None) -> tzinfo:
    """The organisation's timezone for log times: MAILFLOW_TIMEZONE, else the rules', else UTC.

    Reading the rules costs a 2,000-person directory 0.3 s: it is done only when a line is
    logged before the command has read them itself (``common.open_runtime`` hands it over)."""
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

    settings = read_settings()
    try:
        migrate.upgrade(settings.database_url)
    except MailflowError as e:
        fail(str(e))
    except Exception as e:  # the database refused: name it, without the URL's password
        fail(f"cannot migrate the database: {type(e).__name__}: {first_line(e)}")
    err.print(f"database is at revision {migrate.head_revision()}")


def _register_commands() -> None:
    """Register every command, in the order of ``mailflow --help`` (a contract)."""
    from mailflow.cli.directory import directory_app
    from mailflow.cli.repair import register
    from mailflow.cli.report import report
    from mailflow.cli.web import web_app

    app.command("parse")(checking.parse)
    rules_app.command("check")(checking.rules_check)
    rules_app.command("test")(checking.rules_test)
    app.command("poll")(serving.poll)
    app.command("run")(serving.run)
    app.command("worker")(serving.worker)
    app.command("scheduler")(serving.scheduler)
    outbox_app.command("list")(reading.outbox_list)
    app.command("status")(reading.status)
    messages_app.command("list")(reading.messages_list)
    items_app.command("list")(reading.items_list)
    app.command("thread")(reading.thread)
    app.command("report")(report)
    app.add_typer(directory_app, name="directory")
    app.add_typer(web_app, name="web")
    register(db_app, outbox_app)
    items_app.command("close")(reading.items_close)


_register_commands()


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
    from mailflow.settings import load_settings

    try:
        return load_settings().database_url
    except ConfigurationError:
        return ""
