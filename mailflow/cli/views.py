"""How the command line shows things to people: tables, progress, summaries.

``--json`` output is built here too, so the table and the JSON always show the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, tzinfo
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.model import (
    MISSING_DEPARTMENT,
    MISSING_REASON,
    MISSING_TOPIC,
    NONSTANDARD_BRACKETS,
    UNKNOWN_DEPARTMENT,
)
from mailflow.service.timestamps import local_iso
from mailflow.store.messages import list_messages
from mailflow.store.models import STATUS_QUARANTINED, Message

if TYPE_CHECKING:  # the ingest use case loads the rule engine, templates and mail parser
    from mailflow.service.ingest import IngestReport


class IngestProgress:
    """A live status line on stderr while a mailbox is read."""

    def __init__(self, console: Console, source: str) -> None:
        self._status = Status(f"reading {source} …", console=console)
        self._source = source

    def __enter__(self) -> IngestProgress:
        self._status.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._status.stop()

    def update(self, report: IngestReport) -> None:
        self._status.update(
            f"reading {self._source}: {report.stored} stored, "
            f"{report.quarantined} quarantined, {report.duplicates} already known"
        )


def print_report(console: Console, report: IngestReport) -> None:
    """Print one line saying what an ingest pass did."""
    console.print(
        f"{report.stored} stored, {report.quarantined} quarantined, "
        f"{report.duplicates} already known",
        highlight=False,
    )


def message_row(m: Message, tz: tzinfo = UTC) -> dict[str, Any]:
    """Return the ``messages list --json`` object of one message (contract fields first), times
    in ``tz`` with their offset."""
    return {
        "message_id": m.message_id,
        "subject": m.subject,
        "from": m.from_address,
        "date": local_iso(m.date, tz),
        "status": m.status,
        "reason": m.reason,
        "from_name": m.from_name,
        "received_at": local_iso(m.received_at, tz),
        "automated": m.automated,
        "automated_reason": m.automated_reason,
        "subject_reason": m.subject_reason,
        "department": m.department,
        "topic": m.topic,
        "conforms": m.conforms,
        "in_reply_to": m.in_reply_to,
    }


def message_rows(
    sessions: sessionmaker[Session],
    *,
    status: str | None = None,
    limit: int | None = None,
    tz: tzinfo = UTC,
) -> list[dict[str, Any]]:
    """Return stored messages as ``messages list --json`` objects."""
    with sessions() as session:
        return [message_row(m, tz) for m in list_messages(session, status=status, limit=limit)]


def print_messages(
    console: Console,
    sessions: sessionmaker[Session],
    tz: tzinfo,
    *,
    status: str | None = None,
    limit: int | None = None,
) -> None:
    """Print stored messages as a table, newest first, dates in the organisation's timezone."""
    with sessions() as session:
        rows = list_messages(session, status=status, limit=limit)
        table = Table(title=f"{len(rows)} message(s)", title_justify="left")
        table.add_column("date", no_wrap=True)
        table.add_column("from", max_width=12, overflow="ellipsis", no_wrap=True)
        table.add_column("subject", ratio=3, overflow="fold")
        table.add_column("what mailflow saw", ratio=2, overflow="fold")
        for m in rows:
            table.add_row(
                m.date.astimezone(tz).strftime("%Y-%m-%d %H:%M") if m.date else "—",
                m.from_name or m.from_address or "—",
                m.subject or "(no subject)",
                _note(m),
            )
    console.print(table)


_PROBLEM_WORDS = {
    MISSING_REASON: "no 【事由】",
    NONSTANDARD_BRACKETS: "brackets not 【】",
    MISSING_DEPARTMENT: "no department",
    UNKNOWN_DEPARTMENT: "unknown department",
    MISSING_TOPIC: "no topic",
}


def _note(m: Message) -> str:
    if m.status == STATUS_QUARANTINED:
        return f"[red]quarantined[/]: {escape(m.reason or '')}"
    if m.automated:
        return f"[dim]automated: {escape(m.automated_reason or '')}[/]"
    if m.conforms:
        return f"[green]✓[/] {m.subject_reason} · {m.department}"
    problems = (m.parsed or {}).get("subject", {}).get("problems", [])
    words = ", ".join(_PROBLEM_WORDS.get(p, p) for p in problems) or "not in 【事由】部门-主题 form"
    return f"[yellow]subject:[/] {words}"


