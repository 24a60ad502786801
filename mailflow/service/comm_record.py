"""The guide's 内部沟通记录表 and the weekly digest, read from the store as plain values.

Which mail makes a row of the record (``record_rows``):

- only stored mail written by people: automated mail (bounces, auto-replies, newsletters),
  quarantined mail and mailflow's own mail never make a row;
- a message with action items makes one row per item, in the message's order;
- a message that starts a conversation (the earliest such message of its thread) and has no
  items makes one row when its subject names a 事由 (【会议纪要】…, 【进度汇报】…, also when the
  rest of the subject does not conform), so progress reports and complaints are recorded too;
- a reply without items makes no row of its own: it folds into its thread's rows, where what it
  changed shows: the 实际完成时间 a 已完成 reply set, an objection in 备注, or nobody left on the
  待确认 list. A thread appears in the period its starting message (or item mail) falls in.

Columns: 沟通类型 is 会议 for minutes (事由 会议纪要, 会议记录 or 纪要: ``CONFIRMED_REASONS``),
else 邮件; 参与部门/人员 lists the departments of sender and recipients
from the directory, then the names of people outside it; 计划完成时间
is the deadline as written (a date, or a date and time); 备注 gathers
逾期, missing 责任人/完成时限/交付标准, objections from the confirmation
ledger (on the item they name as 第N项, else on the message's first
row), who has not confirmed yet, and a non-conforming subject. Read-only; never commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, tzinfo

from sqlalchemy.orm import Session, sessionmaker

from mailflow.mail.numbers import item_references
from mailflow.mail.requests import CONFIRMED_REASONS as MINUTES_REASONS
from mailflow.outbound.record_format import COLUMNS, Cell, cell_text
from mailflow.rulebook.organization import Organization
from mailflow.service.digest import digest
from mailflow.service.directory import (
    NAME_SEPARATOR,
    ReportDirectory,
    planned,
    resolve_department,
    unique,
)
from mailflow.store import reporting
from mailflow.store.models import (
    ANSWER_PENDING,
    ITEM_DONE,
    ITEM_OPEN,
    ActionItemRecord,
    ConfirmationRequest,
    Message,
)

__all__ = ["FIELD_LABELS", "RecordRow", "digest", "record_rows", "summary"]

KIND_MEETING, KIND_MAIL = "会议", "邮件"
SUMMARY_CHARS = 80
OVERDUE_NOTE, LATE_DONE_NOTE, NONCONFORMING_NOTE = "逾期", "逾期完成", "标题不规范"
MISSING_NOTES = {"owner": "缺少责任人", "deadline": "缺少完成时限", "deliverable": "缺少交付标准"}
OBJECTION = "objection"
NOTE_SEPARATOR = "；"

# RecordRow field -> the guide's column name
_FIELDS = ("day", "kind", "participants", "topic", "summary", "action", "owner")
FIELD_LABELS: dict[str, str] = dict(
    zip((*_FIELDS, "planned", "actual", "remarks"), COLUMNS, strict=True)
)
_OBJECTION_WORD = re.compile(r"^\s*有异议\s*[：:，,]?\s*")
# a first line like 各位好： or 王五、吴敏、赵六： greets and says nothing
_SALUTATION = re.compile(r"^[^\n。！？]{0,24}[：:]\s*$")


@dataclass(frozen=True)
class RecordRow:
    """One line of the 内部沟通记录表 (``FIELD_LABELS`` names its columns), plus the canonical
    departments it concerns, for filtering."""

    day: date
    kind: str
    participants: str
    topic: str
    summary: str
    action: str
    owner: str
    planned: date | datetime | None
    actual: datetime | None
    remarks: str
    departments: tuple[str, ...] = ()

    def cells(self) -> tuple[Cell, ...]:
        """Return the ten values in the guide's column order."""
        return tuple(getattr(self, name) for name in FIELD_LABELS)

    def labelled(self) -> dict[str, str]:
        """Return the row as column name -> text, as the files show it."""
        return {label: cell_text(getattr(self, name)) for name, label in FIELD_LABELS.items()}


