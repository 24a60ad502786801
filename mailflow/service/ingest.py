"""Ingestion: raw mail from a source becomes stored or quarantined rows, exactly once.

Per batch, in one transaction: parse each mail (a failure quarantines it with its reason and
never stops the batch), insert the ones whose Message-ID is new, thread and decide about them,
advance the folder's checkpoint, check the poller still holds its lease. Only after the commit
is the source told to mark the batch processed (invariant 1), so a crash at any point loses
nothing, and the Message-ID key makes a re-read harmless (invariant 2).

A backlog is a pipeline: worker processes parse the next batch while this one is stored
(``parsing.BatchParser``), the batch's rows go in as multi-row INSERTs, and what its mails link
to, and the threads they may join, are looked up once per batch (``understand``).
docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import ConcurrentWrite, LeaseLost
from mailflow.mail.header import message_ids, normalise_id
from mailflow.mail.message import generated_message_id
from mailflow.mail.model import ParseContext, ParsedMessage, to_contract
from mailflow.rulebook.loader import Rulebook
from mailflow.service import journal, understand
from mailflow.service.parsing import BatchParser, Parsed
from mailflow.sources.base import Checkpoint, FetchedMail, MailSource
from mailflow.store import cursors, messages, service_state
from mailflow.store.db import writing
from mailflow.store.messages import NewMessage
from mailflow.store.models import STATUS_QUARANTINED, STATUS_STORED
from mailflow.store.planner import PlannerStatistics

log = logging.getLogger(__name__)

# A quarantined mail keeps its Message-ID when one can be found without parsing it.
_MESSAGE_ID_HEADER = re.compile(rb"^message-id:[ \t]*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_HEADER_SCAN_BYTES = 65536
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass
class IngestReport:
    """What one pass over a source did."""

    stored: int = 0
    quarantined: int = 0
    duplicates: int = 0
    batches: int = 0
    quarantine_reasons: list[str] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)  # mails decided, to enqueue
    # mails still waiting in the mailbox after the last committed batch (None: more, uncounted)
    mailbox_backlog: int | None = 0

    @property
    def seen(self) -> int:
        return self.stored + self.quarantined + self.duplicates


@dataclass(frozen=True)
class Lease:
    """The poller's claim on a mailbox: who it is, the fencing epoch, how long a renewal lasts.

    Every committed batch renews it, so a long first read of a big mailbox keeps its lease.
    """

    owner: str
    epoch: int
    ttl: timedelta = timedelta(seconds=60)


class DatabaseCursor:
    """A SourceCursor over the database, for one source."""

    def __init__(self, session_factory: sessionmaker[Session], source: str) -> None:
        self._sessions = session_factory
        self._source = source

    def checkpoint(self, folder: str) -> Checkpoint | None:
        with self._sessions() as session:
            point = cursors.checkpoint(session, self._source, folder)
        return Checkpoint(*point) if point else None

    def seen_keys(self, folder: str) -> set[str]:
        with self._sessions() as session:
            return cursors.seen_keys(session, self._source, folder)

    def sync_state(self, folder: str) -> str | None:
        with self._sessions() as session:
            return cursors.sync_state(session, self._source, folder)

    def stores_any(self) -> bool:
        with self._sessions() as session:
            return messages.stores_any(session)

    def known_message_ids(self, message_ids: Iterable[str]) -> set[str]:
        """Return which ids are stored, compared the way the parser normalises them."""
        normal = {original: normalise_id(original) for original in message_ids}
        with self._sessions() as session:
            known = messages.existing_message_ids(session, normal.values())
        return {original for original, n in normal.items() if n in known}


@dataclass(frozen=True)
class _DecisionSetup:
    """What a stored mail is understood and decided with, and the instant decisions are made
    at (None: the wall clock; `run --once` with a simulated time passes one)."""

    ctx: ParseContext
    rulebook: Rulebook | None
    decided_at: datetime | None = None

    def when(self, now: datetime) -> datetime:
        """Return the instant decisions are made at."""
        return self.decided_at or now


@dataclass(frozen=True)
class _Prepared:
    mail: FetchedMail
    new: NewMessage
    parsed: ParsedMessage | None = None  # None when quarantined

    @property
    def message_id(self) -> str:
        return str(self.new.row["message_id"])


@dataclass(frozen=True)
class _Queued:
    """A fetched batch being parsed, and what the mailbox still held when it was fetched."""

    batch: Sequence[FetchedMail]
    parsing: Callable[[], list[Parsed]]
    waiting: int | None


def ingest(
    source: MailSource,
    session_factory: sessionmaker[Session],
    ctx: ParseContext,
    lease: Lease | None = None,
    on_batch: Callable[[IngestReport], None] | None = None,
    rulebook: Rulebook | None = None,
    decided_at: datetime | None = None,
    parse_workers: int | None = None,
) -> IngestReport:
    """Store every mail ``source`` has that is not stored yet; return what was done.

    With a ``rulebook``, each stored mail is also decided about in the same transaction: the
    outbox rows it causes are in ``report.outbox_ids``, for the caller to enqueue after the
    commit. Raises LeaseLost when another poller took the mailbox over mid-way; the batch in hand is
    then rolled back, never half-written.

    Big batches are parsed in up to ``parse_workers`` processes (None: one per CPU) while the
    batch before is stored, so fetching, parsing and storing overlap; each batch is still
    committed, then acknowledged, in order. Each batch's transaction also records how many
    mails the source still had waiting when it yielded that batch (``MailSource.waiting``), so
    `mailflow status` shows a long first read catching up; ``report.mailbox_backlog`` is what
    is left after the pass.
    """
    report = IngestReport()
    cursor = DatabaseCursor(session_factory, source.name)
    mind = _DecisionSetup(ctx, rulebook, decided_at)
    statistics = PlannerStatistics(session_factory)
    with BatchParser(ctx, parse_workers) as parser:
        queued: _Queued | None = None
        for batch in source.fetch(cursor):
            if not batch:
                continue
            pooled = parser.pools(len(batch))
            parsing = _Queued(batch, parser.submit([m.raw for m in batch]), source.waiting())
            if queued is not None:
                _store(source, session_factory, queued, mind, lease, report, on_batch, statistics)
            queued = parsing
            if not pooled:
                # parsed here, so nothing overlaps with it: stored before the next batch is
                # fetched, and two batches of big mail are never held at once
                _store(source, session_factory, queued, mind, lease, report, on_batch, statistics)
                queued = None
                del batch, parsing  # not held while the next batch is read
        if queued is not None:
            _store(source, session_factory, queued, mind, lease, report, on_batch, statistics)
    report.mailbox_backlog = source.waiting()
    return report


def _store(
    source: MailSource,
    session_factory: sessionmaker[Session],
    queued: _Queued,
    mind: _DecisionSetup,
    lease: Lease | None,
    report: IngestReport,
    on_batch: Callable[[IngestReport], None] | None,
    statistics: PlannerStatistics,
) -> None:
    """Commit one parsed batch, then have the source mark it processed (invariant 1); keep
    the planner's statistics up with the growing tables (``store.planner``)."""
    _commit_batch(session_factory, source.name, queued, mind, lease, report)
    source.acknowledge(queued.batch)
    statistics.refresh()
    report.batches += 1
    report.mailbox_backlog = queued.waiting
    if on_batch:
        on_batch(report)


