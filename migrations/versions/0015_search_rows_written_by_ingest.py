"""SQLite: ingest writes the search rows of the mail it stores; the insert trigger fills the rest

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 16:00:00

Revision 0011's insert trigger reads each new message's new text out of its JSON, and SQLite
parses that document twice for it (``json_valid``, then ``json_extract``): the trigger was
0.18 ms of the 0.22 ms a stored mail's row cost to insert, over half of it the JSON
(docs/benchmarks.md). Ingest holds that text already, so ``MessageBatch`` now writes the
``message_search`` rows itself, just before the messages, and the insert trigger fires only
for a message that has no search row yet: a message inserted any other way is indexed as
before. PostgreSQL is left alone (its index is on an expression, computed by the server).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRIGGER = "message_search_insert"
_NEW_TEXT = "CASE WHEN json_valid(new.parsed) THEN json_extract(new.parsed, '$.new_text') END"
_ROW = (
    "INSERT INTO message_search (rowid, subject, new_text) "
    f"VALUES (new.id, coalesce(new.subject, ''), coalesce({_NEW_TEXT}, ''));"
)
_UNLESS_WRITTEN = "WHEN NOT EXISTS (SELECT 1 FROM message_search WHERE rowid = new.id)"


def upgrade() -> None:
    _replace(f"AFTER INSERT ON messages {_UNLESS_WRITTEN} BEGIN {_ROW} END")


def downgrade() -> None:
    _replace(f"AFTER INSERT ON messages BEGIN {_ROW} END")


def _replace(body: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        return
    op.execute(f"DROP TRIGGER IF EXISTS {_TRIGGER}")
    op.execute(f"CREATE TRIGGER {_TRIGGER} {body}")
