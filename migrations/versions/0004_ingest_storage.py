"""ingest storage: raw mail without PostgreSQL's compression, outbox rows indexed by creation

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 18:00:00

PostgreSQL compresses large values (pglz) before it stores them out of line. Raw mail is
mostly base64 attachments of files that are compressed already (PDF, DOCX, XLSX, images), so
pglz gains almost nothing and costs most of the time an ingest spends writing raw bytes: on
the benchmark mailbox 0.56 s against 0.12 s per 1,000 mails (docs/benchmarks.md). The bytes
are still stored out of line; SQLite has no such compression, so nothing changes there.

The per-recipient rate limit counts the outbox rows of the last hour: ``outbox.created_at``
gets an index so that stays one short range scan however big the outbox grows.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE raw_messages ALTER COLUMN content SET STORAGE EXTERNAL")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_created_at"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE raw_messages ALTER COLUMN content SET STORAGE EXTENDED")
