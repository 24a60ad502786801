"""The snapshots a batch of mail is understood with, and the changes it makes.

Snapshots are what the database held before the batch; they never change. ``Changes`` is the
one value the tracker hands back: every row to add and every row to alter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailflow.mail.model import ParsedMessage

# the status of a ledger line nobody has answered yet, and of open and done items
PENDING = "pending"
ITEM_OPEN, ITEM_DONE = "open", "done"


@dataclass(frozen=True)
class Arrival:
    """A mail of the batch: stored (it has its key), not threaded yet."""

    pk: int
    message_id: str
    received_at: datetime
    parsed: ParsedMessage

    @property
    def when(self) -> datetime:
        """When it was written: its Date, else when it was received."""
        return written_at(self.parsed.date, self.received_at)


def written_at(date: datetime | None, received_at: datetime) -> datetime:
    """Return when a mail was written: its Date header, else when it was received."""
    return date or received_at


@dataclass(frozen=True)
class KnownMail:
    """A stored message the batch names (In-Reply-To, References) or that answers one of it."""

    pk: int
    message_id: str
    thread_id: int | None
    in_reply_to: str | None = None


@dataclass(frozen=True)
class ThreadState:
    """A thread as stored."""

    id: int
    subject_key: str
    started_at: datetime
    last_message_at: datetime


@dataclass(frozen=True)
class Said:
    """A confirmation (已阅, 有异议, 已完成…) someone wrote."""

    message_pk: int
    sender: str
    at: datetime
    kind: str
    text: str | None = None

    @property
    def order(self) -> tuple[datetime, int]:
        """Oldest first, then in storing order."""
        return self.at, self.message_pk


@dataclass(frozen=True)
class LedgerLine:
    """A stored ledger line, with the request it belongs to."""

    id: int
    thread_id: int
    address: str
    status: str
    request_message_pk: int
    requested_at: datetime


@dataclass(frozen=True)
class OpenItem:
    """A stored open action item."""

    id: int
    thread_id: int
    owner_email: str | None
    message_pk: int
    position: int
    task: str


@dataclass(frozen=True)
class Snapshot:
    """What a batch is threaded with, loaded before it.

    ``known``: the stored messages its mails name, by Message-ID; ``replies``: stored messages
    answering one of its mails, by the Message-ID they answer; ``replied``: confirmations
    written in answer to one of its mails, likewise; ``threads`` those its mails may join (by
    link or subject), with ``people``, every address on their messages."""

    known: Mapping[str, KnownMail] = field(default_factory=dict)
    replies: Mapping[str, tuple[KnownMail, ...]] = field(default_factory=dict)
    replied: Mapping[str, tuple[Said, ...]] = field(default_factory=dict)
    threads: tuple[ThreadState, ...] = ()
    people: Mapping[int, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Wanted:
    """The history a threaded batch needs: headerless confirmations written since ``since`` in
    ``said_threads``; open items of ``item_owners`` in ``item_threads``; for each (thread,
    address) of ``line_pairs``, the ledger lines the address may answer in the thread (the
    newest request's, and those of the ``replied`` messages' requests)."""

    since: datetime
    said_threads: tuple[int, ...] = ()
    item_threads: tuple[int, ...] = ()
    item_owners: tuple[str, ...] = ()
    line_pairs: tuple[tuple[int, str], ...] = ()
    replied: tuple[int, ...] = ()


@dataclass(frozen=True)
class History:
    """What ``Wanted`` asked for, as stored; ``said`` pairs each confirmation with its thread."""

    said: tuple[tuple[int, Said], ...] = ()
    lines: tuple[LedgerLine, ...] = ()
    items: tuple[OpenItem, ...] = ()


@dataclass
class NewRequest:
    """A confirmation request to add."""

    id: int
    message_pk: int
    thread_id: int
    requested_at: datetime
    due_at: datetime | None


@dataclass
class Answer:
    """What fills a ledger line: an answer, or nothing yet (``PENDING``)."""

    status: str = PENDING
    answered_at: datetime | None = None
    answer_message_pk: int | None = None
    answer_text: str | None = None

    @classmethod
    def of(cls, said: Said) -> Answer:
        """Return the answer a confirmation gives."""
        return cls(said.kind, said.at, said.message_pk, said.text)


@dataclass
class NewLine:
    """A ledger line to add."""

    id: int
    request_id: int
    address: str
    name: str
    role: str
    answer: Answer = field(default_factory=Answer)


@dataclass
class Closure:
    """An item a 已完成 reply reports done."""

    completed_at: datetime
    completed_by_pk: int


@dataclass
class Changes:
    """Everything a batch changes, in the order it can be written: threads, the messages'
    thread assignments, ledgers, items, answers to stored lines, items closed, thread merges
    (``(keep, gone)``: move the stored rows of ``gone`` into ``keep`` and delete it), and the
    outbox rows planned."""

    threads: list[ThreadState] = field(default_factory=list)
    thread_times: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)
    assigned: list[tuple[int, int, str]] = field(default_factory=list)
    requests: list[NewRequest] = field(default_factory=list)
    lines: list[NewLine] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[int, Answer] = field(default_factory=dict)
    closed: dict[int, Closure] = field(default_factory=dict)
    merges: list[tuple[int, int]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
