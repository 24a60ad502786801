"""The documented context every mail template may use (templates/README.md mirrors it).

A template may name only these top-level variables; ``TemplateSet.check`` reports any other
name with its file and line. Values are plain data (dicts, lists, strings, numbers, None), built
by the caller from stored rows: never ORM objects, never anything callable. Optional variables
get the defaults below when the caller leaves them out; ``organization``, ``message``,
``recipient`` and ``rule`` must be given. Imports nothing of mailflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# name -> what it holds (the English half of templates/README.md's table)
STANDARD_CONTEXT: Mapping[str, str] = {
    "organization": "{name, shared_address}: the organisation from the rules",
    "message": (
        "the mail being answered: {subject, from: {name, address}, to: [{name, address}], "
        "cc: [...], date, message_id, reason, department, topic, conforms, problems: [codes]}"
    ),
    "recipient": "{name, address}: who this mail is written to",
    "rule": "{name}: the rule that asked for this mail",
    "items": (
        "action items: [{task, owner, owner_email, deadline, deliverable, "
        "missing: [owner|deadline|deliverable], owner_candidates: [address] (people who share "
        "the owner's name when the mail does not say which)}]"
    ),
    "missing": "fields missing anywhere in the mail: [owner|deadline|deliverable]",
    "attachments": "[{filename, version, date}] of the mail being answered",
    "unversioned_attachments": "[filename]: attachments without a version or a date in the name",
    "suggestion": "a corrected subject in the 【事由】部门-主题 form, or None",
    "required_attachment": "the form the rule requires, e.g. 项目进度跟踪表, or None",
    "participants": "[{name, address}]: who must confirm (minutes)",
    "within_hours": "hours allowed for an answer (24 for minutes, 48 for complaints), or None",
    "due": "the answer-by time as text, e.g. 2023-10-09 10:00, or None",
    "summary": "a short summary of the mail for managers, or None",
    "department": "the department concerned, or None",
    "problems": "[text]: rule or template problems, as file:line: message (administrators)",
    "files": (
        "[{type: ics|xlsx, ...}]: files attached to this mail, built at send time "
        "(outbound/attachments.py)"
    ),
    "pending": "[{name, address}]: who has not yet confirmed the minutes in `message`",
    "objection": "{name, address, text, date}: an objection to the minutes in `message`, or None",
    "item": (
        "one action item: {index, task, owner, owner_email, deadline (text), deliverable, "
        "source_subject, milestone: bool}, or None"
    ),
    "days_left": "whole days until the item's deadline (0 = today), or None",
    "overdue_days": "whole days the item's deadline has passed, or None",
    "complaint": (
        "a customer complaint: {subject, from: {name, address}, date, hours_open, "
        "handler: {name, address} or None, resolved_at (text) or None; optional department "
        "and topic when the subject follows 【事由】部门-主题}, or None"
    ),
    "digest": (
        "a department's week: {department, period: {from, to}, open_items: [{task, owner, "
        "deadline, overdue}], done_items: [...], overdue_items: [...], unconfirmed: [{subject, "
        "date, pending: [name]}], open_complaints: [{subject, from, date, hours_open}]}, or None"
    ),
    "person": "{name, address}: the person a directory change concerns (owner_left), or None",
    "sign_in": (
        "{url, expires}: a one-time link into the web view and until when it works "
        "(sign_in_link), or None"
    ),
}

REQUIRED = frozenset({"organization", "message", "recipient", "rule"})

_DEFAULTS: Mapping[str, Any] = {
    "items": (),
    "missing": (),
    "attachments": (),
    "unversioned_attachments": (),
    "participants": (),
    "problems": (),
    "suggestion": None,
    "required_attachment": None,
    "within_hours": None,
    "due": None,
    "summary": None,
    "department": None,
    "files": (),
    "pending": (),
    "objection": None,
    "item": None,
    "days_left": None,
    "overdue_days": None,
    "complaint": None,
    "digest": None,
    "person": None,
    "sign_in": None,
}


def with_defaults(context: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``context`` with every optional standard variable filled with its empty default."""
    return {**_DEFAULTS, **context}
