"""After a message is stored: link it to its thread, record its action items, open or answer
a confirmation ledger, close the items a 已完成 reply reports done.

Runs inside the ingest transaction, so a message and everything it means commit together.
"""

from __future__ import annotations

import re
from bisect import insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from mailflow.mail.model import DONE, ActionItem, ParseContext, ParsedMessage
from mailflow.mail.requests import asks_for_confirmation
from mailflow.mail.subject import thread_key
from mailflow.store import messages, outbox, threads
from mailflow.store.db import IdPool, insert_objects
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


@dataclass(frozen=True)
class _Said:
    """A confirmation someone wrote in a thread."""

    message_pk: int
    sender: str
    at: datetime
    kind: str
    text: str | None


@dataclass(frozen=True)
class _Line:
    """A ledger line with what ``ledger_line`` picks it by."""

    answer: ConfirmationAnswer
    request_message_pk: int
    requested_at: datetime


class Batch:
    """What the mails of one transaction are understood with: the stored messages they may
    link to, and the threads they may join, with each thread's participants, ledger lines,
    open items and earlier confirmations.

    All of it is loaded with a few queries for the whole batch, then kept up to date in memory
    as each mail is threaded; the rows this adds (threads, items, ledgers, outbox mail) get
    their keys from ``IdPool`` and are written by ``finish``, each kind in one statement,
    instead of a query and a flush per mail. docs/benchmarks.md has the numbers.

    The mails' own rows must be stored before. They are threaded first, in order (``place``,
    which counts each among its thread's participants: ``joined``); ``recall`` then loads what
    the joined threads hold; then each is recorded and decided about in turn, and counts as
    read, with its confirmation, only from ``remember`` on.
    """

    def __init__(self, session: Session, mails: Sequence[tuple[Message, ParsedMessage]]) -> None:
        self.session = session
        named = {i for _, p in mails for i in (p.in_reply_to, *p.references) if i}
        self._by_id = {m.message_id: m for m, _ in mails}
        self._by_id.update(
            (m.message_id, m) for m in messages.messages_by_ids(session, named - self._by_id.keys())
        )
        self._replies: dict[str, list[Message]] = {}
        for reply in threads.replies_to(session, [m.message_id for m, _ in mails]):
            self._replies.setdefault(reply.in_reply_to or "", []).append(reply)
        batch_pks = {m.id for m, _ in mails}
        self._unread = set(batch_pks)  # the batch's mails not recorded yet (``remember``)
        # ledger lines loaded by ``recall``: the newest per (thread, person), and those of
        # the requests of these messages
        self._newest: set[tuple[int, str]] = set()
        self._replied_lines: set[int] = set()
        self._replied: dict[str, list[_Said]] = {}
        for answered, pk, sender, at, said in threads.confirmations_replying(
            session, [m.message_id for m, _ in mails]
        ):
            if pk not in batch_pks:  # the batch's own count once read (``remember``)
                said_here = _Said(pk, sender, at, said["kind"], said.get("text"))
                insort(self._replied.setdefault(answered, []), said_here, key=_said_order)
        linked = {
            m.thread_id
            for m in (*self._by_id.values(), *(r for rs in self._replies.values() for r in rs))
            if m.thread_id
        }
        keys = {thread_key(p.subject) for _, p in mails} - {""}
        # no mail of the batch is older than this: an answer without In-Reply-To written
        # before it answers none of their ledgers (``earlier_confirmations``)
        self._oldest = min((_when(m, p) for m, p in mails), default=datetime.now(UTC))
        since = self._oldest - SUBJECT_WINDOW
        self._threads: dict[int, Thread] = {}
        self._by_key: dict[str, list[Thread]] = {}
        self._people: dict[int, set[str]] = {}
        # confirmations without In-Reply-To, by thread (those replying to one of the batch's
        # mails are in ``_replied``, by its Message-ID)
        self._said: dict[int, list[_Said]] = {}
        self._lines: dict[int, list[_Line]] = {}
        self._items: dict[int, list[ActionItemRecord]] = {}
        # the mails in hand are no thread's history; only those threaded already (a mail
        # decided about after ``record``) need leaving out of the queries
        self._but = [m.id for m, _ in mails if m.thread_id]
        self._before: dict[int, set[str]] = {}  # message pk -> its thread's people before it
        self._joined: set[int] = set()  # the threads the mails joined
        # per kind of history, what is loaded: (thread, person), or (thread, None) for all
        self._known: dict[str, set[tuple[int, str | None]]] = {
            "said": set(),
            "lines": set(),
            "items": set(),
        }
        self._load(threads.threads_for(session, linked, keys, since))
        size = max(1, len(mails))
        self._ids = {
            model: IdPool(session, model.__table__, hint)  # type: ignore[arg-type]
            for model, hint in (
                (Thread, size),
                (ConfirmationRequest, size),
                (ConfirmationAnswer, 4 * size),
                (ActionItemRecord, max(1, sum(len(p.action_items) for _, p in mails))),
            )
        }
        self._outbox: list[dict[str, Any]] = []
        # rows added and not written yet, in the order they must be written
        self._new_threads: list[Thread] = []
        self._new_requests: list[ConfirmationRequest] = []
        self._new_lines: list[ConfirmationAnswer] = []
        self._new_items: list[ActionItemRecord] = []
        self._assigned: list[tuple[int, int, str]] = []  # message, thread, subject key

    def _load(self, found: Iterable[Thread], stored: bool = True) -> None:
        """Keep ``found`` threads in memory, with their participants when ``stored``.

        Their ledger lines, open items and confirmations load when first asked for
        (``_history``): a mail considers many threads by subject but joins one."""
        fresh = [t for t in found if t.id not in self._threads]
        for thread in fresh:
            self._threads[thread.id] = thread
            self._by_key.setdefault(thread.subject_key, []).append(thread)
            self._people[thread.id] = set()
            self._said[thread.id], self._lines[thread.id], self._items[thread.id] = [], [], []
        ids = [t.id for t in fresh]
        if not stored:
            for known in self._known.values():
                known.update((t, None) for t in ids)  # a new thread has no history
        elif ids:
            for tid, address in threads.addresses_in(self.session, ids, self._but):
                self._people[tid].add(address)

    def _history(
        self, kind: str, thread_ids: Iterable[int], people: Iterable[str] | None = None
    ) -> None:
        """Load the ``kind`` of history (``said``: confirmations, ``lines``: ledger lines,
        ``items``: open items) of these threads that is not loaded yet: all of it, or only
        what concerns ``people`` (the lines that ask them, the items they own).

        What this batch added to them is in memory already, and in the database too when a
        merge wrote it early: rows are kept once, by their key."""
        known = self._known[kind]
        ids = {t for t in thread_ids if t in self._threads and (t, None) not in known}
        if people is None:
            who = None
            known.update((t, None) for t in ids)
        else:
            wanted = {(t, a) for t in ids for a in people if (t, a) not in known}
            ids, who = {t for t, _ in wanted}, sorted({a for _, a in wanted})
            known.update((t, a) for t in ids for a in who)  # all these pairs load now
        if ids:
            getattr(self, f"_load_{kind}")(sorted(ids), who)

    def _load_said(self, ids: list[int], _people: list[str] | None) -> None:
        here = {s.message_pk for tid in ids for s in self._said[tid]}
        rows = threads.confirmations_in(
            self.session, ids, self._but, headerless=True, since=self._oldest
        )
        for tid, pk, sender, at, said in rows:
            if pk not in here:
                self._said[tid].append(_Said(pk, sender, at, said["kind"], said.get("text")))
        for tid in ids:
            self._said[tid].sort(key=_said_order)

    def _load_lines(self, ids: list[int], people: list[str] | None) -> None:
        here = {x.answer.id for tid in ids for x in self._lines[tid]}
        for line, tid, request_pk, requested_at in threads.ledger_lines_in(
            self.session, ids, people
        ):
            if line.id not in here:
                self._lines[tid].append(_Line(line, request_pk, requested_at))

    def _load_items(self, ids: list[int], people: list[str] | None) -> None:
        here = {i.id for tid in ids for i in self._items[tid]}
        for item in threads.open_items_in(self.session, ids, people):
            if item.thread_id is not None and item.id not in here:
                self._items[item.thread_id].append(item)

    # ------------------------------------------------------------------ linked messages

    def messages(self, message_ids: Iterable[str]) -> list[Message]:
        """Return the stored messages among ``message_ids``, in that order."""
        found = (self._by_id.get(i) for i in dict.fromkeys(message_ids))
        return [m for m in found if m is not None]

    def answered(self, message_id: str) -> Message | None:
        """Return the message an answer's In-Reply-To names, if it is read: stored before the
        batch, or earlier in it."""
        found = self._by_id.get(message_id)
        return found if found is not None and found.id not in self._unread else None

    def replies_to(self, message_id: str) -> list[Message]:
        """Return the stored messages whose In-Reply-To is ``message_id``."""
        return self._replies.get(message_id, [])

    # ------------------------------------------------------------------ threads

    def thread(self, thread_id: int) -> Thread | None:
        """Return a thread by id, loading it (and what is known of it) when not loaded yet."""
        if thread_id not in self._threads:
            self._load(threads.threads_for(self.session, [thread_id], [], datetime.now(UTC)))
        return self._threads.get(thread_id)

    def thread_by_subject(
        self, subject_key: str, addresses: Iterable[str], since: datetime
    ) -> Thread | None:
        """Return the newest thread with this subject key, active since ``since``, that shares
        a participant with ``addresses``."""
        people = set(addresses)
        if not subject_key or not people:
            return None
        candidates = [
            t
            for t in self._by_key.get(subject_key, [])
            if t.last_message_at >= since and self._people[t.id] & people
        ]
        return max(candidates, key=lambda t: (t.last_message_at, t.id), default=None)

    def new_thread(self, subject_key: str, when: datetime) -> Thread:
        """Add a thread (written by ``finish``)."""
        thread = Thread(
            id=self._ids[Thread].take(),
            subject_key=subject_key,
            started_at=when,
            last_message_at=when,
        )
        self._new_threads.append(thread)
        self._load([thread], stored=False)
        return thread

    def assign(self, message: Message, thread: Thread, subject_key: str) -> None:
        """Put ``message`` in ``thread`` (written by ``finish``, with the batch's others)."""
        # set as if loaded, so the unit of work does not write one UPDATE per message
        set_committed_value(message, "thread_id", thread.id)
        set_committed_value(message, "subject_key", subject_key)
        self._assigned.append((message.id, thread.id, subject_key))

    def merge(self, keep: Thread, gone: Thread) -> None:
        """Move everything of ``gone`` into ``keep``, in the database and here."""
        for kind in self._known:
            self._history(kind, [keep.id, gone.id])
        self._write()  # the batch's rows so far, so the UPDATEs see them
        threads.merge_threads(self.session, keep, gone)
        self._people[keep.id] |= self._people.pop(gone.id, set())
        self._said[keep.id].extend(self._said.pop(gone.id, []))
        self._lines[keep.id].extend(self._lines.pop(gone.id, []))
        self._items[keep.id].extend(self._items.pop(gone.id, []))
        self._by_key[gone.subject_key].remove(self._threads.pop(gone.id))

    def joined(self, message: Message, parsed: ParsedMessage) -> None:
        """Count ``message`` (threaded now) among its thread's participants for the mails
        after it, remembering who was there before it."""
        if message.thread_id is None:
            return
        people = self._people[message.thread_id]
        self._before[message.id] = set(people)
        self._joined.add(message.thread_id)
        sender = [parsed.from_.address] if parsed.from_ else []
        people.update(sender, (a.address for a in (*parsed.to, *parsed.cc, *parsed.reply_to)))

    def participants(self, message: Message) -> set[str]:
        """Return every address on the messages of ``message``'s thread before it."""
        if message.id in self._before:
            return set(self._before[message.id])
        return set(self._people.get(message.thread_id or 0, set()))

    def recall(self, mails: Sequence[tuple[Message, ParsedMessage]]) -> None:
        """Load, a query per kind for them all, what the mails will ask of the threads they
        joined: the ledger lines their confirmations answer, the items their 已完成 closes,
        the earlier answers for ledgers they open (call it once they are threaded)."""
        answers = [
            (m.thread_id, p.from_.address, p.confirmation.kind)
            for m, p in mails
            if p.confirmation and p.from_ and m.thread_id
        ]
        done = [(t, a) for t, a, k in answers if k == DONE]
        self._history("items", {t for t, _ in done}, {a for _, a in done})
        replied = {
            m.id
            for _, p in mails
            if p.confirmation and p.in_reply_to
            for m in self.messages([p.in_reply_to])
        }
        self._answerable({t for t, _, _ in answers}, {a for _, a, _ in answers}, replied)
        # any of them may open a ledger (the rules decide), and answers without In-Reply-To
        # are few: load them for every thread joined
        self._history("said", self._joined)

    def remember(self, message: Message, parsed: ParsedMessage) -> None:
        """Count ``message`` as read, and its confirmation, if it has one, for the ledgers
        opened after it."""
        self._unread.discard(message.id)
        if message.thread_id is None:
            return
        if parsed.confirmation and parsed.from_ and not parsed.automated:
            said = _Said(
                message.id,
                parsed.from_.address,
                _when(message, parsed),
                parsed.confirmation.kind,
                parsed.confirmation.text,
            )
            if parsed.in_reply_to:
                insort(self._replied.setdefault(parsed.in_reply_to, []), said, key=_said_order)
            else:
                insort(self._said[message.thread_id], said, key=_said_order)

    def earlier_confirmations(self, message: Message, since: datetime) -> list[_Said]:
        """Return the confirmations that answer ``message`` and were read before it, oldest
        first: those whose In-Reply-To names it, and those in its thread without one that
        were written at ``since`` or later."""
        said = list(self._replied.get(message.message_id, []))
        if message.thread_id is not None:
            self._history("said", [message.thread_id])
            said += [s for s in self._said.get(message.thread_id, []) if s.at >= since]
        return sorted(said, key=_said_order)

    # ------------------------------------------------------------------ ledgers and items

    def add_request(self, request: ConfirmationRequest, lines: Iterable[dict[str, Any]]) -> None:
        """Add a confirmation request and its ledger lines (written by ``finish``)."""
        request.id = self._ids[ConfirmationRequest].take()
        self._new_requests.append(request)
        for values in lines:
            line = ConfirmationAnswer(
                id=self._ids[ConfirmationAnswer].take(), request_id=request.id, **values
            )
            self._new_lines.append(line)
            if request.thread_id is not None:
                self._lines[request.thread_id].append(
                    _Line(line, request.message_pk, request.requested_at)
                )

    def _answerable(self, thread_ids: set[int], people: set[str], replied: set[int]) -> None:
        """Load the ledger lines answers can fill: for each of these threads and people, the
        line of the newest request that asked them, and those of the requests of ``replied``
        messages. (A weekly thread holds hundreds of older lines nobody answers any more.)"""
        known = self._known["lines"]
        ids = sorted(t for t in thread_ids if t in self._threads and (t, None) not in known)
        if not ids or not people:
            return
        here = {x.answer.id for tid in ids for x in self._lines[tid]}
        rows = threads.answerable_lines(self.session, ids, sorted(people), sorted(replied))
        for line, tid, request_pk, requested_at in rows:
            if line.id not in here:
                self._lines[tid].append(_Line(line, request_pk, requested_at))
        self._newest.update((t, a) for t in ids for a in people)
        self._replied_lines.update(replied)

    def ledger_line(
        self, thread_id: int, address: str, request_message_pk: int | None
    ) -> ConfirmationAnswer | None:
        """Return ``address``'s ledger line for the request of the message answered, or else
        for the newest request in the thread that asked them."""
        loaded = (thread_id, address) in self._newest and (
            request_message_pk is None or request_message_pk in self._replied_lines
        )
        if not loaded:  # not foreseen by ``recall``: every line of theirs in the thread
            self._history("lines", [thread_id], [address])
        lines = [x for x in self._lines.get(thread_id, []) if x.answer.address == address]
        for line in lines:
            if line.request_message_pk == request_message_pk:
                return line.answer
        newest = max(lines, key=lambda x: x.requested_at, default=None)
        return newest.answer if newest else None

    def add_item(self, values: dict[str, Any]) -> None:
        """Add an action item (written by ``finish``)."""
        item = ActionItemRecord(id=self._ids[ActionItemRecord].take(), **values)
        self._new_items.append(item)
        self._items[values["thread_id"]].append(item)

    def open_items_of(self, thread_id: int, owner_email: str) -> list[ActionItemRecord]:
        """Return the open items in a thread whose owner is ``owner_email``, in message order."""
        self._history("items", [thread_id], [owner_email])
        return sorted(
            (
                i
                for i in self._items.get(thread_id, [])
                if i.owner_email == owner_email and i.status == ITEM_OPEN
            ),
            key=lambda i: (i.message_pk, i.position),
        )

    # ------------------------------------------------------------------ writing

    def add_outbox(self, values: dict[str, Any]) -> None:
        """Add an outbox row, unless one with its idempotency key exists (written by
        ``finish``)."""
        self._outbox.append(values)

    def finish(self) -> list[int]:
        """Write what the batch added; return the ids of the new outbox rows."""
        self._write()
        rows, self._outbox = self._outbox, []
        return outbox.add_all_new(self.session, rows)

    def _write(self) -> None:
        """Write the rows added so far: each kind in one go (``insert_objects``), in an order
        the foreign keys accept."""
        session = self.session
        session.flush()  # what changed in rows loaded before
        insert_objects(session, self._new_threads)
        threads.assign_threads(session, self._assigned)
        insert_objects(session, self._new_requests)
        insert_objects(session, self._new_lines)
        insert_objects(session, self._new_items)
        self._new_threads, self._new_requests, self._new_lines, self._new_items = [], [], [], []
        self._assigned = []


