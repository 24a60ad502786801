"""Who is on each thread, kept as rows: thread_participants

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 13:00:00

Threading by subject (each ingest batch) and the web view's rights (each page) asked who is on
a thread by reading the addresses of all its messages, a cost that grew with the threads'
length, hence with the mailbox (issue 10 §3). ``thread_participants`` keeps one row per
(thread, address), added when a message joins a thread and moved when threads merge
(``mailflow.store.participants``). This migration fills it from the messages stored, so it
says exactly what their addresses say; on a large database that is one INSERT … SELECT over
``message_addresses``, about as long as reading them once.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "thread_participants",
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_thread_participants_thread_id_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("thread_id", "address", name=op.f("pk_thread_participants")),
    )
    op.execute(
        "INSERT INTO thread_participants (thread_id, address) "
        "SELECT DISTINCT m.thread_id, a.address FROM message_addresses a "
        "JOIN messages m ON m.id = a.message_pk WHERE m.thread_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("thread_participants")
