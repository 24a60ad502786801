"""How outgoing mail and dry runs are shown: the outbox table and ``rules test`` output."""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from mailflow.service.queries import outbox_rows
from mailflow.service.timestamps import local_iso
from mailflow.store import recipients

if TYPE_CHECKING:  # the clocks load the rule engine and templates
    from mailflow.service.clock_mail import ClockMail

_STATUS_STYLE = {"pending": "yellow", "sent": "green", "failed": "bold red", "cancelled": "dim"}
_MARK = {"pending": "…", "sent": "✓", "failed": "✗", "cancelled": "–"}


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
        table.add_row(
            str(r["id"]), r["kind"], _recipients(r), escape(r["subject"] or "(not sent yet)"), state
        )
    console.print(table)


def _recipients(r: dict[str, Any]) -> str:
    """Return one line per recipient; where one's state differs from the mail's, say it."""
    lines = []
    for p in r["recipients"]:
        text = ("cc " if p["field"] == recipients.CC else "") + escape(p["address"])
        if p["status"] != r["status"] or p["code"]:
            style = _STATUS_STYLE.get(p["status"], "")
            answer = f" {p['code']}" if p["code"] else ""
            text += f" [{style}]{_MARK.get(p['status'], '')} {p['status']}{answer}[/]"
        lines.append(text)
    return "\n".join(lines)


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
    if result["answers_own_mail"]:
        console.print(f"never answered: {escape(result['answers_own_mail'])}", highlight=False)
    sender = "internal" if result["sender_internal"] else "external"
    console.print(f"sender: {sender} ({escape(result['sender_trust'])})", highlight=False)
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
    dropped = result["dropped_recipients"]
    if dropped:
        left = Table(title="recipients left out", title_justify="left")
        for column in ("address", "mail", "why"):
            left.add_column(column, overflow="fold")
        for d in dropped:
            left.add_row(escape(d["address"]), escape(d["mail"]), escape(d["why"]))
        console.print(left)
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


def clock_row(mail: ClockMail, tz: tzinfo = UTC) -> dict[str, Any]:
    """Return one due clock mail as a JSON object, its time in ``tz``."""
    return {
        "kind": mail.kind,
        "to": list(mail.to),
        "cc": list(mail.cc),
        "due_at": local_iso(mail.due, tz),
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
