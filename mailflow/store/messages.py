"""Queries over stored messages. Functions take a Session and never commit."""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, literal_column, select
from sqlalchemy.orm import Session, make_transient_to_detached

from mailflow.store import search
from mailflow.store.db import IdPool, in_chunks, insert_rows
from mailflow.store.models import (
    AttachmentRecord,
    Base,
    Message,
    MessageAddress,
    RawMessage,
)

# raw mail from this size on is written into SQLite in pieces (``_insert_raws``)
STREAMED_RAW_BYTES = 1024 * 1024
BLOB_PIECE = 256 * 1024
# PostgreSQL's binary COPY framing: signature, flags, header extension length; end of data
_PGCOPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_PGCOPY_TRAILER = struct.pack("!h", -1)

# what threading needs of a message; its JSON, body and the rest load only when read


def existing_message_ids(session: Session, message_ids: Iterable[str]) -> set[str]:
    """Return which of ``message_ids`` are stored already."""
    found: set[str] = set()
    for chunk in in_chunks(message_ids):
        found.update(
            session.scalars(select(Message.message_id).where(Message.message_id.in_(chunk)))
        )
    return found


def add_message(
    session: Session,
    *,
    message: Message,
    raw: bytes,
    sha256: str,
    attachments: Sequence[dict[str, Any]] = (),
    addresses: Sequence[tuple[str, str, str]] = (),
) -> Message:
    """Add ``message`` with its raw bytes, attachment metadata and (role, name, address) rows."""
    message.raw = RawMessage(sha256=sha256, size=len(raw), content=raw)
    message.attachments = [AttachmentRecord(**a) for a in attachments]
    message.addresses = [MessageAddress(role=r, name=n, address=a) for r, n, a in addresses]
    session.add(message)
    return message


@dataclass(frozen=True)
class NewMessage:
    """A message to store: its ``messages`` column values, raw bytes and dependent rows."""

    row: dict[str, Any]
    raw: bytes
    sha256: str
    attachments: Sequence[dict[str, Any]] = ()
    addresses: Sequence[tuple[str, str, str]] = ()


def add_messages(session: Session, new: Sequence[NewMessage]) -> dict[str, Message]:
    """Insert ``new`` (Message-IDs not stored yet) with a few multi-row statements; return the
    stored rows by Message-ID, in ``session``. Call it inside a write transaction (``writing``).

    Ingest uses ``MessageBatch`` instead, to write the rows once their threads are known.
    """
    batch = MessageBatch(session, new)
    batch.insert()
    return batch.stored


class MessageBatch:
    """Messages to store (Message-IDs not stored yet), keyed now and inserted later.

    The keys come from ``IdPool``, so the rows go in as multi-row INSERTs and nothing is read
    back: the unit of work would insert them one row per statement here (SQLite cannot return
    ids in row order), and reading them back would decode every message's JSON again. Until
    ``insert``, ``stored`` holds the rows as the session will know them, keys set: ingest threads
    them first and inserts each row with its thread, where an UPDATE afterwards would write
    every row, and each of its indexes (search's trigram index too), a second time on
    PostgreSQL. Use it inside a write transaction (``writing``).
    """

    def __init__(self, session: Session, new: Sequence[NewMessage]) -> None:
        self._session, self._new = session, new
        columns = [c.key for c in Message.__table__.columns if c.key != "id"]
        keys = IdPool(session, _table(Message), len(new))  # asks nothing until a key is taken
        self._rows = [
            {"id": keys.take(), **{c: entry.row.get(c) for c in columns}} for entry in new
        ]
        self.stored: dict[str, Message] = {}
        for row in self._rows:
            message = Message(**row)
            make_transient_to_detached(message)  # as if loaded: these are the stored values
            session.add(message)
            self.stored[message.message_id] = message

    def insert(self, threads: Sequence[tuple[int, int, str]] = ()) -> None:
        """Insert the rows and what depends on them; ``threads`` gives (key, thread id,
        subject key) of the messages threaded meanwhile (``understand``)."""
        by_key = {row["id"]: row for row in self._rows}
        for key, thread, subject_key in threads:
            by_key[key].update(thread_id=thread, subject_key=subject_key)
        if not self._rows:
            return
        search.index_new(self._session, self._rows)  # first: the insert trigger then skips them
        insert_rows(self._session, _table(Message), self._rows)
        raws: list[dict[str, Any]] = []
        attachments: list[dict[str, Any]] = []
        addresses: list[dict[str, Any]] = []
        for entry, row in zip(self._new, self._rows, strict=True):
            pk = row["id"]
            raws.append({"message_pk": pk, "sha256": entry.sha256, "size": len(entry.raw),
                         "content": entry.raw})  # fmt: skip
            attachments.extend({"message_pk": pk, **a} for a in entry.attachments)
            addresses.extend(
                {"message_pk": pk, "role": r, "name": n, "address": a}
                for r, n, a in entry.addresses
            )
        _insert_raws(self._session, raws)
        for model, dependent in ((AttachmentRecord, attachments), (MessageAddress, addresses)):
            insert_rows(self._session, _table(model), dependent)


