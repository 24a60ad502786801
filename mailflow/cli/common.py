"""What every command of the ``mailflow`` command line shares: the consoles, the one-line
failure (exit 1), the settings, the runtime or reader a command works on, and its flags.

Imports nothing of the other command modules; they import from here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from mailflow.errors import ConfigurationError, MailflowError, RuleFileError

if TYPE_CHECKING:
    from mailflow.service.reader import Reader
    from mailflow.service.runtime import Runtime
    from mailflow.settings import Settings

out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
OnceFlag = Annotated[bool, typer.Option("--once", help="Process what is there now, then exit.")]


def fail(message: str) -> NoReturn:
    """Print a one-line reason on stderr and exit 1 (a user error)."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def read_settings() -> Settings:
    """Return the settings, or fail with the bad setting named."""
    from mailflow.settings import load_settings

    try:
        return load_settings()
    except ConfigurationError as e:
        fail(str(e))


@contextmanager
def guard() -> Iterator[None]:
    """Turn mailflow's own errors into one-line reasons and exit 1."""
    try:
        yield
    except RuleFileError as e:
        fail(f"rules are invalid, see `mailflow rules check`:\n{e}")
    except MailflowError as e:
        fail(str(e))


def aware(moment: datetime, tz: tzinfo) -> datetime:
    """Return ``moment``, read in ``tz`` when it names no offset."""
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def message_id_arg(text: str) -> str:
    """Return a Message-ID typed with or without its <>, with them."""
    return text if text.startswith("<") else f"<{text}>"


@contextmanager
def open_runtime(
    *, last_good: bool = False, wait: threading.Event | None = None
) -> Iterator[Runtime]:
    """The rules, templates and database; ``last_good`` (long-running commands) starts on the
    last good rules kept in the database when the files are broken. With ``wait`` a database
    that cannot be reached is waited for (and said so) until it answers or ``wait`` is set."""
    from mailflow.service.runtime import build_runtime

    settings = read_settings()
    try:
        if wait is None:
            runtime = build_runtime(settings, last_good=last_good)
        else:
            found = wait_for_database(lambda: build_runtime(settings, last_good=last_good), wait)
            if found is None:
                raise typer.Exit(0)  # stopped before the database came back
            runtime = found
    except RuleFileError as e:
        fail(f"rules are invalid, see `mailflow rules check`:\n{e}")
    except MailflowError as e:
        fail(str(e))
    if runtime.unpacked is None:  # the rules files' zone, which log times are shown in
        from mailflow.cli.logs import use_timezone

        use_timezone(runtime.context.timezone)
    try:
        yield runtime
    finally:
        runtime.close()


@contextmanager
def open_reader() -> Iterator[Reader]:
    """The database and the timezone to show times in, for commands that need no valid rules."""
    from mailflow.service.reader import build_reader

    try:
        reader = build_reader(read_settings())
    except MailflowError as e:
        fail(str(e))
    try:
        yield reader
    finally:
        reader.close()


def wait_for_database(build: Callable[[], Runtime], stop: threading.Event) -> Runtime | None:
    """Build the runtime, waiting (and saying so) while the database cannot be reached."""
    from mailflow.service.outage import Outage, wait_until_reachable
    from mailflow.store.db import database_outage

    outages = {"database": Outage("start-up", "database", logging.getLogger("mailflow.cli"))}
    return wait_until_reachable(build, database_outage, outages, stop)


def first_line(e: BaseException) -> str:
    """Return the first line of an error's text (never a URL's password on later lines)."""
    return str(e).strip().splitlines()[0] if str(e).strip() else ""
