"""Commands that read (and repair) what is stored, and need no valid rules: ``status``,
``messages list``, ``items list``, ``items close``, ``outbox list`` and ``thread``.
Registered on the app by ``mailflow.cli``."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Annotated

import typer

from mailflow.cli.common import JsonFlag, err, fail, message_id_arg, open_reader, out, read_settings
from mailflow.cli.repair import ByOption, NoteOption
from mailflow.errors import MailflowError


def status(as_json: JsonFlag = False) -> None:
    """Health: database and broker reachable, the active poller, the backlog, the outbox and
    the rules in force. Exits 1 when unhealthy (for health checks). Needs no valid rules."""
    from mailflow.cli.status_view import print_status
    from mailflow.jobs.broker import broker_kind, probe_broker
    from mailflow.service.health import check
    from mailflow.service.reader import display_timezone
    from mailflow.store.db import make_engine, make_session_factory

    settings = read_settings()
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
    with open_reader() as runtime:
        if as_json:
            rows = presentation.message_rows(
                runtime.sessions, status=status, limit=limit, tz=runtime.timezone
            )
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            presentation.print_messages(
                out, runtime.sessions, runtime.timezone, status=status, limit=limit
            )


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
    with open_reader() as runtime:
        rows = list_items(runtime.sessions, status, tz=runtime.timezone)
        if as_json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            views.print_items(out, rows)


def items_close(
    item_id: Annotated[int, typer.Argument(help="The id `items list` shows.")],
    by: ByOption = None,
    note: NoteOption = None,
) -> None:
    """Mark an action item done (no more reminders about it), recording who and why."""
    from mailflow.cli.repair import who
    from mailflow.service.repair import close_item

    with open_reader() as runtime:
        task = close_item(runtime.sessions, item_id, who(by, note))
    if task is None:
        fail(f"no action item has the id {item_id}; see `mailflow items list`")
    err.print(f"item {item_id} ({task}) is done")


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
    from mailflow.service.queries import outbox_rows
    from mailflow.store.models import OUTBOX_STATUSES

    if status is not None and status not in OUTBOX_STATUSES:
        fail(f"--status must be one of {', '.join(OUTBOX_STATUSES)}, not {status!r}")
    with open_reader() as runtime:
        if as_json:
            rows = outbox_rows(runtime.sessions, status=status, limit=limit, tz=runtime.timezone)
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            from mailflow.cli import outbox_view

            outbox_view.print_outbox(
                out, runtime.sessions, runtime.timezone, status=status, limit=limit
            )


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
    from mailflow.mail.header import normalise_id

    if len(words) == 2 and words[0] == "close":
        from mailflow.cli.repair import who
        from mailflow.service.repair import close_thread

        wanted = message_id_arg(words[1])
        with open_reader() as runtime:
            count = close_thread(runtime.sessions, normalise_id(wanted), who(by, note))
        if count is None:
            fail(f"no stored message has the Message-ID {wanted}")
        err.print(f"thread of {wanted} ({count} messages) closed: no more reminders for it")
        return
    if len(words) != 1:
        raise typer.BadParameter("give one MESSAGE_ID, or `close MESSAGE_ID`")
    from mailflow.cli import views
    from mailflow.service.queries import thread_view

    wanted = message_id_arg(words[0])
    with open_reader() as runtime:
        view = thread_view(runtime.sessions, normalise_id(wanted), tz=runtime.timezone)
        if view is None:
            fail(f"no stored message has the Message-ID {wanted}")
        if as_json:
            print(json.dumps(view, ensure_ascii=False, indent=2))
        else:
            views.print_thread(out, view, runtime.timezone)