def _said_order(said: _Said) -> tuple[datetime, int]:
    return said.at, said.message_pk


def _when(message: Message, parsed: ParsedMessage) -> datetime:
    return parsed.date or message.received_at


def record(
    session: Session,
    message: Message,
    parsed: ParsedMessage,
    ctx: ParseContext,
    *,
    ledger: bool = True,
    batch: Batch | None = None,
) -> None:
    """Store what ``message`` asks and answers; ``message`` must be flushed.

    With ``ledger`` false, the rules decide who must confirm (``decide.apply``) instead of the
    mail's own words. ``batch`` holds what the transaction's mails are understood with (see
    ``Batch``), and they must all be ``place``d in their threads, then ``recall`` called,
    before the first is recorded. Without one, this message is a batch of its own: it is
    threaded here and written before returning.
    """
    own = batch is None
    batch = batch or Batch(session, [(message, parsed)])
    if own:
        place(batch, message, parsed, ctx)
    assert message.thread_id is not None, "place() the batch's mails first"
    thread = batch.thread(message.thread_id)  # merged into another since, maybe
    assert thread is not None
    when = _when(message, parsed)
    if not parsed.automated:  # out-of-office replies and bounces neither assign work nor confirm
        for position, item in enumerate(parsed.action_items, start=1):
            batch.add_item(_item_row(message, thread, position, item, ctx, when))
        if ledger and asks_for_confirmation(parsed):
            asked = [a.address for a in (*parsed.to, *parsed.cc)]
            due = when + CONFIRMATION_WINDOW
            open_ledger(batch, message, parsed, asked, when, due, ctx.own_addresses)
        if parsed.confirmation and parsed.from_:
            _answer(message, parsed, thread, when, batch)
    if own:
        batch.finish()


