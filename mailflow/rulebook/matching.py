"""Evaluate a rule's ``when:`` against a mail's facts, in words.

``check`` returns ``(True, why)`` with every condition that held, or ``(False, why)`` with the
first one that failed, so a decision explains its hits and misses (STYLE habit 7). Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatch
from typing import Any

from mailflow.mail.model import Attachment
from mailflow.rulebook.condition import When
from mailflow.rulebook.facts import MessageFacts
from mailflow.rulebook.vocabulary import EXTERNAL, INTERNAL, NO_CONFIRMATION, PRESENT

Outcome = tuple[bool, str]


def _any_of(values: list[str]) -> str:
    return values[0] if len(values) == 1 else "one of " + ", ".join(values)


def _is(label: str, actual: str | None, wanted: list[str]) -> Outcome:
    shown = actual if actual is not None else "not given"
    if actual in wanted:
        return True, f"{label} is {actual}"
    return False, f"{label} is {shown}, not {_any_of(wanted)}"


def _flag(ok: bool, wanted: bool, yes: str, no: str) -> Outcome:
    return ok == wanted, yes if ok else no


def _reason(f: MessageFacts, v: list[str]) -> Outcome:
    return _is("事由", f.parsed.subject.reason, v)


def _department(f: MessageFacts, v: list[str]) -> Outcome:
    return _is("the subject's department", f.parsed.subject.department, v)


def _sender(f: MessageFacts, v: list[str]) -> Outcome:
    internal = "internal" if f.sender_internal else "external"
    if v in ([INTERNAL], [EXTERNAL]):
        detail = f" ({f.trust_reason})" if f.trust_reason else ""
        return internal == v[0], f"the sender is {internal}{detail}"
    sender = f.sender or ""
    domain = sender.rsplit("@", 1)[-1]
    hit = any(sender == w or domain == w or domain.endswith("." + w) for w in v)
    return hit, f"the sender {sender or 'is unknown'} {'is' if hit else 'is not'} {_any_of(v)}"


def _conforms(f: MessageFacts, v: bool) -> Outcome:
    problems = ", ".join(f.parsed.subject.problems)
    no = f"the subject does not follow 【事由】部门-主题 ({problems})"
    return _flag(f.parsed.subject.conforms, v, "the subject follows 【事由】部门-主题", no)


def _subject_problems(f: MessageFacts, v: list[str]) -> Outcome:
    found = [p for p in f.parsed.subject.problems if p in v]
    if found:
        return True, f"the subject has {', '.join(found)}"
    return False, f"the subject has no {_any_of(v)}"


def _missing_fields(f: MessageFacts, v: list[str]) -> Outcome:
    lacking = sorted({m for item in f.parsed.action_items for m in item.missing if m in v})
    if lacking:
        return True, f"an action item lacks {', '.join(lacking)}"
    return False, f"no action item lacks {_any_of(v)}"


def _has_items(f: MessageFacts, v: bool) -> Outcome:
    count = len(f.parsed.action_items)
    return _flag(
        count > 0, v, f"the mail has {count} action item(s)", "the mail has no action items"
    )


def _keywords(f: MessageFacts, v: list[str]) -> Outcome:
    text = f"{f.parsed.subject.raw}\n{f.parsed.new_text}".casefold()
    found = [k for k in v if k.casefold() in text]
    if found:
        return True, f"the subject or text says {found[0]}"
    return False, f"neither subject nor text says {_any_of(v)}"


def _reply(f: MessageFacts, v: bool) -> Outcome:
    return _flag(f.is_reply, v, "the mail is a reply in a thread", "the mail starts a new thread")


def _attachments(f: MessageFacts, v: str) -> Outcome:
    count = len(f.parsed.attachments)
    return _flag(count > 0, v == PRESENT, f"{count} attachment(s)", "no attachments")


def name_matches(attachment: Attachment, pattern: str) -> bool:
    """Return whether the file name contains ``pattern`` (or matches it, with * or ?)."""
    name = (attachment.filename or "").casefold()
    pattern = pattern.casefold()
    return fnmatch(name, pattern) if any(c in pattern for c in "*?[") else pattern in name


def _attachment_name(f: MessageFacts, v: list[str]) -> Outcome:
    for a in f.parsed.attachments:
        if any(name_matches(a, p) for p in v):
            return True, f"attachment {a.filename} matches"
    return False, f"no attachment is named like {_any_of(v)}"


def unversioned(facts: MessageFacts) -> list[str]:
    """Return the names of attachments that lack a version or a date (_v1.2_20231008)."""
    return [
        a.filename or "(unnamed)" for a in facts.parsed.attachments if not (a.version and a.date)
    ]


def _without_version(f: MessageFacts, v: bool) -> Outcome:
    names = unversioned(f)
    yes = f"{', '.join(names)} lacks a version or date"
    return _flag(bool(names), v, yes, "every attachment names a version and date")


def _confirmation(f: MessageFacts, v: list[str]) -> Outcome:
    kind = f.parsed.confirmation.kind if f.parsed.confirmation else NO_CONFIRMATION
    return _is("the confirmation", kind, v)


_CHECKS: dict[str, Callable[[MessageFacts, Any], Outcome]] = {
    "reason": _reason,
    "department": _department,
    "sender": _sender,
    "conforms": _conforms,
    "subject_problems": _subject_problems,
    "missing_fields": _missing_fields,
    "has_action_items": _has_items,
    "keywords": _keywords,
    "reply": _reply,
    "attachments": _attachments,
    "attachment_name": _attachment_name,
    "attachment_without_version": _without_version,
    "confirmation": _confirmation,
}


def check(when: When, facts: MessageFacts) -> Outcome:
    """Return whether every condition of ``when`` holds, with the reasons in words."""
    held: list[str] = []
    for name in type(when).model_fields:
        wanted = getattr(when, name)
        if wanted is None:
            continue
        ok, why = _CHECKS[name](facts, wanted)
        if not ok:
            return False, why
        held.append(why)
    return True, "; ".join(held) or "the rule has no conditions"
