"""The values the parser produces: the ``mailflow parse --json`` contract (DESIGN.md §4).

Frozen dataclasses only; ``to_contract`` turns a ``ParsedMessage`` into the JSON document.
Imports nothing of mailflow outside ``mail`` and ``settings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailflow.settings import Limits

# subject.problems codes (contract)
MISSING_REASON = "missing_reason"
NONSTANDARD_BRACKETS = "nonstandard_brackets"
MISSING_DEPARTMENT = "missing_department"
UNKNOWN_DEPARTMENT = "unknown_department"
MISSING_TOPIC = "missing_topic"


@dataclass(frozen=True)
class ParseContext:
    """What the parser needs to know about the organisation; built from rules and settings."""

    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    # every department name and alias (as written in rules) -> canonical department name
    departments: Mapping[str, str] = field(default_factory=dict)
    # the shared address(es): mail from these is mailflow's own and never answered
    own_addresses: frozenset[str] = frozenset()
    limits: Limits = field(default_factory=Limits)


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
    }