def _insert_raws(session: Session, raws: list[dict[str, Any]]) -> None:
    """Insert ``raw_messages`` rows; a big mail's bytes go to the database in pieces.

    Passed whole, each driver copies a parameter at least once more: SQLite binds a copy and
    builds the row from it, psycopg's COPY formats the row into a buffer and libpq copies that
    into its output buffer (which it keeps). Mails from ``STREAMED_RAW_BYTES`` on go
    ``BLOB_PIECE`` at a time instead, in the same transaction: on SQLite inserted as
    ``zeroblob(size)`` and written through incremental blob I/O, on PostgreSQL as binary COPY
    rows written piece by piece.
    """
    table = _table(RawMessage)
    big = [row for row in raws if len(row["content"]) >= STREAMED_RAW_BYTES]
    insert_rows(session, table, [row for row in raws if len(row["content"]) < STREAMED_RAW_BYTES])
    if not big:
        return
    if session.get_bind().dialect.name == "postgresql":
        _copy_in_pieces(session, table, big)
        return
    empty = insert(table).values(content=func.zeroblob(bindparam("content_size")))
    session.execute(empty, [{**{k: v for k, v in row.items() if k != "content"},
                             "content_size": len(row["content"])} for row in big])  # fmt: skip
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    for row in big:
        where = table.c.message_pk == row["message_pk"]
        rowid: int = session.execute(
            select(literal_column("rowid")).select_from(table).where(where)
        ).scalar_one()
        content = memoryview(row["content"])
        with driver.blobopen(table.name, "content", rowid) as blob:
            for start in range(0, len(content), BLOB_PIECE):
                blob.write(content[start : start + BLOB_PIECE])


def _copy_in_pieces(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """COPY ``raw_messages`` rows in PostgreSQL's binary format, written by hand so that each
    mail's bytes are sent ``BLOB_PIECE`` at a time (int4, varchar, int8, bytea: the schema
    of migration 0001)."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    target = session.get_bind().dialect.identifier_preparer.format_table(table)
    statement = f"COPY {target} (message_pk, sha256, size, content) FROM STDIN (FORMAT BINARY)"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(_PGCOPY_SIGNATURE)
        for row in rows:
            sha256 = str(row["sha256"]).encode("ascii")
            content = memoryview(row["content"])
            copy.write(
                struct.pack("!hii", 4, 4, row["message_pk"])
                + struct.pack("!i", len(sha256))
                + sha256
                + struct.pack("!iqi", 8, row["size"], len(content))
            )
            for start in range(0, len(content), BLOB_PIECE):
                copy.write(content[start : start + BLOB_PIECE])
        copy.write(_PGCOPY_TRAILER)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def list_messages(
    session: Session, *, status: str | None = None, limit: int | None = None
) -> list[Message]:
    """Return stored messages, newest received first, optionally of one status."""
    query = select(Message).order_by(Message.received_at.desc(), Message.id.desc())
    if status:
        query = query.where(Message.status == status)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def count_by_status(session: Session) -> dict[str, int]:
    """Return how many messages each status has."""
    rows = session.execute(select(Message.status, func.count()).group_by(Message.status))
    return {status: count for status, count in rows}


def raw_bytes(session: Session, message_id: str) -> bytes | None:
    """Return the bytes a message arrived as, or None when no such message is stored."""
    return session.scalar(
        select(RawMessage.content).join(Message).where(Message.message_id == message_id)
    )


def stores_any(session: Session) -> bool:
    """Return whether any message (stored or quarantined) is in the database."""
    return session.scalar(select(Message.id).limit(1)) is not None


def message_with_id(session: Session, message_id: str) -> Message | None:
    """Return the stored message whose Message-ID is ``message_id``, or None."""
    return session.scalar(select(Message).where(Message.message_id == message_id))


def texts_of(session: Session, message_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Return each message's new text (as parsed) and whole body text, "" where missing."""
    out: dict[str, tuple[str, str]] = {}
    for chunk in in_chunks(message_ids):
        query = select(Message.message_id, Message.parsed, Message.body_text).where(
            Message.message_id.in_(chunk)
        )
        for mid, parsed, body in session.execute(query):
            out[mid] = (str((parsed or {}).get("new_text") or ""), body or "")
    return out
