"""Parse one raw message into a ``ParsedMessage``: the entry point of the pure parsing layer.

Order matters for invariant 13: size and header count are checked on the raw bytes, nesting
and attachment count on the parsed tree, all before any payload is decoded. The CPU time of
the whole parse is bounded by a ``WorkBudget``, checked between steps and enforced inside them
where the parse runs on the main thread (``budget.can_stop_steps``), and action items are read
from the first ``MAX_ITEM_TEXT_CHARS`` of what the sender wrote only. Anything merely
malformed is read best-effort and what was worked around is listed in ``defects``; only bytes
that are not mail at all raise ``MessageRejected``. ``to_contract(parse_message(raw, ctx))``
gives the ``mailflow parse --json`` document. Imports nothing of storage/sources/jobs.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from mailflow.errors import LimitExceeded
from mailflow.mail.address import parse_address_fields, parse_addresses
from mailflow.mail.attachment import is_attachment, to_attachment
from mailflow.mail.automated import automated_reason
from mailflow.mail.body import body_sources, body_text
from mailflow.mail.budget import WorkBudget
from mailflow.mail.confirmation import read_confirmation
from mailflow.mail.header import decode_text, message_ids, unfold
from mailflow.mail.items import extract_items
from mailflow.mail.mime import leaves, parse_tree
from mailflow.mail.model import Address, Attachment, ParseContext, ParsedMessage, to_contract
from mailflow.mail.prelude import prepare
from mailflow.mail.quote import new_text
from mailflow.mail.quote_html import cut_quoted_html
from mailflow.mail.subject import parse_subject

__all__ = ["generated_message_id", "parse_message", "to_contract"]

GENERATED_ID_DOMAIN = "mailflow.invalid"
# action items are read from this much of new_text: a task mail is a few thousand characters,
# and a megabyte of text would cost seconds of sentence analysis for nothing
MAX_ITEM_TEXT_CHARS = 50_000
# a References field is read this far from its end (about 3,000 ids), with its first id: a
# thread's replies carry dozens; 800,000 ids (23 MB) took seconds
MAX_REFERENCES_CHARS = 100_000
FIRST_STEP = "reading the MIME structure"  # what a parse does before the budget's first check
_T = TypeVar("_T")


def parse_message(raw: bytes, ctx: ParseContext) -> ParsedMessage:
    """Return what mailflow understands of ``raw``.

    Raises ``LimitExceeded`` when a limit of ``ctx.limits`` is broken (``WorkBudgetExceeded``
    when reading it costs more than ``max_parse_cpu_s`` of CPU time) and ``MessageRejected``
    (with a human reason) when ``raw`` is not mail at all; never anything else for bad input.
    """
    budget = WorkBudget(ctx.limits.max_parse_cpu_s, first_step=FIRST_STEP)
    return budget.enforce(_parse, raw, ctx, budget)


def _parse(raw: bytes, ctx: ParseContext, budget: WorkBudget) -> ParsedMessage:
    prelude = prepare(raw, ctx.limits)
    defects = list(prelude.defects)
    root = parse_tree(prelude.data, ctx.limits, defects)
    parts = [leaf.part for leaf in leaves(root) if is_attachment(leaf.part)]
    if len(parts) > ctx.limits.max_attachments:
        raise LimitExceeded(
            f"message has {len(parts)} attachments, over the limit of {ctx.limits.max_attachments}"
        )
    budget.check(FIRST_STEP)
    headers = _Headers(root)
    message_id, generated = _message_id(headers, raw, defects)
    sender = _first(parse_addresses(headers.first("From"), "From", defects))
    subject_text = _subject(headers, defects)
    reason = automated_reason(root, sender, subject_text, ctx.own_addresses)
    to, cc = _addresses(headers, "To", defects), _addresses(headers, "Cc", defects)
    reply_to = _addresses(headers, "Reply-To", defects)
    budget.check("reading the headers")
    known = {id(part) for part in parts}  # the tree is not changed from here on
    sources = body_sources(root, defects, budget, attached=lambda part: id(part) in known)
    text = body_text(sources, defects, budget)
    cut = _cut_html(sources.html)  # read once: for new_text and for the tables of items
    written = new_text(sources, text, defects, budget, laid_out=True, cut=cut)
    budget.check("removing quoted history")
    date = _date(headers.first("Date"), ctx, defects)
    participants = (*((sender,) if sender else ()), *to, *cc)
    items = extract_items(
        _item_text(written, defects),
        ctx,
        date,
        participants,
        to=to,
        html=cut,
        sender=sender,
        defects=defects,
    )
    budget.check("reading action items")
    confirmation = read_confirmation(written, automated=reason is not None)
    budget.check("reading confirmations")
    attachments = _attachments(parts, defects, budget)
    return ParsedMessage(
        message_id=message_id,
        message_id_generated=generated,
        date=date,
        from_=sender,
        to=to,
        cc=cc,
        reply_to=reply_to,
        in_reply_to=_first(tuple(message_ids(headers.first("In-Reply-To")))),
        references=_references(headers, defects),
        automated=reason is not None,
        automated_reason=reason,
        subject=parse_subject(subject_text, ctx.departments),
        body_text=text,
        attachments=attachments,
        defects=tuple(dict.fromkeys(defects)),
        new_text=written,
        action_items=items,
        confirmation=confirmation,
        authentication_results=tuple(headers.all("Authentication-Results")),
    )


def _references(headers: _Headers, defects: list[str]) -> tuple[str, ...]:
    """Return the References ids; of a longer field, the first id (the thread's root) and
    the ids of its last ``MAX_REFERENCES_CHARS`` characters (the latest ancestors)."""
    value = " ".join(headers.all("References"))
    if len(value) > MAX_REFERENCES_CHARS:
        defects.append(
            f"References of {len(value)} characters: its first id and its last "
            f"{MAX_REFERENCES_CHARS} characters read"
        )
        root = value[: value.find(">", 0, 1000) + 1]
        value = f"{root} {value[-MAX_REFERENCES_CHARS:]}"
    return tuple(message_ids(value))


def _cut_html(markup: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(cut_quoted_html(m) for m in markup)


def _attachments(
    parts: list[Message], defects: list[str], budget: WorkBudget
) -> tuple[Attachment, ...]:
    found = []
    for part in parts:
        found.append(to_attachment(part, defects))
        budget.check("reading attachments")
    return tuple(found)


def _item_text(written: str, defects: list[str]) -> str:
    """Return the part of ``written`` that action items are read from: whole lines, capped."""
    if len(written) <= MAX_ITEM_TEXT_CHARS:
        return written
    cut = written.rfind("\n", 0, MAX_ITEM_TEXT_CHARS)
    defects.append(
        f"text of {len(written)} characters: action items read from the first {MAX_ITEM_TEXT_CHARS}"
    )
    return written[: cut if cut > 0 else MAX_ITEM_TEXT_CHARS]


def generated_message_id(raw: bytes) -> str:
    """Return the stand-in Message-ID for mail without one: a hash of its raw bytes."""
    return f"<sha256-{hashlib.sha256(raw).hexdigest()[:32]}@{GENERATED_ID_DOMAIN}>"


class _Headers:
    """The top-level header fields of a mail, read once: ``raw_values`` and ``first_raw`` of
    any name without scanning the fields again (the tree is not changed after parsing)."""

    def __init__(self, root: Message) -> None:
        self._by_name: dict[str, list[Any]] = {}
        for name, value in root.raw_items():
            self._by_name.setdefault(name.lower(), []).append(value)

    def all(self, name: str) -> list[str]:
        """Return ``raw_values(root, name)``."""
        return [unfold(str(v)) for v in self._by_name.get(name.lower(), ())]

    def first(self, name: str) -> str | None:
        """Return ``first_raw(root, name)``."""
        values = self._by_name.get(name.lower())
        return unfold(str(values[0])) if values else None


def _message_id(headers: _Headers, raw: bytes, defects: list[str]) -> tuple[str, bool]:
    value = headers.first("Message-ID")
    ids = message_ids(value)
    if ids:
        return ids[0], False
    bare = (value or "").strip().split()
    if bare and "@" in bare[0] and "<" not in bare[0] and ">" not in bare[0]:
        defects.append("Message-ID without <>; added them")
        return message_ids(f"<{bare[0]}>")[0], False
    if value is not None:
        defects.append(f"unusable Message-ID {value.strip()[:80]!r}; generated one")
    return generated_message_id(raw), True


def _subject(headers: _Headers, defects: list[str]) -> str:
    value = headers.first("Subject")
    if value is None:
        return ""
    return decode_text(value, defects).replace("\t", " ").strip()


def _date(value: str | None, ctx: ParseContext, defects: list[str]) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append(f"unparseable Date {value.strip()[:60]!r}")
        return None
    if parsed.tzinfo is None:  # "-0000": UTC, local zone unknown (RFC 5322 §3.3)
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(ctx.timezone)
    except (OverflowError, ValueError):
        defects.append(f"Date out of range {value.strip()[:60]!r}")
        return None


def _addresses(headers: _Headers, name: str, defects: list[str]) -> tuple[Address, ...]:
    return parse_address_fields(headers.all(name), name, defects)


def _first(items: tuple[_T, ...]) -> _T | None:
    return items[0] if items else None
