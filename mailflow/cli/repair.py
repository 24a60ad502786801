"""Repair commands: ``outbox retry``/``outbox cancel``, ``db current``, and the ``--by``/``--note``
options that ``items close`` and ``thread close`` record.

The command functions are registered by the CLI core (``register``); what they share with the
other commands comes from ``mailflow.cli.common``, imported inside them.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mailflow.service.repair import Who

ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who does this (recorded); default: the login name."),
]
NoteOption = Annotated[
    str | None, typer.Option("--note", help="Why (recorded, shown by `mailflow thread`).")
]


def who(by: str | None, note: str | None) -> Who:
    """Return who repairs, why and now; ``--by`` defaults to the login name."""
    from mailflow.service.repair import Who

    if by is None or not by.strip():
        try:
            by = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid, as in some containers
            by = "unknown"
    return Who(by=by.strip(), note=(note or "").strip() or None, at=datetime.now(UTC))


def outbox_retry(
    outbox_id: Annotated[
        int | None, typer.Argument(help="The id `outbox list` shows.", show_default=False)
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Every failed mail and refused recipient.")
    ] = False,
    by: ByOption = None,
    note: NoteOption = None,
) -> None:
    """Send failed mail again, only to the recipients who did not get it.

    Also takes a cancelled mail, or one waiting for its next attempt (sent now); --failed
    takes every failed mail and every refused recipient."""
    from mailflow.cli.common import err, fail, open_runtime
    from mailflow.errors import MailflowError
    from mailflow.service.repair import retry_failed, retry_outbox

    if (outbox_id is None) == (not failed):
        raise typer.BadParameter("give one outbox ID, or --failed")
    with open_runtime() as runtime:
        try:
            if outbox_id is not None:
                ids = [retry_outbox(runtime.sessions, outbox_id, who(by, note))]
            else:
                ids = retry_failed(runtime.sessions, who(by, note))
        except MailflowError as e:
            fail(str(e))
        _enqueue(runtime.settings.broker_url, runtime.courier, ids)
    where = "the workers" if runtime.settings.broker_url else "`mailflow run` or `scheduler`"
    listed = ", ".join(map(str, ids)) or "none"
    err.print(f"{len(ids)} outgoing mail(s) due now ({listed}); {where} will send them")


def outbox_cancel(
    outbox_id: Annotated[int, typer.Argument(help="The id `outbox list` shows.")],
    by: ByOption = None,
    note: NoteOption = None,
) -> None:
    """Stop a pending or failed mail from being sent (it stays listed as cancelled)."""
    from mailflow.cli.common import err, fail, open_runtime
    from mailflow.errors import MailflowError
    from mailflow.service.repair import cancel_outbox

    with open_runtime() as runtime:
        try:
            cancel_outbox(runtime.sessions, outbox_id, who(by, note))
        except MailflowError as e:
            fail(str(e))
    err.print(f"outgoing mail {outbox_id} is cancelled; it will not be sent")


def db_current(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Show the database's schema revision and the one this code needs; exit 1 when they
    differ (run `mailflow db upgrade`)."""
    from mailflow.cli.common import fail, first_line, read_settings
    from mailflow.errors import MailflowError
    from mailflow.store import migrate
    from mailflow.store.db import make_engine

    settings = read_settings()
    try:
        engine = make_engine(settings.database_url)
        try:
            current = migrate.current_revision(engine)
        finally:
            engine.dispose()
    except MailflowError as e:
        fail(str(e))
    except Exception as e:  # the database refused: name it, without the URL's password
        fail(f"cannot read the database: {type(e).__name__}: {first_line(e)}")
    head = migrate.head_revision()
    if as_json:
        print(json.dumps({"current": current, "head": head, "up_to_date": current == head}))
    else:
        state = "up to date" if current == head else "behind: run `mailflow db upgrade`"
        print(f"{current or 'empty (never migrated)'} (code needs {head}): {state}")
    if current != head:
        raise typer.Exit(1)


def _enqueue(broker_url: str | None, courier: object, ids: list[int]) -> None:
    """Hand the ids to a shared broker at once; in-process, the next sweep finds them."""
    if not broker_url or not ids:
        return
    from mailflow.jobs.broker import build_broker
    from mailflow.jobs.dispatch import Dispatcher

    with Dispatcher(build_broker(broker_url), courier) as dispatcher:  # type: ignore[arg-type]
        dispatcher.enqueue(ids)


def register(db_app: typer.Typer, outbox_app: typer.Typer) -> None:
    """Add the repair commands to the command groups."""
    db_app.command("current")(db_current)
    outbox_app.command("retry")(outbox_retry)
    outbox_app.command("cancel")(outbox_cancel)