def print_parsed(console: Console, doc: dict[str, Any]) -> None:
    """Print a parsed message for people: headers, subject analysis, attachments, body."""
    subject = doc["subject"]
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    sender = doc["from"]
    table.add_row("message-id", doc["message_id"])
    table.add_row("date", doc["date"] or "—")
    table.add_row("from", _addr(sender) if sender else "—")
    table.add_row("to", ", ".join(_addr(a) for a in doc["to"]) or "—")
    table.add_row("cc", ", ".join(_addr(a) for a in doc["cc"]) or "—")
    table.add_row("subject", subject["raw"])
    table.add_row(
        "  convention",
        "conforms"
        if subject["conforms"]
        else "does not conform: " + ", ".join(subject["problems"]),
    )
    for key, label in (("reason", "  事由"), ("department", "  部门"), ("topic", "  主题")):
        table.add_row(label, subject[key] or "—")
    if doc["automated"]:
        table.add_row("automated", doc["automated_reason"])
    for a in doc["attachments"]:
        extra = ", ".join(f"{k} {a[k]}" for k in ("version", "date") if a[k])
        table.add_row("attachment", f"{a['filename']} ({a['content_type']}, {a['size']} B) {extra}")
    console.print(table)
    console.rule("body")
    console.print(doc["body_text"], highlight=False, markup=False)


def _addr(a: dict[str, str]) -> str:
    return f"{a['name']} <{a['address']}>" if a["name"] else a["address"]


_STATUS_STYLE = {"open": "yellow", "done": "green", "overdue": "bold red"}
TABLE_ROWS = 50  # a longer thread lists its messages as lines (``print_thread``)
_ANSWER_STYLE = {"pending": "yellow", "ack": "green", "objection": "bold red", "done": "green"}


def print_items(console: Console, rows: list[dict[str, Any]]) -> None:
    """Print action items as a table: who, what, by when, delivering what, and their state."""
    table = Table(title=f"{len(rows)} action item(s)", title_justify="left")
    for column in ("id", "task", "owner", "deadline", "deliverable", "status"):
        table.add_column(column, overflow="fold")
    for r in rows:
        style = _STATUS_STYLE.get(r["status"], "")
        missing = f" [dim](missing: {', '.join(r['missing'])})[/]" if r["missing"] else ""
        table.add_row(
            str(r["id"]),
            escape(r["task"]) + missing,
            escape(r["owner"] or "—"),
            r["deadline"] or "—",
            escape(r["deliverable"] or "—"),
            f"[{style}]{r['status']}[/]" if style else r["status"],
        )
    console.print(table)


def print_thread(console: Console, view: dict[str, Any], tz: tzinfo) -> None:
    """Print a thread: its messages, its action items and the confirmation ledger.

    A thread of more than ``TABLE_ROWS`` messages lists them one line each (date, from, says,
    subject): a table measures every cell, about 2 s for 1,000 messages."""
    rows = [
        (
            _local(m["date"], tz),
            m["from_name"] or m["from"] or "—",
            (m["confirmation"] or {}).get("kind", ""),
            m["subject"] or "",
        )
        for m in view["messages"]
    ]
    if len(rows) > TABLE_ROWS:
        _print_lines(console, f"messages ({len(rows)})", rows)
    else:
        messages = Table(title="messages", title_justify="left")
        for column in ("date", "from", "subject", "says"):
            messages.add_column(column, overflow="fold")
        for date, sender, says, subject in rows:
            messages.add_row(date, sender, subject, says)
        console.print(messages)
    if view["action_items"]:
        print_items(console, view["action_items"])
    for request in view["confirmations"]:
        ledger = Table(
            title=f"confirmations asked by {request['message_id']}", title_justify="left"
        )
        for column in ("who", "as", "answer", "when", "text"):
            ledger.add_column(column, overflow="fold")
        for a in request["answers"]:
            style = _ANSWER_STYLE.get(a["status"], "")
            ledger.add_row(
                f"{a['name']} <{a['address']}>" if a["name"] else a["address"],
                a["role"],
                f"[{style}]{a['status']}[/]",
                _local(a["answered_at"], tz),
                escape(a["text"] or ""),
            )
        console.print(ledger)
    print_history(console, view.get("history") or [], tz)


def _print_lines(console: Console, title: str, rows: Sequence[Sequence[str]]) -> None:
    """Print ``rows`` as lines of columns aligned by their display width (CJK counts two)."""
    widths = [max(cell_len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [title]
    for row in rows:
        cells = [c + " " * (w - cell_len(c)) for c, w in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]))
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


def print_history(console: Console, history: list[dict[str, Any]], tz: tzinfo) -> None:
    """Print what administrators did about a thread: when, what, who and why."""
    if not history:
        return
    table = Table(title="what administrators did", title_justify="left")
    for column in ("when", "what", "by", "why"):
        table.add_column(column, overflow="fold")
    for h in history:
        what = h["action"] + (f" #{h['item_id']}" if h["item_id"] else "")
        what += f" (outbox {h['outbox_id']})" if h["outbox_id"] else ""
        table.add_row(_local(h["at"], tz), what, escape(h["by"]), escape(h["note"] or ""))
    console.print(table)


def _local(iso: str | None, tz: tzinfo) -> str:
    if not iso:
        return "—"
    from datetime import datetime

    return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M")
