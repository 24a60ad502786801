"""Full-text search over messages' subjects and new text (revision 0011). Never commits.

A query is a few terms; a message matches when every term occurs in its subject or new text,
as a substring, letter case aside: Chinese has no spaces between words, so substrings are what
people mean (合同审批 finds 关于合同审批流程).

- SQLite: the FTS5 table ``message_search`` (``trigram`` tokenizer), kept in step by triggers
  on ``messages``; ingest writes the rows of the mail it stores itself (``index_new``). A term
  of three characters or more is an FTS5 phrase, answered by the index. The trigram index
  cannot answer a shorter term (合同, 张三): such a term is looked for with
  ``instr`` over the FTS table's own copy of subject and new text, a scan of that table only,
  never of the messages with their bodies and JSON. (``LIKE`` on the FTS table is not used:
  SQLite 3.40 counts a two-character Chinese pattern's bytes, hands it to the trigram index,
  and finds nothing.)
- PostgreSQL: ``ILIKE`` on the expression the ``pg_trgm`` GIN index ``ix_message_search_trgm``
  covers. Terms of three characters or more are answered by the index; shorter ones are checked
  on every row the other terms leave (all rows when alone), which is correct, only slower.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from mailflow.store.db import insert_rows
from mailflow.store.models import Message

MAX_TERMS = 8
SHORTEST_INDEXED = 3  # characters: a trigram index answers terms this long or longer
# the SQLite table, its triggers and the PostgreSQL index are not models: schema checks skip them
SEARCH_OBJECT_PREFIXES = ("message_search", "ix_message_search")

_fts = Table(
    "message_search",
    MetaData(),
    Column("rowid", Integer),
    Column("subject", Text),
    Column("new_text", Text),
)
_SEARCH_TABLE = text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'message_search'")
# as revision 0011 indexes it; the planner uses the index only for the very same expression
_PG_EXPRESSION = (
    "(coalesce(messages.subject, '') || ' ' || coalesce(messages.parsed ->> 'new_text', ''))"
)


@dataclass(frozen=True)
class Found:
    """A message that matches: where it is and what to show of it."""

    message_pk: int
    message_id: str
    thread_id: int
    subject: str
    new_text: str
    written_at: datetime


def index_new(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write the search rows of messages about to be inserted (``messages`` column values, keys
    set, ``parsed`` as the contract's dict), on SQLite; call it before inserting them.

    The insert trigger then leaves these messages alone (revision 0015): it would read the new
    text back out of the JSON, which costs SQLite more than the rest of the row. PostgreSQL
    indexes its expression itself, and a database made from the models alone (the rules' dry
    run) has no search table: there is nothing to write then.
    """
    if not rows or session.get_bind().dialect.name == "postgresql":
        return
    if session.scalar(_SEARCH_TABLE) is None:
        return
    insert_rows(
        session,
        _fts,
        [{"rowid": r["id"], "subject": r["subject"] or "", "new_text": _new_text(r)} for r in rows],
    )


def _new_text(row: Mapping[str, Any]) -> str:
    """The new text as the trigger reads it: ``parsed``'s ``new_text``, else empty."""
    parsed = row["parsed"]
    text = parsed.get("new_text") if isinstance(parsed, Mapping) else None
    return text if isinstance(text, str) else ""


def search_terms(query: str) -> list[str]:
    """Return the distinct terms of ``query`` (split at white space), at most ``MAX_TERMS``."""
    return list(dict.fromkeys(query.split()))[:MAX_TERMS]


def is_search_object(name: str | None) -> bool:
    """Whether a table, trigger or index name is the search's (not described by the models)."""
    return bool(name) and str(name).startswith(SEARCH_OBJECT_PREFIXES)


def matching_messages(
    session: Session, terms: Sequence[str], *, limit: int, offset: int = 0
) -> list[Found]:
    """Return messages in a thread whose subject or new text holds every term, the latest
    stored first; ``limit`` of them after skipping ``offset``. No terms, no messages."""
    if not terms:
        return []
    dialect = session.get_bind().dialect.name
    # newest stored first: by key, which the FTS5 table yields in order and PostgreSQL reads
    # backwards from the primary key, so a term most mails hold stops at ``limit`` rows
    # instead of sorting every match (ordering by the Date header would)
    newest = _fts.c.rowid.desc() if dialect != "postgresql" else Message.id.desc()
    query = search_statement(dialect, terms).order_by(newest).limit(limit).offset(offset)
    return [
        Found(row[0], row[1], row[2], row[3] or "", row[4] or "", row[5])
        for row in session.execute(query)
    ]


def search_statement(dialect: str, terms: Sequence[str]) -> Select[Any]:
    """Return the query for messages in a thread matching every term, in ``dialect``."""
    query = _postgresql(terms) if dialect == "postgresql" else _sqlite(terms)
    return query.where(Message.thread_id.is_not(None))


def _sqlite(terms: Sequence[str]) -> Select[Any]:
    query = select(
        Message.id, Message.message_id, Message.thread_id, _fts.c.subject, _fts.c.new_text,
        Message.written_at,
    ).join(Message, Message.id == _fts.c.rowid)  # fmt: skip
    phrases = [t for t in terms if len(t) >= SHORTEST_INDEXED]
    if phrases:
        match = " AND ".join('"' + t.replace('"', '""') + '"' for t in phrases)
        query = query.where(text("message_search MATCH :match").bindparams(match=match))
    for term in (t.lower() for t in terms if len(t) < SHORTEST_INDEXED):
        query = query.where(
            or_(
                func.instr(func.lower(_fts.c.subject), term) > 0,
                func.instr(func.lower(_fts.c.new_text), term) > 0,
            )
        )
    return query


def _postgresql(terms: Sequence[str]) -> Select[Any]:
    searched: ColumnElement[str] = literal_column(_PG_EXPRESSION)
    query = select(
        Message.id, Message.message_id, Message.thread_id, Message.subject,
        Message.parsed["new_text"].as_string(), Message.written_at,
    )  # fmt: skip
    return query.where(and_(*(searched.ilike(f"%{_escaped(t)}%") for t in terms)))


def _escaped(term: str) -> str:
    """``term`` with LIKE's wildcards and its escape character taken literally."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def first_subjects(session: Session, thread_ids: Sequence[int]) -> dict[int, str]:
    """Return each thread's subject: its first message's."""
    first = (
        select(Message.thread_id, func.min(Message.written_at).label("at"))
        .where(Message.thread_id.in_(list(thread_ids)))
        .group_by(Message.thread_id)
        .subquery()
    )
    query = select(Message.thread_id, Message.subject).join(
        first, and_(Message.thread_id == first.c.thread_id, Message.written_at == first.c.at)
    )
    out: dict[int, str] = {}
    for tid, subject in session.execute(query):
        if tid is not None:
            out.setdefault(tid, subject or "")
    return out
