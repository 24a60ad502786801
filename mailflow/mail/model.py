"""The values the parser produces: the ``mailflow parse --json`` contract (DESIGN.md §4).

Frozen dataclasses only; ``to_contract`` turns a ``ParsedMessage`` into the JSON document.
Imports nothing of mailflow outside ``mail`` and ``settings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from mailflow.settings import Limits

if TYPE_CHECKING:
    from mailflow.mail.names import NameIndex

# subject.problems codes (contract)
MISSING_REASON = "missing_reason"
NONSTANDARD_BRACKETS = "nonstandard_brackets"
MISSING_DEPARTMENT = "missing_department"
UNKNOWN_DEPARTMENT = "unknown_department"
MISSING_TOPIC = "missing_topic"


# action item fields (责任人 + 完成时限 + 交付标准) that ``ActionItem.missing`` may name
OWNER, DEADLINE, DELIVERABLE = "owner", "deadline", "deliverable"

# confirmation kinds (contract)
ACK, OBJECTION, DONE = "ack", "objection", "done"


@dataclass(frozen=True)
class StatutoryDays:
    """PRC statutory days off and adjusted working days (调休上班) written in the rules, for
    years the ``chinese-calendar`` package does not know yet (or to correct it); they win over
    the package. ``years`` are the years the rules describe in full."""

    years: frozenset[int] = frozenset()
    days_off: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()


@dataclass(frozen=True)
class Person:
    """Someone in the rules' directory: owners of action items resolve through these."""

    name: str
    email: str
    department: str | None = None


@dataclass(frozen=True)
class ParseContext:
    """What the parser needs to know about the organisation; built from rules and settings."""

    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    # every department name and alias (as written in rules) -> canonical department name
    departments: Mapping[str, str] = field(default_factory=dict)
    # the shared address(es): mail from these is mailflow's own and never answered
    own_addresses: frozenset[str] = frozenset()
    limits: Limits = field(default_factory=Limits)
    people: tuple[Person, ...] = ()
    # company days off on top of the PRC statutory calendar
    days_off: frozenset[date] = frozenset()
    work_start: time = time(9, 0)
    work_end: time = time(18, 0)
    # statutory holidays and 调休 workdays the rules add to the package's calendar
    statutory: StatutoryDays = field(default_factory=StatutoryDays)

    @cached_property
    def name_index(self) -> NameIndex:
        """Return the matcher of people and department names, built once per context."""
        from mailflow.mail.names import NameIndex  # names imports this module

        return NameIndex.build(self.people, self.departments)


@dataclass(frozen=True)
class Address:
    name: str
    address: str


@dataclass(frozen=True)
class Subject:
    raw: str
    prefixes: tuple[str, ...]
    conforms: bool
    reason: str | None
    department: str | None
    topic: str | None
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Attachment:
    filename: str | None
    content_type: str
    size: int
    version: str | None
    date: date | None


@dataclass(frozen=True)
class ActionItem:
    """A task with 责任人 + 完成时限 + 交付标准; ``missing`` names what the mail left out."""

    task: str
    owner: str | None
    owner_email: str | None
    deadline: date | datetime | None  # a datetime (aware) when a time of day was given
    deliverable: str | None
    missing: tuple[str, ...]
    # several people in the directory have the owner's name and the mail does not say which:
    # their addresses (owner_email is None and "owner" is in missing)
    owner_candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class Confirmation:
    """What a reply says about the mail it answers: ack, objection or done."""

    kind: str
    text: str


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str  # with <>; a hash of the raw bytes when the header is missing
    message_id_generated: bool
    date: datetime | None  # aware, in the organisation's timezone
    from_: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    in_reply_to: str | None
    references: tuple[str, ...]
    automated: bool
    automated_reason: str | None
    subject: Subject
    body_text: str
    attachments: tuple[Attachment, ...]
    # problems the parser worked around (mislabelled charset, broken boundary, ...)
    defects: tuple[str, ...] = ()
    new_text: str = ""  # what the sender wrote: quoted history and signature removed
    action_items: tuple[ActionItem, ...] = ()
    confirmation: Confirmation | None = None
    # raw Authentication-Results values, topmost (the receiving server's) first; invariant 9
    authentication_results: tuple[str, ...] = ()


def _address(a: Address | None) -> dict[str, str] | None:
    return None if a is None else {"name": a.name, "address": a.address}


def to_contract(m: ParsedMessage) -> dict[str, Any]:
    """Return the ``mailflow parse --json`` document for ``m`` (DESIGN.md §4)."""
    return {
        "message_id": m.message_id,
        "date": m.date.isoformat() if m.date else None,
        "from": _address(m.from_),
        "to": [_address(a) for a in m.to],
        "cc": [_address(a) for a in m.cc],
        "in_reply_to": m.in_reply_to,
        "references": list(m.references),
        "automated": m.automated,
        "automated_reason": m.automated_reason,
        "subject": {
            "raw": m.subject.raw,
            "prefixes": list(m.subject.prefixes),
            "conforms": m.subject.conforms,
            "reason": m.subject.reason,
            "department": m.subject.department,
            "topic": m.subject.topic,
            "problems": list(m.subject.problems),
        },
        "body_text": m.body_text,
        "new_text": m.new_text,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "version": a.version,
                "date": a.date.isoformat() if a.date else None,
            }
            for a in m.attachments
        ],
        "action_items": [
            {
                "task": i.task,
                "owner": i.owner,
                "owner_email": i.owner_email,
                "deadline": i.deadline.isoformat() if i.deadline else None,
                "deliverable": i.deliverable,
                "missing": list(i.missing),
                "owner_candidates": list(i.owner_candidates),
            }
            for i in m.action_items
        ],
        "confirmation": (
            {"kind": m.confirmation.kind, "text": m.confirmation.text} if m.confirmation else None
        ),
    }