def _commit_batch(
    session_factory: sessionmaker[Session],
    source: str,
    queued: _Queued,
    mind: _DecisionSetup,
    lease: Lease | None,
    report: IngestReport,
) -> None:
    now = datetime.now(UTC)
    batch, parsed = queued.batch, queued.parsing()
    prepared = [
        _prepare(mail, result, source, now) for mail, result in zip(batch, parsed, strict=True)
    ]
    # A second mailbox may store the same Message-ID between our check and our commit: one
    # retry re-checks and finds it. A third failure is a real bug and propagates.
    for attempt in range(2):
        try:
            counts, outbox_ids = _write(session_factory, source, queued, prepared, lease, now, mind)
        except ConcurrentWrite:
            if attempt:
                raise
            log.info("a concurrent writer stored some of this batch; retrying it")
            continue
        report.outbox_ids.extend(outbox_ids)
        journal.tell_stored(
            session_factory,
            source,
            [
                (item.message_id, item.new.row["status"], item.new.row["reason"])
                for item, stored in zip(prepared, counts, strict=True)
                if stored
            ],
            outbox_ids,
        )
        for item, stored in zip(prepared, counts, strict=True):
            if not stored:
                report.duplicates += 1
            elif item.new.row["status"] == STATUS_STORED:
                report.stored += 1
            else:
                report.quarantined += 1
                report.quarantine_reasons.append(item.new.row["reason"] or "")
        return


