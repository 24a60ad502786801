"""After a message is stored: link it to its thread, record its action items, open or answer
a confirmation ledger, close the items a 已完成 reply reports done.

Runs inside the ingest transaction, so a message and everything it means commit together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from mailflow.mail.model import DONE, ActionItem, ParseContext, ParsedMessage
from mailflow.mail.requests import asks_for_confirmation
from mailflow.mail.subject import thread_key
from mailflow.store import messages, threads
from mailflow.store.models import (
    ANSWER_PENDING,
    ITEM_DONE,
    ITEM_OPEN,
    ActionItemRecord,
    ConfirmationAnswer,
    ConfirmationRequest,
    Message,
    Thread,
)

# a subject-only match links mail of the same participants within this window
SUBJECT_WINDOW = timedelta(days=30)
# the guide: minutes are confirmed within 24 hours
CONFIRMATION_WINDOW = timedelta(hours=24)
_ITEM_NUMBER = re.compile(r"第\s*([0-9一二三四五六七八九十]+)\s*[项條条点個个]")
_CHINESE_DIGITS = {c: i for i, c in enumerate("一二三四五六七八九十", start=1)}


class Kin:
    """The stored messages a batch's mails may link to by Message-ID: those they name in
    In-Reply-To/References, and those that name them (replies that arrived first).

    Loaded with two queries for a whole batch rather than two per mail. The rows are the
    session's own objects, so a thread assigned to one of them later in the batch shows.
    """

    def __init__(self, session: Session, batch: Sequence[tuple[Message, ParsedMessage]]) -> None:
        named = {i for _, p in batch for i in (p.in_reply_to, *p.references) if i}
        self._by_id = {m.message_id: m for m, _ in batch}
        self._by_id.update(
            (m.message_id, m) for m in messages.messages_by_ids(session, named - self._by_id.keys())
        )
        self._replies: dict[str, list[Message]] = {}
        for reply in threads.replies_to(session, [m.message_id for m, _ in batch]):
            self._replies.setdefault(reply.in_reply_to or "", []).append(reply)

    def messages(self, message_ids: Iterable[str]) -> list[Message]:
        """Return the stored messages among ``message_ids``, in that order."""
        found = (self._by_id.get(i) for i in dict.fromkeys(message_ids))
        return [m for m in found if m is not None]

    def replies_to(self, message_id: str) -> list[Message]:
        """Return the stored messages whose In-Reply-To is ``message_id``."""
        return self._replies.get(message_id, [])


def record(
    session: Session,
    message: Message,
    parsed: ParsedMessage,
    ctx: ParseContext,
    *,
    ledger: bool = True,
    kin: Kin | None = None,
) -> None:
    """Thread ``message`` and store what it asks and answers; ``message`` must be flushed.

    With ``ledger`` false, the rules decide who must confirm (``decide.apply``) instead of the
    mail's own words. ``kin`` holds the batch's linked messages (see ``Kin``); without it they
    are looked up for this message alone.
    """
    kin = kin or Kin(session, [(message, parsed)])
    when = parsed.date or message.received_at
    thread = _thread_for(session, message, parsed, when, ctx, kin)
    message.thread_id, message.subject_key = thread.id, thread_key(parsed.subject)
    if parsed.automated:
        return  # out-of-office replies and bounces neither assign work nor confirm
    items = [
        _item_row(message, thread, position, item, ctx, when)
        for position, item in enumerate(parsed.action_items, start=1)
    ]
    if items:  # one multi-row INSERT, not one unit-of-work row each
        session.execute(insert(ActionItemRecord).execution_options(render_nulls=True), items)
    if ledger and asks_for_confirmation(parsed):
        asked = [a.address for a in (*parsed.to, *parsed.cc)]
        due = when + CONFIRMATION_WINDOW
        open_ledger(session, message, parsed, asked, when, due, ctx.own_addresses)
    if parsed.confirmation and parsed.from_:
        _answer(session, message, parsed, thread, when, kin)


def _thread_for(
    session: Session,
    message: Message,
    parsed: ParsedMessage,
    when: datetime,
    ctx: ParseContext,
    kin: Kin,
) -> Thread:
    parents = kin.messages(i for i in (parsed.in_reply_to, *reversed(parsed.references)) if i)
    thread = next((session.get(Thread, p.thread_id) for p in parents if p.thread_id), None)
    if thread is None:
        # the shared address is on nearly every mail: it says nothing about who talks to whom
        people = [a for a in _people(parsed) if a not in ctx.own_addresses]
        thread = threads.thread_by_subject(
            session, thread_key(parsed.subject), people, when - SUBJECT_WINDOW
        )
    if thread is None:
        thread = Thread(
            subject_key=thread_key(parsed.subject), started_at=when, last_message_at=when
        )
        session.add(thread)
        session.flush()
    # replies stored before this message (mail arrives out of order) join its thread
    for child in kin.replies_to(message.message_id):
        if child.thread_id and child.thread_id != thread.id:
            gone = session.get(Thread, child.thread_id)
            if gone is not None:
                threads.merge_threads(session, thread, gone)
    thread.last_message_at = max(thread.last_message_at, when)
    thread.started_at = min(thread.started_at, when)
    return thread


def _people(parsed: ParsedMessage) -> list[str]:
    sender = [parsed.from_.address] if parsed.from_ else []
    return sender + [a.address for a in (*parsed.to, *parsed.cc)]


def _item_row(
    message: Message,
    thread: Thread,
    position: int,
    item: ActionItem,
    ctx: ParseContext,
    now: datetime,
) -> dict[str, Any]:
    return {
        "message_pk": message.id,
        "thread_id": thread.id,
        "position": position,
        "task": item.task,
        "owner": item.owner,
        "owner_email": item.owner_email,
        "deadline": item.deadline.isoformat() if item.deadline else None,
        "due_at": due_instant(item.deadline, ctx),
        "deliverable": item.deliverable,
        "missing": list(item.missing),
        "status": ITEM_OPEN,
        "created_at": now,
    }


def due_instant(deadline: date | datetime | None, ctx: ParseContext) -> datetime | None:
    """Return when a deadline passes: its time, or the end of the working day for a bare day."""
    if deadline is None:
        return None
    if isinstance(deadline, datetime):
        return deadline
    return datetime.combine(deadline, ctx.work_end, tzinfo=ctx.timezone)


def open_ledger(
    session: Session,
    message: Message,
    parsed: ParsedMessage,
    addresses: Sequence[str],
    requested_at: datetime,
    due_at: datetime | None,
    own: frozenset[str] = frozenset(),
) -> None:
    """Ask ``addresses`` (never the sender, never ``own`` shared addresses) to confirm it.

    The ledger's lines go in as one multi-row INSERT, not one unit-of-work row each."""
    request = ConfirmationRequest(
        message_pk=message.id,
        thread_id=message.thread_id,
        requested_at=requested_at,
        due_at=due_at,
    )
    session.add(request)
    session.flush()  # the request's id, for its lines
    names = {
        a.address: (a.name, role)
        for role, group in (("cc", parsed.cc), ("to", parsed.to))
        for a in group
    }
    sender = parsed.from_.address if parsed.from_ else None
    lines: dict[str, dict[str, Any]] = {}
    for address in dict.fromkeys(a.lower() for a in addresses):
        if address == sender or address in own:
            continue
        name, role = names.get(address, ("", "to"))
        lines[address] = {
            "request_id": request.id,
            "address": address,
            "name": name,
            "role": role,
            "status": ANSWER_PENDING,
            "answered_at": None,
            "answer_message_pk": None,
            "answer_text": None,
        }
    _earlier_answers(session, lines, message)
    if lines:
        session.execute(
            insert(ConfirmationAnswer).execution_options(render_nulls=True), list(lines.values())
        )


