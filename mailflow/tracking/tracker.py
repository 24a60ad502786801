"""A batch of stored mail, understood mail by mail against snapshots of what came before.

The order is fixed and each step says what it needs: ``assign_thread`` puts every mail in its
thread, then ``wanted`` names the history those threads must supply and ``learn`` takes it,
then each mail in turn is ``record``ed (its items, the ledger its own words ask for, its
answer), decided about by the caller (``open_ledger``, ``plan``), and ``mark_read``: from then
on it counts as read.
``changes`` is the one value that comes out. Keys for new rows come from ``keys``.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from mailflow.mail.items import settle_owner
from mailflow.mail.model import DONE, ActionItem, ParseContext
from mailflow.mail.requests import asks_for_confirmation
from mailflow.mail.subject import thread_key
from mailflow.tracking import rules
from mailflow.tracking.model import (
    ITEM_DONE,
    ITEM_OPEN,
    Answer,
    Arrival,
    Changes,
    Closure,
    History,
    KnownMail,
    NewLine,
    NewRequest,
    Said,
    Snapshot,
    ThreadState,
    Wanted,
)

Keys = Callable[[str], int]  # table kind ("thread", "request", "line", "item") -> a new key


@dataclass
class _Thread:
    id: int
    subject_key: str
    started_at: datetime
    last_message_at: datetime
    stored: bool

    def __post_init__(self) -> None:
        self.stored_times = (self.started_at, self.last_message_at)


@dataclass
class _Line:
    id: int
    address: str
    request_message_pk: int
    requested_at: datetime
    answer: Answer
    new: NewLine | None = None  # None: a stored line


@dataclass
class _Item:
    id: int
    position: int
    task: str
    owner_email: str | None
    message_pk: int
    stored: bool
    status: str = ITEM_OPEN
    row: dict[str, Any] = field(default_factory=dict)  # a new item's row, written as is


class Tracker:
    """The after-store rules applied to one batch (see the module)."""

    def __init__(self, snapshot: Snapshot, arrivals: Sequence[Arrival], keys: Keys) -> None:
        self._keys = keys
        self._out = Changes()
        self._arrivals = {a.pk: a for a in arrivals}
        self._unread = set(self._arrivals)  # not marked read (``mark_read``) yet
        self._mails: dict[str, KnownMail] = dict(snapshot.known)
        self._thread_of: dict[int, int | None] = {m.pk: m.thread_id for m in self._mails.values()}
        self._replies: dict[str, list[int]] = {}
        for answered, found in snapshot.replies.items():
            for mail in found:
                self._thread_of[mail.pk] = mail.thread_id
                self._replies.setdefault(answered, []).append(mail.pk)
        for a in arrivals:
            self._mails[a.message_id] = KnownMail(a.pk, a.message_id, None, a.parsed.in_reply_to)
            self._thread_of[a.pk] = None
            if a.parsed.in_reply_to:
                self._replies.setdefault(a.parsed.in_reply_to, []).append(a.pk)
        self._replied: dict[str, list[Said]] = {
            k: sorted((s for s in v if s.message_pk not in self._arrivals), key=_order)
            for k, v in snapshot.replied.items()
        }
        self._threads: dict[int, _Thread] = {}
        self._by_key: dict[str, list[_Thread]] = {}
        self._people: dict[int, set[str]] = {}
        self._gone: dict[int, int] = {}  # merged thread -> the thread it went into
        self._stored = {t.id for t in snapshot.threads}
        for t in snapshot.threads:
            self._add_thread(_Thread(t.id, t.subject_key, t.started_at, t.last_message_at, True))
            self._people[t.id] = set(snapshot.people.get(t.id, ()))
        self._before: dict[int, frozenset[str]] = {}  # mail -> its thread's people before it
        self._joined: set[int] = set()
        self._said: dict[int, list[Said]] = {}
        self._lines: dict[int, list[_Line]] = {}
        self._items: dict[int, list[_Item]] = {}

    def _add_thread(self, thread: _Thread) -> None:
        self._threads[thread.id] = thread
        self._by_key.setdefault(thread.subject_key, []).append(thread)
        self._people.setdefault(thread.id, set())

    def arrival(self, pk: int) -> Arrival:
        """Return a mail of the batch by its key."""
        return self._arrivals[pk]

    def thread_of(self, pk: int) -> int | None:
        """Return the thread a mail is in now (following merges)."""
        tid = self._thread_of.get(pk)
        while tid in self._gone:
            tid = self._gone[tid]
        return tid

    # ------------------------------------------------------------------ threading

    def assign_thread(self, mail: Arrival, own: frozenset[str]) -> int:
        """Put ``mail`` in its thread: its parent's, the newest of the same subject and people,
        or a new one; replies stored before it (mail arrives out of order) join it too."""
        parsed, when, key = mail.parsed, mail.when, thread_key(mail.parsed.subject)
        thread = self._parents_thread((parsed.in_reply_to, *reversed(parsed.references)))
        if thread is None:
            people = rules.correspondents(parsed, own)
            since = when - rules.SUBJECT_WINDOW
            if key:
                thread = rules.subject_match(self._by_key.get(key, []), self._people, people, since)
        if thread is None:
            thread = _Thread(self._keys("thread"), key, when, when, stored=False)
            self._add_thread(thread)
        for child in sorted(self._replies.get(mail.message_id, [])):
            found = self.thread_of(child)
            if found is not None and found != thread.id and found in self._threads:
                self._merge(thread, self._threads[found])
        thread.last_message_at = max(thread.last_message_at, when)
        thread.started_at = min(thread.started_at, when)
        self._thread_of[mail.pk] = thread.id
        self._joined.add(thread.id)
        present = self._people[thread.id]
        self._before[mail.pk] = frozenset(present)
        sender = [parsed.from_.address] if parsed.from_ else []
        present.update(sender, (a.address for a in (*parsed.to, *parsed.cc, *parsed.reply_to)))
        return thread.id

    def _parents_thread(self, ids: Sequence[str | None]) -> _Thread | None:
        for message_id in dict.fromkeys(i for i in ids if i):
            parent = self._mails.get(message_id)
            tid = self.thread_of(parent.pk) if parent else None
            if tid is not None:
                return self._threads.get(tid)
        return None

    def _merge(self, keep: _Thread, gone: _Thread) -> None:
        self._gone[gone.id] = keep.id
        keep.started_at = min(keep.started_at, gone.started_at)
        keep.last_message_at = max(keep.last_message_at, gone.last_message_at)
        self._people[keep.id] |= self._people.pop(gone.id, set())
        self._by_key[gone.subject_key].remove(self._threads.pop(gone.id))
        self._joined.discard(gone.id)
        if gone.stored:
            self._out.merges.append((keep.id, gone.id))

    def participants(self, pk: int) -> frozenset[str]:
        """Return every address on the messages of a placed mail's thread before it."""
        return self._before.get(pk, frozenset())

    # ------------------------------------------------------------------ history

    def wanted(self) -> Wanted:
        """Return the history the placed batch needs, by the threads as stored (a thread merged
        away in this batch is still asked for by its own key)."""
        # only threads stored before the batch have history to load
        stored: dict[int, list[int]] = {t: [] for t in self._joined}
        for tid in [*self._joined, *self._gone]:
            if (keep := self._resolve(tid)) in stored and tid in self._stored:
                stored[keep].append(tid)
        answers = [
            (self.thread_of(a.pk), a.parsed.from_.address, a.parsed.confirmation.kind)
            for a in self._arrivals.values()
            if a.parsed.confirmation and a.parsed.from_
        ]
        done = [(t, who) for t, who, kind in answers if kind == DONE and t is not None]
        replied = {
            m.pk
            for a in self._arrivals.values()
            if a.parsed.confirmation and a.parsed.in_reply_to
            for m in [self._mails.get(a.parsed.in_reply_to)]
            if m is not None
        }
        return Wanted(
            since=min((a.when for a in self._arrivals.values()), default=datetime.now(UTC)),
            said_threads=_spread(stored, self._joined),
            item_threads=_spread(stored, {t for t, _ in done}),
            item_owners=tuple(sorted({who for _, who in done})),
            # an answer reads only its sender's lines in its thread (``_answer``)
            line_pairs=tuple(
                sorted({(s, who) for t, who, _ in answers for s in _spread(stored, {t})})
            ),
            replied=tuple(sorted(replied)),
        )

    def _resolve(self, tid: int) -> int:
        while tid in self._gone:
            tid = self._gone[tid]
        return tid

    def learn(self, history: History) -> None:
        """Take the history ``wanted`` asked for."""
        for tid, said in history.said:
            if said.message_pk not in self._arrivals:
                self._said.setdefault(self._resolve(tid), []).append(said)
        for said_here in self._said.values():
            said_here.sort(key=_order)
        for line in history.lines:
            answer = Answer(line.status)
            self._lines.setdefault(self._resolve(line.thread_id), []).append(
                _Line(line.id, line.address, line.request_message_pk, line.requested_at, answer)
            )
        for item in history.items:
            self._items.setdefault(self._resolve(item.thread_id), []).append(
                _Item(
                    item.id,
                    item.position,
                    item.task,
                    item.owner_email,
                    item.message_pk,
                    stored=True,
                )
            )

    # ------------------------------------------------------------------ per mail

    def record(self, mail: Arrival, ctx: ParseContext, *, ledger: bool, items: bool) -> None:
        """Store what a placed mail asks and answers: its action items (with ``items``), the
        ledger its own words ask for (with ``ledger``; otherwise the rules decide, through
        ``open_ledger``), and the ledger line and items its confirmation fills and closes.
        Automated mail (out-of-office replies, bounces) neither assigns work nor confirms."""
        parsed = mail.parsed
        if parsed.automated:
            return
        if items:
            for position, item in enumerate(parsed.action_items, start=1):
                self._add_item(mail, position, item, ctx)
        if ledger and asks_for_confirmation(parsed):
            asked = [a.address for a in (*parsed.to, *parsed.cc)]
            due = mail.when + rules.CONFIRMATION_WINDOW
            self.open_ledger(mail, asked, mail.when, due, ctx.own_addresses)
        if parsed.confirmation and parsed.from_:
            self._answer(mail)

    def open_ledger(
        self,
        mail: Arrival,
        addresses: Sequence[str],
        requested_at: datetime,
        due_at: datetime | None,
        own: frozenset[str] = frozenset(),
    ) -> NewRequest:
        """Ask ``addresses`` (never the sender, never ``own`` shared addresses) to confirm
        ``mail``; answers read before it that count (``rules.counts_early``) fill their lines."""
        tid = self.thread_of(mail.pk)
        assert tid is not None, "assign_thread() the batch's mails first"
        request = NewRequest(self._keys("request"), mail.pk, tid, requested_at, due_at)
        self._out.requests.append(request)
        lines = {
            address: NewLine(self._keys("line"), request.id, address, name, role)
            for address, (name, role) in rules.asked_lines(mail.parsed, addresses, own).items()
        }
        for said in self._earlier(mail, tid, requested_at):
            if (line := lines.get(said.sender)) is not None and said.message_pk != mail.pk:
                line.answer = Answer.of(said)
        for line in lines.values():
            self._out.lines.append(line)
            self._lines.setdefault(tid, []).append(
                _Line(line.id, line.address, mail.pk, requested_at, line.answer, new=line)
            )
        return request

    def _earlier(self, mail: Arrival, tid: int, since: datetime) -> list[Said]:
        replying = self._replied.get(mail.message_id, [])
        headerless = self._said.get(tid, [])
        said = [s for s in replying if rules.counts_early(True, s.at, since)]
        said += [s for s in headerless if rules.counts_early(False, s.at, since)]
        return sorted(said, key=_order)

    def _answer(self, mail: Arrival) -> None:
        parsed = mail.parsed
        assert parsed.confirmation is not None and parsed.from_ is not None
        sender, tid = parsed.from_.address, self.thread_of(mail.pk)
        assert tid is not None
        said = Said(mail.pk, sender, mail.when, parsed.confirmation.kind, parsed.confirmation.text)
        replied = self._mails.get(parsed.in_reply_to) if parsed.in_reply_to else None
        if replied is not None and replied.pk in self._unread:
            replied = None
        # an answer to mail not read yet waits for it (``open_ledger`` finds it), rather than
        # filling the line of an older request of the thread, last week's minutes say
        if parsed.in_reply_to is None or replied is not None:
            mine = [x for x in self._lines.get(tid, []) if x.address == sender]
            line = rules.line_answered(mine, replied.pk if replied else None)
            if line is not None:
                line.answer = Answer.of(said)
                if line.new is None:
                    self._out.answers[line.id] = line.answer
                else:
                    line.new.answer = line.answer
        if said.kind == DONE:
            self._close(tid, sender, parsed.new_text, mail)

    def _close(self, tid: int, owner: str, text: str, mail: Arrival) -> None:
        candidates = sorted(
            (
                i
                for i in self._items.get(tid, [])
                if i.owner_email == owner and i.status == ITEM_OPEN
            ),
            key=lambda i: (i.message_pk, i.position),
        )
        for item in rules.items_meant(candidates, text):
            item.status = ITEM_DONE
            if item.stored:
                self._out.closed[item.id] = Closure(mail.when, mail.pk)
            else:
                item.row.update(status=ITEM_DONE, completed_at=mail.when, completed_by_pk=mail.pk)

    def _add_item(self, mail: Arrival, position: int, item: ActionItem, ctx: ParseContext) -> None:
        tid = self.thread_of(mail.pk)
        assert tid is not None
        item = settle_owner(item, self.participants(mail.pk))
        row: dict[str, Any] = {
            "id": self._keys("item"),
            "message_pk": mail.pk,
            "thread_id": tid,
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
            "created_at": mail.when,
        }
        self._out.items.append(row)
        self._items.setdefault(tid, []).append(
            _Item(int(row["id"]), position, item.task, item.owner_email, mail.pk, False, row=row)
        )

    def plan(self, row: dict[str, Any]) -> None:
        """Add an outbox row (written unless one with its idempotency key exists)."""
        self._out.outbox.append(row)

    def mark_read(self, mail: Arrival) -> None:
        """Count ``mail`` as read, and its confirmation, for the ledgers opened after it."""
        self._unread.discard(mail.pk)
        parsed, tid = mail.parsed, self.thread_of(mail.pk)
        if tid is None or not parsed.confirmation or not parsed.from_ or parsed.automated:
            return
        said = Said(mail.pk, parsed.from_.address, mail.when, parsed.confirmation.kind,
                    parsed.confirmation.text)  # fmt: skip
        if parsed.in_reply_to:
            insort(self._replied.setdefault(parsed.in_reply_to, []), said, key=_order)
        else:
            insort(self._said.setdefault(tid, []), said, key=_order)

    # ------------------------------------------------------------------ the result

    def changes(self) -> Changes:
        """Return everything the batch changes (call once, after the last mail)."""
        out = self._out
        for thread in self._threads.values():
            if not thread.stored:
                out.threads.append(
                    ThreadState(
                        thread.id, thread.subject_key, thread.started_at, thread.last_message_at
                    )
                )
            elif (times := (thread.started_at, thread.last_message_at)) != thread.stored_times:
                out.thread_times[thread.id] = times
        out.threads.sort(key=lambda t: t.id)
        out.assigned = [
            (pk, tid, thread_key(a.parsed.subject))
            for pk, a in self._arrivals.items()
            if (tid := self.thread_of(pk)) is not None
        ]
        return out


def _order(said: Said) -> tuple[datetime, int]:
    return said.order


def _spread(stored: dict[int, list[int]], threads: set[int | None] | set[int]) -> tuple[int, ...]:
    """Return the keys ``threads`` are stored under: their own, if stored before the batch, and
    those of the stored threads merged into them."""
    return tuple(sorted({s for t in threads if t is not None for s in stored.get(t, [])}))


def due_instant(deadline: date | datetime | None, ctx: ParseContext) -> datetime | None:
    """Return when a deadline passes: its time, or the end of the working day for a bare day."""
    if deadline is None:
        return None
    if isinstance(deadline, datetime):
        return deadline
    return datetime.combine(deadline, ctx.work_end, tzinfo=ctx.timezone)