def record_rows(
    sessions: sessionmaker[Session],
    *,
    start: date | None,
    end: date | None,
    department: str | None,
    org: Organization,
    tz: tzinfo,
    now: datetime | None = None,
) -> list[RecordRow]:
    """Return the record rows of mail dated from ``start`` to ``end`` (inclusive, local dates),
    oldest first; with ``department``, only rows whose participants, subject department or item
    owner belong to it. ``now`` decides 逾期. Raises UnknownDepartmentError."""
    wanted = resolve_department(org, department) if department else None
    directory, now = ReportDirectory(org), now or datetime.now(UTC)
    with sessions() as session:
        messages = reporting.mail_between(session, start, end, tz)
        threads = {m.thread_id for m in messages if m.thread_id}
        starters = reporting.thread_starters(session, threads)
        items = reporting.items_of(session, [m.id for m in messages])
        ledgers = reporting.ledgers_of(session, [m.id for m in messages])
        rows: list[RecordRow] = []
        for m in messages:
            if directory.is_own(m.from_address):
                continue
            starts = m.thread_id is None or starters.get(m.thread_id) == m.id
            found = items.get(m.id, [])
            rows += _message_rows(m, found, ledgers.get(m.id), starts, directory, tz, now)
    return [r for r in rows if wanted is None or wanted in r.departments]


def _message_rows(
    m: Message,
    items: list[ActionItemRecord],
    ledger: ConfirmationRequest | None,
    starts_thread: bool,
    directory: ReportDirectory,
    tz: tzinfo,
    now: datetime,
) -> list[RecordRow]:
    """Return the rows of one message: one per item, or one for a conversation it starts."""
    if not items and not (starts_thread and m.subject_reason):
        return []
    participants, related = directory.participants(m)
    base = RecordRow(
        day=_local(m.written_at, tz).date(),
        kind=KIND_MEETING if m.subject_reason in MINUTES_REASONS else KIND_MAIL,
        participants=participants,
        topic=m.topic or m.subject or "",
        summary=summary((m.parsed or {}).get("new_text") or m.body_text or ""),
        action="",
        owner="",
        planned=None,
        actual=None,
        remarks="",
        departments=related,
    )
    shared, by_item = _ledger_notes(ledger)
    if not m.conforms and directory.is_internal(m.from_address):  # customers owe us no format
        shared.append(NONCONFORMING_NOTE)
    if not items:
        return [_with_notes(base, shared)]
    rows = []
    for index, item in enumerate(items):
        notes = _item_notes(item, now) + by_item.get(item.position, [])
        row = _item_row(base, item, directory, tz)
        rows.append(_with_notes(row, notes + (shared if index == 0 else [])))
    return rows


def _item_row(base: RecordRow, item: ActionItemRecord, d: ReportDirectory, tz: tzinfo) -> RecordRow:
    owner_dept = d.department(item.owner_email, item.owner)
    return replace(
        base,
        action=item.task + (f"（交付标准：{item.deliverable}）" if item.deliverable else ""),
        owner=item.owner or item.owner_email or "",
        planned=planned(item, tz),
        actual=_local(item.completed_at, tz) if item.completed_at else None,
        departments=unique([*base.departments, owner_dept]),
    )


def _with_notes(row: RecordRow, notes: Iterable[str]) -> RecordRow:
    return replace(row, remarks=NOTE_SEPARATOR.join(dict.fromkeys(notes)))


def _item_notes(item: ActionItemRecord, now: datetime) -> list[str]:
    notes = [MISSING_NOTES.get(code, code) for code in item.missing]
    if item.due_at is not None:
        if item.status == ITEM_OPEN and item.due_at < now:
            notes.insert(0, OVERDUE_NOTE)
        elif item.status == ITEM_DONE and item.completed_at and item.completed_at > item.due_at:
            notes.insert(0, LATE_DONE_NOTE)
    return notes


def _ledger_notes(ledger: ConfirmationRequest | None) -> tuple[list[str], dict[int, list[str]]]:
    """Return the message-wide notes and the notes per item position from the ledger."""
    shared: list[str] = []
    by_item: dict[int, list[str]] = {}
    if ledger is None:
        return shared, by_item
    for answer in ledger.answers:
        if answer.status != OBJECTION:
            continue
        text = _OBJECTION_WORD.sub("", answer.answer_text or "", count=1)
        note = f"异议（{answer.name or answer.address}）：{text}".rstrip("：")
        positions = item_references(answer.answer_text or "")
        for position in positions:
            by_item.setdefault(position, []).append(note)
        if not positions:
            shared.append(note)
    pending = [a.name or a.address for a in ledger.answers if a.status == ANSWER_PENDING]
    if pending:
        shared.append(f"待确认：{NAME_SEPARATOR.join(pending)}")
    return shared, by_item


def summary(text: str, limit: int = SUMMARY_CHARS) -> str:
    """Return the first ``limit`` characters of what the sender wrote, without the greeting
    line, on one line; an ellipsis marks a cut."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) > 1 and _SALUTATION.match(lines[0]):
        lines = lines[1:]
    flat = " ".join(line for line in lines if line)
    return flat if len(flat) <= limit else flat[:limit].rstrip() + "…"


def _local(moment: datetime, tz: tzinfo) -> datetime:
    return moment.astimezone(tz)