def _earlier_answers(session: Session, lines: dict[str, dict[str, Any]], message: Message) -> None:
    """Record answers that arrived before the mail they answer (mail is not always in order)."""
    if message.thread_id is None or not lines:
        return
    for reply in threads.thread_messages(session, message.thread_id):
        confirmation = (reply.parsed or {}).get("confirmation")
        line = lines.get(reply.from_address or "")
        if reply.id == message.id or reply.automated or not confirmation or line is None:
            continue
        line["status"], line["answered_at"] = confirmation["kind"], reply.date or reply.received_at
        line["answer_message_pk"], line["answer_text"] = reply.id, confirmation.get("text")


def _answer(
    session: Session,
    message: Message,
    parsed: ParsedMessage,
    thread: Thread,
    when: datetime,
    kin: Kin,
) -> None:
    assert parsed.confirmation is not None and parsed.from_ is not None
    sender = parsed.from_.address
    replied = kin.messages([parsed.in_reply_to] if parsed.in_reply_to else [])
    session.flush()
    line = threads.ledger_line(session, thread.id, sender, replied[0].id if replied else None)
    if line is not None:
        line.status, line.answered_at = parsed.confirmation.kind, when
        line.answer_message_pk, line.answer_text = message.id, parsed.confirmation.text
    if parsed.confirmation.kind == DONE:
        _close_items(session, message, parsed, thread, when)


def _close_items(
    session: Session, message: Message, parsed: ParsedMessage, thread: Thread, when: datetime
) -> None:
    assert parsed.from_ is not None
    candidates = threads.open_items_of(session, thread.id, parsed.from_.address)
    for item in _items_meant(candidates, parsed.new_text):
        item.status, item.completed_at, item.completed_by_pk = ITEM_DONE, when, message.id


def _items_meant(candidates: list[ActionItemRecord], text: str) -> list[ActionItemRecord]:
    """Return the items a done reply means: by number (第1项), by task words, or the only one."""
    numbers = {_number(m.group(1)) for m in _ITEM_NUMBER.finditer(text)}
    by_number = [i for i in candidates if i.position in numbers]
    if by_number:
        return by_number
    by_task = [i for i in candidates if i.task and i.task[:8] in text]
    if by_task:
        return by_task
    return candidates if len(candidates) == 1 else []


def _number(token: str) -> int:
    if token.isdigit():
        return int(token)
    if token in _CHINESE_DIGITS:
        return _CHINESE_DIGITS[token]
    return 0
