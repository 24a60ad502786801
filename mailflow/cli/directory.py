"""``mailflow directory sync``: people, departments and managers from LDAP/AD or the HR sheet.

Registered by the CLI core as the ``directory`` group; what it shares with the other commands
comes from ``mailflow.cli.common``, imported inside the functions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from mailflow.rulebook.roster import RosterChange, SyncPlan

directory_app = typer.Typer(help="The people directory and its sync.", no_args_is_help=True)
SHOWN = 20  # rows of each kind a person sees; --json lists all


@directory_app.command("sync")
def sync(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
    allow_removals: Annotated[
        bool,
        typer.Option(
            "--allow-removals",
            help="Apply even when more people would be removed than max_removed_share allows.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Read the directory source named in organization.yaml and apply what changed."""
    from mailflow.cli.common import err, fail, open_runtime, out, read_settings
    from mailflow.errors import MailflowError
    from mailflow.service.directory_sync import SyncReport, sync_directory

    now = datetime.now(UTC)
    report: SyncReport
    try:
        if dry_run:
            report = sync_directory(read_settings(), None, now, dry_run=True)
        else:
            with open_runtime() as runtime:
                report = sync_directory(
                    runtime.settings, runtime.sessions, now, allow_removals=allow_removals
                )
    except MailflowError as e:
        fail(str(e))
    if as_json:
        print(
            json.dumps(
                _document(report.plan, report.source, report.applied, report.notices),
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        _print(out, report.plan, report.source)
        if report.applied:
            err.print(f"written to {report.path}", highlight=False, soft_wrap=True)
        elif dry_run:
            err.print("dry run: nothing changed", highlight=False)
        if report.notices:
            err.print(f"{len(report.notices)} notice(s) queued for managers or administrators")
    if report.plan.refused and not allow_removals and not dry_run:
        fail(f"sync stopped, nothing changed: {report.plan.refused} (--allow-removals applies it)")


def _print(console: Console, plan: SyncPlan, source: str) -> None:
    change = plan.change
    console.print(
        f"{source}: {len(plan.roster.people)} people, {len(plan.roster.managers)} departments; "
        f"{len(change.added)} added, {len(change.moved)} moved, {len(change.left)} left, "
        f"{len(change.renamed)} renamed, {len(change.managers)} with new managers, "
        f"{len(plan.roster.skipped)} skipped",
        highlight=False,
        soft_wrap=True,
    )
    _table(
        console,
        "added",
        ["department", "name", "email"],
        sorted((p.department or "", p.name, p.email) for p in change.added),
    )
    _table(
        console,
        "moved",
        ["name", "email", "from", "to"],
        [(m.name, m.email, m.before or "", m.after or "") for m in change.moved],
    )
    _table(
        console,
        "left",
        ["department", "name", "email"],
        sorted((p.department or "", p.name, p.email) for p in change.left),
    )
    _table(console, "renamed", ["email", "was", "now"], list(change.renamed))
    _table(
        console,
        "managers",
        ["department", "were", "now"],
        [(d, ", ".join(b), ", ".join(a)) for d, b, a in change.managers],
    )
    _table(console, "skipped", ["why"], [(s,) for s in plan.roster.skipped])
    if plan.refused:
        console.print(f"[bold red]refused:[/] {plan.refused}", soft_wrap=True)


def _table(
    console: Console, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]
) -> None:
    if not rows:
        return
    table = Table(title=f"{title} ({len(rows)})", title_justify="left")
    for header in headers:
        table.add_column(header)
    for row in rows[:SHOWN]:
        table.add_row(*row)
    if len(rows) > SHOWN:
        table.add_row(f"… {len(rows) - SHOWN} more (--json lists all)", *[""] * (len(headers) - 1))
    console.print(table)


def _document(plan: SyncPlan, source: str, applied: bool, notices: Sequence[int]) -> dict[str, Any]:
    change: RosterChange = plan.change
    return {
        "source": source,
        "applied": applied,
        "refused": plan.refused,
        "people": len(plan.roster.people),
        "added": [
            {"name": p.name, "email": p.email, "department": p.department} for p in change.added
        ],
        "moved": [
            {"name": m.name, "email": m.email, "from": m.before, "to": m.after}
            for m in change.moved
        ],
        "left": [
            {"name": p.name, "email": p.email, "department": p.department} for p in change.left
        ],
        "renamed": [{"email": e, "was": b, "now": a} for e, b, a in change.renamed],
        "managers": [
            {"department": d, "were": list(b), "now": list(a)} for d, b, a in change.managers
        ],
        "skipped": list(plan.roster.skipped),
        "notices": list(notices),
    }
