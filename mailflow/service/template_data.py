"""The data a template sees, built from the parsed mail and one planned mail (plain values only).

Templates name only the documented variables of ``mailflow.outbound.template_variables``;
this module is where the rulebook's planning data becomes those names. Mail content is
data here, never template source (invariant 10).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from mailflow.mail.model import ParsedMessage, to_contract
from mailflow.outbound.template_variables import STANDARD_CONTEXT
from mailflow.rulebook.decision import PlannedMail
from mailflow.rulebook.organization import Organization
from mailflow.rulebook.recipients import Directory
from mailflow.service.outmail import local_time, message_variable

SUMMARY_CHARS = 300


def message_data(parsed: ParsedMessage, tz: tzinfo) -> dict[str, Any]:
    """Return the ``message`` variable: the mail being answered (``message_variable``)."""
    return message_variable(to_contract(parsed), tz)


def template_context(
    parsed: ParsedMessage,
    planned: PlannedMail,
    org: Organization,
    tz: tzinfo,
    *,
    due: datetime | None = None,
) -> dict[str, Any]:
    """Return everything the template of ``planned`` may use: the rulebook's planning data
    (already in the documented names) plus the message, recipient, organisation and rule."""
    directory = Directory(org)
    first = planned.to[0]
    context = {k: v for k, v in planned.extra.items() if k in STANDARD_CONTEXT}
    if "items" in context:
        context["items"] = [_readable_deadline(dict(i), tz) for i in context["items"]]
    if parsed.subject.conforms:
        context["suggestion"] = None
    context.update(
        organization={
            "name": org.organization.name,
            "shared_address": org.organization.shared_address,
        },
        message=message_data(parsed, tz),
        recipient={"name": directory.name_of(first) or _display(parsed, first), "address": first},
        rule={"name": planned.rule},
        attachments=[
            {
                "filename": a.filename,
                "version": a.version,
                "date": a.date.isoformat() if a.date else None,
            }
            for a in parsed.attachments
        ],
        due=local_time(due, tz),
        summary=(parsed.new_text or parsed.body_text).strip()[:SUMMARY_CHARS] or None,
    )
    plain: dict[str, Any] = _plain(context)
    return plain


def _plain(value: Any) -> Any:
    """Return ``value`` as JSON-safe plain data (the outbox stores the context as JSON)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _readable_deadline(item: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    """Show a deadline with a time as people write it (2023-10-13 18:00), not as ISO 8601."""
    deadline = item.get("deadline")
    if isinstance(deadline, str) and "T" in deadline:
        item["deadline"] = local_time(datetime.fromisoformat(deadline), tz)
    return item


def _display(parsed: ParsedMessage, address: str) -> str:
    for a in (*parsed.to, *parsed.cc):
        if a.address == address:
            return a.name
    return ""
