"""How outgoing mail and dry runs are shown: the outbox table and ``rules test`` output."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from mailflow.service.clock_mail import ClockMail
from mailflow.store.models import OutboxMail
from mailflow.store.outbox import list_outbox

_STATUS_STYLE = {"pending": "yellow", "sent": "green", "failed": "bold red"}


def outbox_json(row: OutboxMail) -> dict[str, Any]:
    """Return the ``outbox list --json`` object of one row (contract fields first)."""
    return {
        "id": row.id,
        "kind": row.kind,
        "to": list(row.to_addrs),
        "cc": list(row.cc_addrs),
        "subject": row.subject,
        "status": row.status,
        "in_reply_to": row.in_reply_to,
        "due_at": row.due_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "message_id": row.message_id,
        "rule": row.rule,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat(),
        "last_error": row.last_error,
    }


def outbox_rows(
    sessions: sessionmaker[Session], *, status: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Return outbox rows as ``outbox list --json`` objects, newest first."""
    with sessions() as session:
        return [outbox_json(r) for r in list_outbox(session, status=status, limit=limit)]


def print_outbox(
    console: Console,
    sessions: sessionmaker[Session],
    tz: tzinfo,
    *,
    status: str | None = None,
    limit: int | None = None,
) -> None:
    """Print outgoing mail as a table, newest first."""
    rows = outbox_rows(sessions, status=status, limit=limit)
    table = Table(title=f"{len(rows)} outgoing mail(s)", title_justify="left")
    for column in ("id", "kind", "to", "subject", "status"):
        table.add_column(column, overflow="fold")
    for r in rows:
        style = _STATUS_STYLE.get(r["status"], "")
        state = f"[{style}]{r['status']}[/]"
        if r["last_error"] and r["status"] != "sent":
            state += f"\n[dim]{escape(r['last_error'][:120])}[/]"
        to = ", ".join(r["to"]) + (f"\ncc {', '.join(r['cc'])}" if r["cc"] else "")
        table.add_row(str(r["id"]), r["kind"], to, escape(r["subject"] or "(not sent yet)"), state)
    console.print(table)


def print_outbox_summary(console: Console, counts: dict[str, int], transport: str) -> None:
    """Print one line: how many mails were sent, are waiting, failed, and where they went."""
    console.print(
        f"outbox: {counts.get('sent', 0)} sent, {counts.get('pending', 0)} pending,"
        f" {counts.get('failed', 0)} failed (transport: {transport})",
        highlight=False,
    )


def print_dry_run(console: Console, result: dict[str, Any]) -> None:
    """Print what ``rules test`` found: hits, misses, and each mail in full."""
    console.print(f"[bold]{escape(result['subject'])}[/]  {result['message_id']}")
    if result["automated"]:
        console.print(f"automatic mail ({result['automated_reason']}): never answered")
    table = Table(title="rules", title_justify="left")
    for column in ("rule", "matched", "why"):
        table.add_column(column, overflow="fold")
    for hit in result["hits"]:
        why = escape(hit["why"]) + "".join(f"\n[dim]· {escape(n)}[/]" for n in hit["notes"])
        table.add_row(escape(hit["rule"]), "[green]yes[/]", why)
    for miss in result["misses"]:
        table.add_row(escape(miss["rule"]), "no", escape(miss["why"]))
    console.print(table)
    for req in result["confirmation_requests"]:
        console.print(
            f"ledger: confirmation asked of {', '.join(req['from']) or 'nobody'}"
            f" within {req['within']} (by {req['due']})",
            highlight=False,
        )
    for item in result["items"]:
        console.print(
            f"item {item['position']}: {escape(item['task'])} · {item['owner'] or '(no owner)'}"
            f" · due {item['due_at'] or '(no deadline)'}",
            highlight=False,
        )
    if result["clocks"]:
        table = Table(title="clocks started (if nobody answers)", title_justify="left")
        for column in ("due at", "kind", "to"):
            table.add_column(column, overflow="fold")
        for clock in result["clocks"]:
            to = ", ".join(clock["to"]) + (f"\ncc {', '.join(clock['cc'])}" if clock["cc"] else "")
            table.add_row(clock["due_at"], clock["kind"], to)
        console.print(table)
    if not result["mails"]:
        console.print("no mail would be sent")
    for mail in result["mails"]:
        head = f"To: {', '.join(mail['to'])}"
        if mail["cc"]:
            head += f"\nCc: {', '.join(mail['cc'])}"
        head += f"\nSubject: {mail['subject']}"
        body = escape(f"{head}\n\n{mail['text']}")
        console.print(Panel(body, title=f"{mail['template']} ({escape(mail['rule'])})"))


def clock_row(mail: ClockMail) -> dict[str, Any]:
    """Return one due clock mail as a JSON object."""
    return {
        "kind": mail.kind,
        "to": list(mail.to),
        "cc": list(mail.cc),
        "due_at": mail.due.isoformat(),
        "about": mail.about,
    }


def print_clock_mails(console: Console, mails: list[ClockMail], tz: tzinfo) -> None:
    """Print what the clocks would send now: kind, recipients, since when, about which mail."""
    table = Table(title=f"{len(mails)} mail(s) due", title_justify="left")
    for column in ("due since", "kind", "to", "about"):
        table.add_column(column, overflow="fold")
    for m in sorted(mails, key=lambda m: m.due):
        to = ", ".join(m.to) + (f"\ncc {', '.join(m.cc)}" if m.cc else "")
        table.add_row(m.due.astimezone(tz).strftime("%Y-%m-%d %H:%M"), m.kind, to, m.about or "")
    console.print(table)
