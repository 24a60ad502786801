"""Full-text search over subjects and new text, Chinese as well as English

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 00:40:00

Both dialects index substrings, since Chinese has no spaces between words:

- SQLite: an FTS5 table ``message_search`` with the ``trigram`` tokenizer (SQLite 3.34 or
  later), one row per message (rowid = ``messages.id``) holding the subject and the parsed
  new text. Triggers on ``messages`` keep it in step, so ingest's bulk insert writes it in the
  same statement and transaction. A migration that rebuilds ``messages`` (batch mode) drops
  these triggers and must create them again (``tests/store/test_search.py`` notices).
- PostgreSQL: a ``pg_trgm`` GIN index on the expression searched (subject and new text).
  pg_trgm extracts trigrams from letters and digits as the database's LC_CTYPE classifies
  them: under ``C``/``POSIX`` it drops every Chinese character (searches stay correct, every
  row is then checked by scan); under ``C.UTF-8`` or ``zh_CN.UTF-8`` it indexes them.

Creating the extension needs the right to: since PostgreSQL 13 pg_trgm is a trusted extension,
so the database's owner (or a role with CREATE on it) may; otherwise a superuser runs
``CREATE EXTENSION pg_trgm;`` in mailflow's database once, and then ``mailflow db upgrade``.
The downgrade drops the index and leaves the extension, which others may use.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mailflow.errors import ConfigurationError

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the text a message is found by; the query in mailflow/store/search.py spells it the same
_PG_EXPRESSION = "(coalesce(subject, '') || ' ' || coalesce(parsed ->> 'new_text', ''))"
_PG_INDEX = "ix_message_search_trgm"

_NEW_TEXT = "CASE WHEN json_valid({0}.parsed) THEN json_extract({0}.parsed, '$.new_text') END"
_SQLITE_ROW = (
    "INSERT INTO message_search (rowid, subject, new_text) "
    f"VALUES (new.id, coalesce(new.subject, ''), coalesce({_NEW_TEXT.format('new')}, ''));"
)
_SQLITE_TRIGGERS = {
    "message_search_insert": f"AFTER INSERT ON messages BEGIN {_SQLITE_ROW} END",
    "message_search_update": (
        "AFTER UPDATE OF subject, parsed ON messages BEGIN "
        f"DELETE FROM message_search WHERE rowid = old.id; {_SQLITE_ROW} END"
    ),
    "message_search_delete": (
        "AFTER DELETE ON messages BEGIN DELETE FROM message_search WHERE rowid = old.id; END"
    ),
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {_PG_INDEX}")
        return
    for name in _SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS message_search")


def _upgrade_sqlite() -> None:
    bind = op.get_bind()
    try:
        bind.exec_driver_sql(
            "CREATE VIRTUAL TABLE message_search USING fts5(subject, new_text, tokenize='trigram')"
        )
    except sa.exc.OperationalError as e:
        raise ConfigurationError(
            "search needs SQLite 3.34 or later with FTS5 and its trigram tokenizer; this"
            f" Python's SQLite {sqlite3.sqlite_version} says: {e.orig}"
        ) from e
    op.execute(
        "INSERT INTO message_search (rowid, subject, new_text) SELECT id, coalesce(subject, ''),"
        f" coalesce({_NEW_TEXT.format('messages')}, '') FROM messages"
    )
    for name, body in _SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def _upgrade_postgresql() -> None:
    bind = op.get_bind()
    present = bind.scalar(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"))
    if not present:
        try:
            with bind.begin_nested():  # a refusal must not abort the migration's transaction
                bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except sa.exc.DBAPIError as e:
            role = bind.scalar(sa.text("SELECT current_user"))
            database = bind.scalar(sa.text("SELECT current_database()"))
            raise ConfigurationError(
                f"search needs PostgreSQL's pg_trgm extension, and role {role} may not create"
                f" it ({str(e.orig).strip().splitlines()[0]}). Ask a superuser to run"
                f' `CREATE EXTENSION pg_trgm;` in database "{database}" (Debian: package'
                " postgresql-contrib), then run `mailflow db upgrade` again."
            ) from None
    op.execute(f"CREATE INDEX {_PG_INDEX} ON messages USING gin ({_PG_EXPRESSION} gin_trgm_ops)")
