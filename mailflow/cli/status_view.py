"""How ``mailflow status`` shows the installation's health to people."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mailflow.service.health import Health


def _when(moment: datetime | str | None, tz: tzinfo) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _reachable(part: dict[str, object]) -> str:
    return (
        "[green]reachable[/]"
        if part["reachable"]
        else f"[red]unreachable[/]: {escape(str(part['error']))}"
    )


def _waiting(poller: dict[str, Any]) -> str:
    """The mailbox backlog cell: a count, "more" when uncounted, "—" before any count."""
    if not poller["mailbox_backlog_more"]:
        return "—" if poller["mailbox_backlog"] is None else "0"
    count = poller["mailbox_backlog"]
    return "more (not counted)" if count is None else str(count)


def _catching_up(poller: dict[str, Any], tz: tzinfo) -> str:
    count = poller["mailbox_backlog"]
    what = "more mail is" if count is None else f"{count} mail(s)"
    return (
        f"{what} still waiting in {escape(poller['source'])} (as of"
        f" {_when(poller['mailbox_backlog_at'], tz)}); the poller is catching up"
    )


def print_status(console: Console, found: Health, tz: tzinfo) -> None:
    """Print the health as a short report: servers, pollers, outbox, rules, verdict."""
    verdict = "[green]healthy[/]" if found.healthy else "[bold red]unhealthy[/]"
    console.print(f"mailflow is {verdict} ({_when(found.checked_at, tz)})")
    console.print(f"database: {_reachable(found.database)}", highlight=False)
    console.print(f"broker ({found.broker['kind']}): {_reachable(found.broker)}", highlight=False)
    if found.pollers:
        table = Table(title="pollers", title_justify="left")
        for column in ("mailbox", "holder", "lease", "last fetch", "still in mailbox"):
            table.add_column(column, overflow="fold")
        for p in found.pollers:
            lease = f"active, {p['lease_left_s']} s left" if p["active"] else "[red]expired[/]"
            fetch = _when(p["fetched_at"], tz)
            table.add_row(escape(p["source"]), escape(p["owner"]), lease, fetch, _waiting(p))
        console.print(table)
        for p in found.pollers:
            if p["mailbox_backlog_more"]:
                console.print(_catching_up(p, tz), highlight=False)
    if found.outbox:
        o = found.outbox
        console.print(
            f"outbox: {o['pending']} pending ({o['backlog']} due now, the oldest waiting"
            f" {o['oldest_pending_age_s']} s), {o['failed']} failed",
            highlight=False,
        )
        if o.get("cut_short"):
            console.print(
                f"  {o['cut_short']} of them cut short (a worker died while sending): the sweep"
                " looks in the mailbox's Sent folder before it sends again",
                highlight=False,
            )
        for s in o.get("smtp_sessions", ()):
            console.print(
                f"  SMTP sessions of {escape(s['account'])}: {s['held']} of {s['limit']} held"
                " (sessions=, shared by every worker)",
                highlight=False,
            )
        console.print(
            "messages: "
            + (", ".join(f"{n} {s}" for s, n in sorted(found.messages.items())) or "none"),
            highlight=False,
        )
    if found.rules:
        r = found.rules
        state = "[red]files broken[/]" if r.get("broken") else "files valid"
        console.print(
            f"rules: version {r.get('version')} from {r.get('source')}, {state};"
            f" last error: {escape(str(r.get('last_error') or 'none'))}",
            highlight=False,
        )
    for t in found.oauth:
        console.print(
            f"OAuth2: the refresh token of {escape(t['grant'])} is kept in the database,"
            f" last rotated {_when(t['rotated_at'], tz)}",
            highlight=False,
        )
    for warning in found.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