def place(batch: Batch, message: Message, parsed: ParsedMessage, ctx: ParseContext) -> None:
    """Put ``message`` in its thread: its parent's, one of the same subject and people, or a
    new one; a reply that came first joins it too."""
    thread = _thread_for(message, parsed, _when(message, parsed), ctx, batch)
    batch.assign(message, thread, thread_key(parsed.subject))
    batch.joined(message, parsed)


def _thread_for(
    message: Message,
    parsed: ParsedMessage,
    when: datetime,
    ctx: ParseContext,
    batch: Batch,
) -> Thread:
    parents = batch.messages(i for i in (parsed.in_reply_to, *reversed(parsed.references)) if i)
    thread = next((batch.thread(p.thread_id) for p in parents if p.thread_id), None)
    if thread is None:
        # the shared address is on nearly every mail: it says nothing about who talks to whom
        people = [a for a in _people(parsed) if a not in ctx.own_addresses]
        thread = batch.thread_by_subject(thread_key(parsed.subject), people, when - SUBJECT_WINDOW)
    if thread is None:
        thread = batch.new_thread(thread_key(parsed.subject), when)
    # replies stored before this message (mail arrives out of order) join its thread
    for child in batch.replies_to(message.message_id):
        if child.thread_id and child.thread_id != thread.id:
            gone = batch.thread(child.thread_id)
            if gone is not None:
                batch.merge(thread, gone)
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
        "completed_at": None,
        "completed_by_pk": None,
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
    batch: Batch,
    message: Message,
    parsed: ParsedMessage,
    addresses: Sequence[str],
    requested_at: datetime,
    due_at: datetime | None,
    own: frozenset[str] = frozenset(),
) -> None:
    """Ask ``addresses`` (never the sender, never ``own`` shared addresses) to confirm it."""
    request = ConfirmationRequest(
        message_pk=message.id,
        thread_id=message.thread_id,
        requested_at=requested_at,
        due_at=due_at,
    )
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
            "address": address,
            "name": name,
            "role": role,
            "status": ANSWER_PENDING,
            "answered_at": None,
            "answer_message_pk": None,
            "answer_text": None,
        }
    _earlier_answers(batch, lines, message, requested_at)
    batch.add_request(request, lines.values())