def _write(
    session_factory: sessionmaker[Session],
    source: str,
    queued: _Queued,
    prepared: list[_Prepared],
    lease: Lease | None,
    now: datetime,
    mind: _DecisionSetup,
) -> tuple[list[bool], list[int]]:
    with writing(session_factory) as session:
        if lease and not cursors.renew_lease(
            session, source, lease.owner, lease.epoch, now, lease.ttl
        ):
            raise LeaseLost(source)
        known = messages.existing_message_ids(session, (p.message_id for p in prepared))
        stored: list[bool] = []
        fresh: list[_Prepared] = []
        for item in prepared:
            new = item.message_id not in known
            stored.append(new)
            if new:
                known.add(item.message_id)
                fresh.append(item)
        rows = messages.MessageBatch(session, [item.new for item in fresh])
        readable = [(rows.stored[i.message_id], i.parsed) for i in fresh if i.parsed is not None]
        outbox_ids = understand.understand(
            session, readable, mind.ctx, mind.rulebook, mind.when(now), rows.insert
        )
        _advance(session, source, queued.batch, now)
        service_state.record_mailbox_backlog(session, source, queued.waiting, now)
    return stored, outbox_ids


def _advance(session: Session, source: str, batch: Sequence[FetchedMail], now: datetime) -> None:
    by_folder: dict[tuple[str, int], int] = {}
    keys: dict[str, list[str]] = {}
    states: dict[str, str] = {}
    for mail in batch:
        if mail.uid is not None and mail.uidvalidity is not None:
            point = (mail.folder, mail.uidvalidity)
            by_folder[point] = max(by_folder.get(point, 0), mail.uid)
        elif mail.sync_state is not None:
            states[mail.folder] = mail.sync_state  # one page: one state
        else:
            keys.setdefault(mail.folder, []).append(mail.key)
    for folder, state in states.items():
        cursors.save_sync_state(session, source, folder, state, now)
    for (folder, uidvalidity), last_uid in by_folder.items():
        cursors.save_checkpoint(session, source, folder, uidvalidity, last_uid, now)
    for folder, folder_keys in keys.items():
        cursors.add_seen_keys(session, source, folder, folder_keys)


def _prepare(mail: FetchedMail, result: Parsed, source: str, now: datetime) -> _Prepared:
    common = {"source": source, "folder": mail.folder, "source_key": mail.key, "received_at": now}
    parsed = result.message
    if parsed is None:
        if result.bug:
            log.error("parser failed on %s %s/%s:\n%s", source, mail.folder, mail.key, result.bug)
        return _quarantined(mail, result.sha256, result.reason or "unreadable", common)
    attachments = [
        {
            "filename": a.filename,
            "content_type": a.content_type,
            "size": a.size,
            "version": a.version,
            "date": a.date,
        }
        for a in parsed.attachments
    ]
    row = _stored_row(parsed, common)
    new = NewMessage(row, mail.raw, result.sha256, attachments, _address_rows(parsed))
    return _Prepared(mail, new, parsed)


def _stored_row(parsed: ParsedMessage, common: dict[str, Any]) -> dict[str, Any]:
    return {
        "message_id": parsed.message_id,
        "status": STATUS_STORED,
        "reason": None,
        "date": parsed.date,
        "subject": parsed.subject.raw,
        "from_name": parsed.from_.name if parsed.from_ else None,
        "from_address": parsed.from_.address if parsed.from_ else None,
        "in_reply_to": parsed.in_reply_to,
        "automated": parsed.automated,
        "automated_reason": parsed.automated_reason,
        "subject_reason": parsed.subject.reason,
        "department": parsed.subject.department,
        "topic": parsed.subject.topic,
        "conforms": parsed.subject.conforms,
        "body_text": parsed.body_text,
        "parsed": to_contract(parsed),
        **common,
    }


def _address_rows(parsed: ParsedMessage) -> list[tuple[str, str, str]]:
    rows = [("from", parsed.from_.name, parsed.from_.address)] if parsed.from_ else []
    for role, group in (("to", parsed.to), ("cc", parsed.cc), ("reply_to", parsed.reply_to)):
        rows.extend((role, a.name, a.address) for a in group)
    return rows


def _quarantined(mail: FetchedMail, sha256: str, reason: str, common: dict[str, Any]) -> _Prepared:
    head = _HEADER_END.split(mail.raw[:_HEADER_SCAN_BYTES], maxsplit=1)[0]
    match = _MESSAGE_ID_HEADER.search(head)
    found = message_ids(match.group(1).decode("ascii", "replace")) if match else []
    message_id = found[0] if found else generated_message_id(mail.raw)
    row = {
        "message_id": message_id,
        "status": STATUS_QUARANTINED,
        "reason": reason,
        "automated": False,
        "conforms": False,
        **common,
    }
    return _Prepared(mail, NewMessage(row, mail.raw, sha256))
