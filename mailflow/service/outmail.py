"""Building outbox rows: one shape for replies, reminders and notices alike.

The key is a digest of what makes the mail unique (kind, subject, stage, recipient); the
Message-ID is derived from it, so the same mail decided twice is the same row and a resend is
recognisably the same mail. Replies and reminders about a stored message thread under it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from mailflow.outbound.compose import outgoing_message_id
from mailflow.rulebook.organization import OrganizationInfo
from mailflow.store.models import OUTBOX_PENDING, Message, OutboxMail

DEFAULT_LANG = "zh-CN"
MAX_REFERENCES = 20
LOCAL_TIME = "%Y-%m-%d %H:%M"


def key_of(*parts: object) -> str:
    """Return the idempotency key for these parts."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def outbox_row(
    *,
    key: str,
    kind: str,
    rule: str | None,
    to: Sequence[str],
    cc: Sequence[str],
    context: Mapping[str, Any],
    domain: str,
    now: datetime,
    about: Message | None = None,
    auto_submitted: str = "auto-generated",
) -> OutboxMail:
    """Return a pending outbox row; ``about`` is the stored message it answers or reminds of."""
    references: list[str] = []
    if about is not None:
        earlier = (about.parsed or {}).get("references", [])
        references = [*earlier, about.message_id][-MAX_REFERENCES:]
    return OutboxMail(
        key=key,
        kind=kind,
        rule=rule,
        message_pk=about.id if about else None,
        thread_id=about.thread_id if about else None,
        to_addrs=list(to),
        cc_addrs=[a for a in cc if a not in to],
        lang=DEFAULT_LANG,
        context=dict(context),
        message_id=outgoing_message_id(key, domain),
        in_reply_to=about.message_id if about else None,
        references=references,
        auto_submitted=auto_submitted,
        subject=None,
        status=OUTBOX_PENDING,
        attempts=0,
        due_at=now,
        next_attempt_at=now,
        claimed_until=None,
        sent_at=None,
        last_error=None,
        created_at=now,
    )


def local_time(moment: datetime | None, tz: tzinfo) -> str | None:
    """Return ``moment`` as people read it in the organisation's timezone."""
    return moment.astimezone(tz).strftime(LOCAL_TIME) if moment else None


def message_variable(doc: Mapping[str, Any], tz: tzinfo) -> dict[str, Any]:
    """Return the ``message`` template variable from a mail's ``parse --json`` document
    (``to_contract``; stored with every message): the one place it is built, for replies and
    for clock mail alike."""
    subject = doc.get("subject") or {}
    sender = doc.get("from") or {}
    date = doc.get("date")
    return {
        "subject": subject.get("raw") or "",
        "from": {"name": sender.get("name") or "", "address": sender.get("address") or ""},
        "to": [dict(a) for a in doc.get("to", [])],
        "cc": [dict(a) for a in doc.get("cc", [])],
        "date": local_time(datetime.fromisoformat(date), tz) if date else None,
        "message_id": doc.get("message_id") or "",
        "reason": subject.get("reason"),
        "department": subject.get("department"),
        "topic": subject.get("topic"),
        "conforms": bool(subject.get("conforms")),
        "problems": list(subject.get("problems", [])),
    }


def stored_message_data(message: Message, tz: tzinfo) -> dict[str, Any]:
    """Return the ``message`` template variable of a stored message row."""
    return message_variable({**(message.parsed or {}), "message_id": message.message_id}, tz)


def deadline_event(
    *,
    message_id: str,
    position: int,
    task: str,
    due: str,
    owner: str | None,
    owner_email: str,
    deliverable: str | None,
    source_subject: str,
    organization: OrganizationInfo,
    timezone: str,
) -> dict[str, Any]:
    """Return the .ics attachment spec of an item's deadline: the one event the assignment
    mail and every reminder carry (same UID, so a calendar updates it instead of adding)."""
    lines = [
        f"交付标准：{deliverable}" if deliverable else "",
        f"来源邮件：{source_subject}",
        f"责任人：{owner or owner_email}",
    ]
    return {
        "type": "ics",
        "uid": f"{message_id.strip('<>')}-item{position}",
        "summary": f"【截止】{task}",
        "description": "\n".join(line for line in lines if line),
        "due": due,
        "organizer": organization.shared_address,
        "organizer_name": organization.name,
        "attendees": [owner_email],
        "timezone": timezone,
    }