def _earlier_answers(
    batch: Batch, lines: dict[str, dict[str, Any]], message: Message, requested_at: datetime
) -> None:
    """Record answers that arrived before the mail they answer (mail is not always in order).

    An answer counts when it replies to this mail, or replies to nothing and was written after
    it: in a long thread, last week's 已阅 does not confirm this week's minutes."""
    for said in batch.earlier_confirmations(message, requested_at):
        line = lines.get(said.sender)
        if said.message_pk == message.id or line is None:
            continue
        line["status"], line["answered_at"] = said.kind, said.at
        line["answer_message_pk"], line["answer_text"] = said.message_pk, said.text


def _answer(
    message: Message, parsed: ParsedMessage, thread: Thread, when: datetime, batch: Batch
) -> None:
    assert parsed.confirmation is not None and parsed.from_ is not None
    sender = parsed.from_.address
    replied = batch.answered(parsed.in_reply_to) if parsed.in_reply_to else None
    # an answer to mail not read yet waits for it (``_earlier_answers``), rather than filling
    # the line of an older request of the thread, last week's minutes say
    waits = parsed.in_reply_to is not None and replied is None
    line = None if waits else batch.ledger_line(thread.id, sender, replied.id if replied else None)
    if line is not None:
        line.status, line.answered_at = parsed.confirmation.kind, when
        line.answer_message_pk, line.answer_text = message.id, parsed.confirmation.text
    if parsed.confirmation.kind == DONE:
        candidates = batch.open_items_of(thread.id, sender)
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
